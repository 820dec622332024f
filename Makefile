# mfsearch: `make help` lists the targets. Every target that needs the venv installs it first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Run settings; empty ones are left to the config tree's defaults.
DATASET ?=
LOSS ?=
MODEL ?=
ARGS ?=
CKPT ?=
# Sweep settings (make sweep; STORAGE and STUDY below too); empty ones are left to
# conf/search/<dataset>.yaml.
TRIALS ?=
PRUNER ?=
SAMPLER ?=
SEED ?=
# Sweeper processes on this machine sharing the study (make sweep WORKERS=4).
WORKERS ?= 1

# Study settings of the analysis targets (report, dashboard, best, rerun, compare, export).
STORAGE ?= sqlite:///studies/mfsearch.db
STUDY ?=
STUDIES ?=
TRIAL ?=
SEEDS ?= 3
TOP ?= 1
HOST ?= 127.0.0.1
PORT ?= 8080
OUT ?=

# q: single-quote a value for the shell, so spaces or shell characters cannot break or
# inject into a command.
q = '$(subst ','\'',$(1))'
# opt: a quoted `key=value` Hydra override when the value is non-empty.
opt = $(if $(strip $(2)),$(call q,$(1)=$(strip $(2))))
# flag: a `--flag 'value'` pair when the value is non-empty.
flag = $(if $(strip $(2)),$(1) $(call q,$(strip $(2))))
STUDY_ARGS = --storage $(call q,$(STORAGE)) $(call flag,--study,$(STUDY)) $(call flag,--out,$(OUT))
RUN_OVERRIDES = $(call opt,dataset,$(DATASET)) $(call opt,loss,$(LOSS)) $(call opt,model,$(MODEL))
SWEEP_OVERRIDES = $(call opt,search,$(or $(strip $(DATASET)),digits)) \
	$(call opt,loss,$(LOSS)) $(call opt,search/loss,$(LOSS)) $(call opt,model,$(MODEL)) \
	$(call opt,hydra.sweeper.n_trials,$(TRIALS)) $(call opt,hydra.sweeper.storage,$(STORAGE)) \
	$(call opt,hydra.sweeper.study_name,$(STUDY)) $(call opt,hydra/sweeper/pruner,$(PRUNER)) \
	$(call opt,hydra/sweeper/sampler,$(SAMPLER)) $(call opt,seed,$(SEED)) \
	$(call opt,hydra.sweeper.sampler.seed,$(SEED))

.PHONY: help install train sweep evaluate test test-all chaos bench lint clean \
	report dashboard best rerun compare export

help: ## List the targets and their variables
	@echo "usage: make <target> [VAR=value ...]"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install mfsearch with its test extras (seconds if unchanged)

train: install ## Train one model: DATASET=digits LOSS=mf_cwms MODEL=... ARGS="hydra overrides"
	$(PY) -m mfsearch.cli train --extra $(call q,$(ARGS)) $(RUN_OVERRIDES)

sweep: install ## Optuna study (default digits, MF-CWMS, Hyperband, 20 trials): DATASET LOSS MODEL TRIALS STORAGE STUDY PRUNER SAMPLER SEED WORKERS ARGS
	$(PY) -m mfsearch.cli sweep --workers $(call q,$(WORKERS)) --extra $(call q,$(ARGS)) $(SWEEP_OVERRIDES)

evaluate: install ## Test metrics of a checkpoint: CKPT=studies/runs/<run>/best.pt ARGS="device=cpu"
	$(PY) -m mfsearch.cli evaluate --extra $(call q,$(ARGS)) $(call opt,checkpoint,$(CKPT))

report: install ## HTML report of a study -> studies/<study>/report.html: STUDY=name [STORAGE=url]
	$(PY) -m mfsearch.cli report $(STUDY_ARGS)

dashboard: install ## Serve optuna-dashboard on STORAGE: [HOST=127.0.0.1] [PORT=8080]
	$(PY) -m mfsearch.cli dashboard --storage $(call q,$(STORAGE)) --host $(call q,$(HOST)) --port $(call q,$(PORT))

best: install ## Best (or TRIAL=n) trial as a Hydra experiment -> studies/<study>/best.yaml
	$(PY) -m mfsearch.cli best $(STUDY_ARGS) $(call flag,--trial,$(TRIAL))

rerun: install ## Re-train TOP trials and the paper config with SEEDS seeds -> rerun.json/.md
	$(PY) -m mfsearch.cli rerun $(STUDY_ARGS) --seeds $(call q,$(SEEDS)) --top $(call q,$(TOP))

compare: install ## Compare studies: STUDIES="a b c" -> studies/compare/compare.{md,csv,png}
	$(PY) -m mfsearch.cli compare --storage $(call q,$(STORAGE)) $(call flag,--out,$(OUT)) $(call q,$(STUDIES))

export: install ## All trials of a study to CSV -> studies/<study>/trials.csv
	$(PY) -m mfsearch.cli export $(STUDY_ARGS)

test: install ## Quick test suite (no slow tests)
	$(PY) -m pytest -m "not slow" -q

test-all: install ## Every test, the slow end-to-end ones too
	$(PY) -m pytest -q

chaos: install ## Fault drill: 3 workers, one SIGKILLed every few seconds; prints JSON figures
	$(PY) -m pytest -q -s -m slow tests/test_chaos.py

bench: install ## Run the benchmarks in benchmarks/ and write benchmarks/results/*.json
	@set -e; for script in benchmarks/[a-z]*.py; do echo "== $$script"; $(PY) $$script; done

lint: install ## ruff and mypy
	$(VENV)/bin/ruff check mfsearch hydra_plugins tests benchmarks
	$(VENV)/bin/mypy

clean: ## Remove caches (keeps .venv and studies/)
	rm -rf .pytest_cache .mypy_cache .ruff_cache
