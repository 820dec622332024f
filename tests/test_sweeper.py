"""The mfsearch Hydra sweeper: discovery, real sweeps into tmp_path, bad input, resuming."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import optuna
import pytest
from hydra.core.plugins import Plugins
from hydra.errors import MissingConfigException
from hydra.plugins.sweeper import Sweeper
from omegaconf import OmegaConf
from optuna.trial import TrialState

import mfsearch
from mfsearch.config import ConfigError
from mfsearch.search import (
    FAIL_REASON_ATTR,
    Outcome,
    StorageError,
    StudyMismatchError,
    TrialReporter,
    build_pruner,
    hide_password,
    job_outcome,
    open_storage,
)
from tests.sweep_helpers import compose_with_hydra, load, run_sweep

STUDY = "digits-mf_cwms-small_convnet"


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'studies' / 'test.db'}"


# -- plugin and pieces ---------------------------------------------------------------------
def test_hydra_discovers_the_plugin_and_its_groups():
    names = [f"{c.__module__}.{c.__name__}" for c in Plugins.instance().discover(Sweeper)]
    assert "hydra_plugins.mfsearch_sweeper.mfsearch_sweeper.MfsearchSweeper" in names
    samplers = {"tpe": "TPESampler", "random": "RandomSampler", "cmaes": "CmaEsSampler",
                "qmc": "QMCSampler", "gp": "GPSampler", "grid": "GridSampler"}
    for name, cls in samplers.items():
        cfg = compose_with_hydra(["hydra/sweeper=mfsearch", f"hydra/sweeper/sampler={name}"])
        assert cfg.hydra.sweeper.sampler._target_ == f"optuna.samplers.{cls}"
    pruners = {"median": "MedianPruner", "percentile": "PercentilePruner",
               "successive_halving": "SuccessiveHalvingPruner", "hyperband": "HyperbandPruner",
               "patient": "PatientPruner", "threshold": "ThresholdPruner", "nop": "NopPruner"}
    for name, cls in pruners.items():
        cfg = compose_with_hydra(["hydra/sweeper=mfsearch", f"hydra/sweeper/pruner={name}"])
        assert cfg.hydra.sweeper.pruner._target_ == f"optuna.pruners.{cls}"
        spec = OmegaConf.to_container(cfg.hydra.sweeper.pruner, resolve=True)
        assert type(build_pruner(spec)).__name__ == cls


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_reporter_reports_the_best_value_so_far_and_prunes(direction):
    sign = 1.0 if direction == "maximize" else -1.0
    study = optuna.create_study(direction=direction, pruner=optuna.pruners.ThresholdPruner(
        **({"lower": 0.5} if sign > 0 else {"upper": -0.5}), n_warmup_steps=2))
    trial = study.ask()
    reporter = TrialReporter(trial, "val/map_at_r")
    values = [0.45, 0.7, math.nan, 0.4, 0.6]
    for epoch, value in enumerate(values, start=1):  # never pruned: its best stays 0.7
        reporter.on_epoch_end(epoch, {"val/map_at_r": sign * value, "train/loss": 3.0})
    # Independent reference: a running best over the finite values.
    expected, best = {}, None
    for epoch, value in enumerate(values, start=1):
        if not math.isnan(value):
            best = value if best is None else max(best, value)
            expected[epoch] = sign * best
    frozen = study._storage.get_trial(trial._trial_id)
    assert frozen.intermediate_values == expected == {1: sign * 0.45, 2: sign * 0.7,
                                                      4: sign * 0.7, 5: sign * 0.7}
    bad = TrialReporter(study.ask(), "val/map_at_r")
    bad.on_epoch_end(1, {"val/map_at_r": sign * 0.3})  # warm-up step: not pruned
    with pytest.raises(optuna.TrialPruned):
        bad.on_epoch_end(2, {"val/map_at_r": sign * 0.4})
    assert study._storage.get_trial(bad.trial._trial_id).user_attrs["pruned_at_epoch"] == 2
    # After the run's last epoch the pruner is not asked: the result is kept.
    done = TrialReporter(study.ask(), "val/map_at_r", last_epoch_of_run=2)
    done.on_epoch_end(1, {"val/map_at_r": sign * 0.3})
    done.on_epoch_end(2, {"val/map_at_r": sign * 0.4})
    assert study._storage.get_trial(done.trial._trial_id).intermediate_values == {
        1: sign * 0.3, 2: sign * 0.4}
    with pytest.raises(ValueError, match="last_epoch_of_run"):
        TrialReporter(study.ask(), "val/map_at_r", last_epoch_of_run=0)


@pytest.mark.parametrize("succeeded,result,attrs,expected", [
    (True, 0.5, {}, Outcome(TrialState.COMPLETE, 0.5)),
    (True, math.nan, {}, TrialState.FAIL),
    (True, "x", {}, TrialState.FAIL),
    (False, optuna.TrialPruned("p"), {}, Outcome(TrialState.PRUNED)),
    (False, RuntimeError("lost type"), {"pruned_at_epoch": 2}, Outcome(TrialState.PRUNED)),
    (False, ValueError("bad"), {}, Outcome(TrialState.FAIL, reason="ValueError: bad")),
    (False, ValueError("bad"), {FAIL_REASON_ATTR: "job said"},
     Outcome(TrialState.FAIL, reason="job said")),
])
def test_job_outcome(succeeded, result, attrs, expected):
    outcome = job_outcome(succeeded, result, attrs)
    if isinstance(expected, TrialState):
        assert outcome.state == expected and outcome.reason
    else:
        assert outcome == expected


def test_storage_errors_hide_the_password(tmp_path):
    url = "postgresql://alice:s3cr3t@127.0.0.1:1/studies"
    assert hide_password(url) == "postgresql://alice:***@127.0.0.1:1/studies"
    with pytest.raises(StorageError) as info:
        open_storage(url)
    assert "s3cr3t" not in str(info.value)
    assert "postgresql://alice:***@127.0.0.1:1/studies" in str(info.value)
    with pytest.raises(StorageError, match="not a URL"):
        open_storage("studies/mfsearch.db")
    with pytest.raises(StorageError, match="journal:///"):
        open_storage("journal:studies/x.journal")


# -- bad input: raised before the first trial ------------------------------------------------
@pytest.mark.parametrize("overrides,error,message", [
    (["loss.alhpa=interval(0.001, 0.1)"], ValueError, r"'loss\.alhpa'.*'loss\.alpha'"),
    (["loss.alpha=interval(0.1, 0.01)"], ValueError, "greater than its high bound"),
    (["loss.alpha=tag(log, interval(0, 0.1))"], ValueError, "low bound > 0"),
    (["hydra.sweeper.n_trials=0", "loss.alpha=interval(0.01, 0.1)"], ValueError,
     r"n_trials must be at least 1"),
    (["hydra/sweeper/sampler=bayes"], MissingConfigException, r"tpe"),
    (["hydra/sweeper/pruner=hyperbnd"], MissingConfigException, r"hyperband"),
    (["dataset.split.protocol=test", "loss.alpha=interval(0.01, 0.1)"], ConfigError,
     "never be chosen on the test classes"),
    (["dataset.split.protocol=refit", "loss.alpha=interval(0.01, 0.1)"], ConfigError,
     "never be chosen on the test classes"),
    (["hydra.sweeper.storage=postgresql://bob:hunter2@127.0.0.1:1/db",
      "loss.alpha=interval(0.01, 0.1)"], StorageError, r"bob:\*\*\*@127"),
    (["hydra.sweeper.direction=[maximize,minimize]"], ValueError, "one objective"),
    (["loss.alpha=interval(0.01, 0.1)", "hydra.sweeper.enqueue=[{loss.alpha: 0.5}]"],
     ValueError, r"enqueue\[0\] sets loss.alpha=0.5, outside"),
])
def test_bad_input_fails_before_any_trial(tmp_path, monkeypatch, overrides, error, message):
    storage = _sqlite(tmp_path)
    with pytest.raises(error, match=message) as info:
        run_sweep(tmp_path, monkeypatch, f"hydra.sweeper.storage={storage}", *overrides)
    assert "hunter2" not in str(info.value)
    assert not (tmp_path / "multirun" / "0").exists()  # no job ran


@pytest.mark.parametrize("direction,metric,message", [
    ("minimize", "val/map_at_r", "direction minimize"),
    ("maximize", "val/recall_at_1", "optimizes 'val/recall_at_1'"),
])
def test_existing_study_with_other_direction_or_objective(tmp_path, monkeypatch, direction,
                                                          metric, message):
    storage = _sqlite(tmp_path)
    study = optuna.create_study(storage=open_storage(storage), study_name=STUDY,
                                direction=direction)
    study.set_user_attr("optimized_metric", metric)
    with pytest.raises(StudyMismatchError, match=message):
        run_sweep(tmp_path, monkeypatch, f"hydra.sweeper.storage={storage}",
                  "loss.alpha=interval(0.01, 0.1)")
    assert load(storage, STUDY).trials == []


# -- real sweeps -----------------------------------------------------------------------------
def _check_trial_records(trial: optuna.trial.FrozenTrial, epochs: int) -> None:
    """Compares a COMPLETE trial's records with the run's own metrics.json."""
    attrs = trial.user_attrs
    summary = json.loads((Path(attrs["run_dir"]) / "metrics.json").read_text())
    assert attrs["metrics"] == pytest.approx(summary["metrics"])
    assert attrs["best_epoch"] == summary["best_epoch"]
    assert attrs["epochs_run"] == summary["epochs_run"] == epochs
    assert attrs["checkpoint"] == summary["checkpoint"]
    assert Path(attrs["checkpoint"]).exists()
    assert attrs["seed"] == summary["config"]["seed"]
    assert trial.value == pytest.approx(summary["metrics"]["val/map_at_r"])
    history = {int(h["epoch"]): h["val/map_at_r"] for h in summary["history"]}
    running_best = dict(zip(history, itertools.accumulate(history.values(), max), strict=True))
    assert trial.intermediate_values == pytest.approx(running_best)
    assert trial.value == pytest.approx(history[attrs["best_epoch"]])
    assert attrs["overrides"] == [f"{k}={v!r}" if isinstance(v, float) else f"{k}={v}"
                                  for k, v in sorted(trial.params.items())]
    assert set(summary["config"]["loss"].items()) >= {
        (k.split(".")[1], v) for k, v in trial.params.items() if k.startswith("loss.")}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_end_to_end_sweep(tmp_path, monkeypatch, kind):
    storage = _sqlite(tmp_path) if kind == "sqlite" else \
        f"journal:///{tmp_path / 'studies' / 'test.journal'}"
    run_sweep(tmp_path, monkeypatch, f"hydra.sweeper.storage={storage}",
              "hydra.sweeper.n_trials=3", "hydra/sweeper/sampler=random",
              "hydra.sweeper.sampler.seed=0", "trainer.max_epochs=2", "trainer.patience=2",
              "loss.alpha=tag(log, interval(0.003, 0.03))", "loss.mf_reg=choice(0.0, 0.01)",
              "++hydra.sweeper.paper_config={loss.alpha: 0.01, loss.mf_reg: 0.0}",
              "hydra.sweeper.enqueue=[{loss.alpha: 0.02}]")
    study = load(storage, STUDY)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert trials[0].params == {"loss.alpha": 0.01, "loss.mf_reg": 0.0}
    assert trials[0].user_attrs["paper_config"] is True
    assert trials[1].params["loss.alpha"] == 0.02
    assert "paper_config" not in trials[1].user_attrs
    for trial in trials:
        _check_trial_records(trial, epochs=2)
    attrs = study.user_attrs
    assert attrs["dataset"] == "digits" and attrs["loss"] == "mf_cwms"
    assert attrs["model"] == "small_convnet" and attrs["direction"] == "maximize"
    assert attrs["optimized_metric"] == "val/map_at_r"
    assert attrs["search_space"] == {"loss.alpha": "tag(log, interval(0.003, 0.03))",
                                     "loss.mf_reg": "choice(0.0, 0.01)"}
    assert "alpha" not in attrs["base_config"]["loss"]
    assert attrs["base_config"]["loss"]["beta"] == 80.0
    assert attrs["base_config"]["trainer"]["max_epochs"] == 2
    assert attrs["mfsearch_version"] == mfsearch.__version__
    best = max(trials, key=lambda t: t.value)
    assert study.best_trial.number == best.number


@pytest.mark.slow
def test_aggressive_pruner_prunes_and_the_study_completes(tmp_path, monkeypatch):
    storage = _sqlite(tmp_path)
    # Every trial is below 0.99 after its first epoch; max_failure_rate=0 would stop the
    # sweep at the first FAIL, so this also checks that PRUNED is not a failure.
    run_sweep(tmp_path, monkeypatch, f"hydra.sweeper.storage={storage}",
              "hydra.sweeper.n_trials=2", "hydra/sweeper/pruner=threshold",
              "hydra.sweeper.pruner.lower=0.99", "hydra.sweeper.max_failure_rate=0.0",
              "trainer.max_epochs=3", "loss.alpha=interval(0.005, 0.02)")
    trials = load(storage, STUDY).get_trials()
    assert [t.state for t in trials] == [TrialState.PRUNED] * 2
    for trial in trials:
        assert list(trial.intermediate_values) == [1]
        assert trial.user_attrs["pruned_at_epoch"] == 1
        assert trial.user_attrs["epochs_run"] == 1
        assert FAIL_REASON_ATTR not in trial.user_attrs
        assert trial.value == trial.intermediate_values[1]


def test_failing_trial_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    storage = _sqlite(tmp_path)
    run_sweep(tmp_path, monkeypatch, f"hydra.sweeper.storage={storage}",
              "hydra.sweeper.n_trials=2", "hydra.sweeper.max_failure_rate=0.5",
              "loss.mrg=choice(0.5, 1.5)",
              "hydra.sweeper.enqueue=[{loss.mrg: 1.5}, {loss.mrg: 0.5}]",
              "hydra.sweeper.max_failure_rate=1.0")
    trials = load(storage, STUDY).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert trials[0].params == {"loss.mrg": 1.5}
    assert "loss.mrg=1.5 is invalid" in trials[0].user_attrs[FAIL_REASON_ATTR]
    assert trials[1].params == {"loss.mrg": 0.5} and trials[1].value > 0


def test_max_failure_rate_stops_the_sweep(tmp_path, monkeypatch):
    storage = _sqlite(tmp_path)
    with pytest.raises(RuntimeError, match=r"1 of the 1 trials .*max_failure_rate=0.0.*"
                                           r"loss.mrg=1.5 is invalid"):
        run_sweep(tmp_path, monkeypatch, f"hydra.sweeper.storage={storage}",
                  "hydra.sweeper.n_trials=3", "hydra.sweeper.max_failure_rate=0.0",
                  "loss.mrg=choice(0.5, 1.5)", "hydra.sweeper.enqueue=[{loss.mrg: 1.5}]")
    trials = load(storage, STUDY).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL]


@pytest.mark.slow
def test_interrupted_sweep_tops_up_to_n_trials(tmp_path, monkeypatch):
    import mfsearch.training

    storage = _sqlite(tmp_path)
    # Without heartbeats (one sweeper per study) a RUNNING trial found at start was left by a
    # dead sweep; tests/test_scale.py covers heartbeats and retries.
    args = [f"hydra.sweeper.storage={storage}", "loss.alpha=interval(0.005, 0.02)",
            "hydra.sweeper.n_trials=4", "hydra.sweeper.stale.heartbeat_interval=null",
            "hydra.sweeper.stale.max_retry=0"]
    real = mfsearch.training.run_training
    calls = []

    def interrupted_on_second(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(mfsearch.training, "run_training", interrupted_on_second)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(tmp_path, monkeypatch, *args)
    trials = load(storage, STUDY).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert trials[1].user_attrs[FAIL_REASON_ATTR].startswith("interrupted")
    # A sweeper killed outright leaves its trial RUNNING; the next run must fail it.
    load(storage, STUDY).ask()
    monkeypatch.setattr(mfsearch.training, "run_training", real)
    run_sweep(tmp_path, monkeypatch, *args)
    trials = load(storage, STUDY).get_trials()
    states = [t.state for t in trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL,
                      TrialState.COMPLETE]
    assert "left RUNNING" in trials[2].user_attrs[FAIL_REASON_ATTR]
    # Re-running a finished study adds nothing.
    run_sweep(tmp_path, monkeypatch, *args)
    assert len(load(storage, STUDY).get_trials()) == 4


@pytest.mark.slow
def test_hydra_optuna_sweeper_example_config(tmp_path, monkeypatch):
    """hydra-optuna-sweeper's documented sphere example, its keys mapped onto mfsearch's."""
    experiment = tmp_path / "extra" / "experiment"
    experiment.mkdir(parents=True)
    (experiment / "optuna_example.yaml").write_text("""\
# @package _global_
defaults:
  - override /hydra/sweeper: mfsearch
  - override /hydra/sweeper/sampler: tpe

hydra:
  sweeper:
    sampler:
      seed: 123
    direction: minimize
    study_name: sphere
    storage: null
    n_trials: 20
    n_jobs: 1
    params:
      loss.mrg: range(0.5, 0.9, step=0.1)
      loss.beta: choice(40, 80, 120)
""")
    monkeypatch.chdir(tmp_path)  # storage null: the default sqlite:///studies/mfsearch.db
    run_sweep(tmp_path, monkeypatch, f"hydra.searchpath=[file://{tmp_path / 'extra'}]",
              "experiment=optuna_example", "hydra.sweeper.n_trials=2")
    study = load(f"sqlite:///{tmp_path / 'studies' / 'mfsearch.db'}", "sphere")
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    for trial in trials:
        assert trial.params["loss.beta"] in (40, 80, 120)
        assert round(trial.params["loss.mrg"], 6) in (0.5, 0.6, 0.7, 0.8)
    assert study.user_attrs["search_space"]["loss.beta"] == "choice(40, 80, 120)"


@pytest.mark.slow
def test_sweep_into_postgresql(tmp_path, monkeypatch, postgres_url):
    run_sweep(tmp_path, monkeypatch, f"hydra.sweeper.storage={postgres_url}",
              "hydra.sweeper.study_name=pg", "hydra.sweeper.n_trials=1",
              "loss.alpha=interval(0.005, 0.02)")
    (trial,) = load(postgres_url, "pg").get_trials()
    assert trial.state == TrialState.COMPLETE
    assert trial.value == pytest.approx(trial.user_attrs["metrics"]["val/map_at_r"])
    assert list(trial.intermediate_values) == [1]
