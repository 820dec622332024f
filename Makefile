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
# Sweep settings (make sweep); empty ones are left to conf/search/<dataset>.yaml.
TRIALS ?=
STORAGE ?=
STUDY ?=
PRUNER ?=
SAMPLER ?=
SEED ?=
# Sweeper processes on this machine sharing the study (make sweep WORKERS=4).
WORKERS ?= 1

# q: single-quote a value for the shell, so spaces or shell characters cannot break or
# inject into a command.
q = '$(subst ','\'',$(1))'
# opt: a quoted `key=value` Hydra override when the value is non-empty.
opt = $(if $(strip $(2)),$(call q,$(1)=$(strip $(2))))
RUN_OVERRIDES = $(call opt,dataset,$(DATASET)) $(call opt,loss,$(LOSS)) $(call opt,model,$(MODEL))
SWEEP_OVERRIDES = $(call opt,search,$(or $(strip $(DATASET)),digits)) \
	$(call opt,loss,$(LOSS)) $(call opt,search/loss,$(LOSS)) $(call opt,model,$(MODEL)) \
	$(call opt,hydra.sweeper.n_trials,$(TRIALS)) $(call opt,hydra.sweeper.storage,$(STORAGE)) \
	$(call opt,hydra.sweeper.study_name,$(STUDY)) $(call opt,hydra/sweeper/pruner,$(PRUNER)) \
	$(call opt,hydra/sweeper/sampler,$(SAMPLER)) $(call opt,seed,$(SEED)) \
	$(call opt,hydra.sweeper.sampler.seed,$(SEED))

.PHONY: help install train sweep evaluate test test-all chaos bench lint clean

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
