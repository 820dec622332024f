"""Small real Optuna studies that follow the study contract, built for the analysis tests."""

from __future__ import annotations

import math

import optuna
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState

SPACE = {
    "loss.alpha": FloatDistribution(1e-3, 1e-1, log=True),
    "loss.beta": FloatDistribution(10.0, 100.0),
    "optimizer.lr": FloatDistribution(1e-4, 1e-2, log=True),
    "trainer.patience": IntDistribution(1, 5),
}
PAPER = {"loss.alpha": 0.01, "loss.beta": 80.0, "optimizer.lr": 1e-3, "trainer.patience": 4}
BASE_CONFIG = {"dataset": {"name": "digits"}, "seed": 1, "trainer": {"max_epochs": 6}}


def study_attrs(study: optuna.Study, base_config: dict | None = None) -> None:
    """Sets the contract's study user attrs."""
    study.set_user_attr("dataset", "digits")
    study.set_user_attr("loss", "mf_cwms")
    study.set_user_attr("model", "small_convnet")
    study.set_user_attr("optimized_metric", "val/map_at_r")
    study.set_user_attr("direction", "maximize")
    study.set_user_attr("base_config", base_config or BASE_CONFIG)
    study.set_user_attr("search_space", {
        "loss.alpha": "tag(log, interval(1e-3, 1e-1))", "loss.beta": "interval(10, 100)",
        "optimizer.lr": "tag(log, interval(1e-4, 1e-2))", "trainer.patience": "range(1, 6)"})
    study.set_user_attr("mfsearch_version", "0.1.0")


def _score(params: dict, epoch: int) -> float:
    """A smooth synthetic val/map_at_r that depends mostly on alpha and lr."""
    a = -((math.log10(params["loss.alpha"]) + 2.0) ** 2)
    b = -0.6 * ((math.log10(params["optimizer.lr"]) + 2.5) ** 2)
    c = -0.002 * abs(params["loss.beta"] - 60.0)
    return 0.6 + 0.1 * (a + b + c) * (1.0 - 0.5 / epoch) - 0.2 / epoch


def synthetic_study(storage: str | None, name: str, n_trials: int = 24, seed: int = 0) -> optuna.Study:
    """A study with a paper trial, COMPLETE, PRUNED and FAIL trials and all contract attrs.

    The metric is synthetic (no training); storage None keeps the study in memory.
    """
    study = optuna.create_study(
        study_name=name, storage=storage, direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=6),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1))
    study_attrs(study)
    study.enqueue_trial(PAPER, user_attrs={"paper_config": True})
    for number in range(n_trials):
        trial = study.ask(SPACE)
        params = trial.params
        trial.set_user_attr("seed", 1)
        trial.set_user_attr("overrides", [f"{k}={v}" for k, v in params.items()])
        trial.set_user_attr("run_dir", f"studies/runs/{name}/{trial.number}")
        if number % 11 == 5:
            trial.set_user_attr("fail_reason", "non-finite loss at step 3")
            trial.set_user_attr("duration_s", 1.5)
            study.tell(trial, state=TrialState.FAIL)
            continue
        state, best, best_epoch = TrialState.COMPLETE, -math.inf, 1
        for epoch in range(1, 7):
            value = _score(params, epoch)
            trial.report(value, epoch)
            if value > best:
                best, best_epoch = value, epoch
            if trial.should_prune():
                state = TrialState.PRUNED
                break
        trial.set_user_attr("duration_s", 10.0 + epoch)
        trial.set_user_attr("epochs_run", epoch)
        trial.set_user_attr("best_epoch", best_epoch)
        trial.set_user_attr("metrics", {"val/map_at_r": best, "val/recall_at_1": 0.9 + best / 10,
                                        "test/map_at_r": best - 0.1,
                                        "test/recall_at_1": 0.8 + best / 10})
        if state == TrialState.PRUNED:
            study.tell(trial, state=state)
        else:
            study.tell(trial, best)
    return study


#: Shrunk settings of the digits studies: seconds per trial on the CPU.
DIGITS_SHRINK = ["trainer.max_epochs=2", "trainer.patience=2", "trainer.progress=false",
                 "device=cpu", "eval.device=cpu"]
DIGITS_SPACE = {
    "loss.alpha": FloatDistribution(1e-3, 1e-1, log=True),
    "optimizer.lr": FloatDistribution(1e-4, 1e-2, log=True),
}
DIGITS_PAPER = {"loss.alpha": 0.01, "optimizer.lr": 1e-3}


class _Reporter:
    """Reports the optimized metric of each epoch to an Optuna trial (step = epoch)."""

    def __init__(self, trial: optuna.Trial, metric: str) -> None:
        self.trial, self.metric = trial, metric

    def on_epoch_end(self, epoch: int, metrics: dict) -> None:
        self.trial.report(metrics[self.metric], epoch)


def digits_study(storage: str, name: str, runs_dir, params_list: list[dict]) -> optuna.Study:
    """A study of real (shrunk) digits trainings: the paper's setting, then ``params_list``.

    Each trial is trained with ``mfsearch.training.run_training`` from the real config tree
    plus the trial's overrides, and recorded with the study contract's attributes.
    """
    from mfsearch.config import config_to_dict, load_config
    from mfsearch.training import run_training
    from tests.conftest import compose_train

    base = config_to_dict(load_config(compose_train([*DIGITS_SHRINK, "run_dir=unused"])))
    base.pop("run_dir")
    base["trial"] = {"storage": None, "study_name": None, "trial_id": None, "number": None}
    for key in DIGITS_SPACE:  # the contract's base_config holds no searched param
        section, leaf = key.split(".")
        base[section].pop(leaf)
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    study_attrs(study, base)
    study.enqueue_trial(DIGITS_PAPER, user_attrs={"paper_config": True})
    for params in [DIGITS_PAPER, *params_list]:
        if params is not DIGITS_PAPER:
            study.enqueue_trial(params)
        trial = study.ask(DIGITS_SPACE)
        overrides = [f"{k}={v!r}" for k, v in trial.params.items()]
        run_dir = f"{runs_dir}/{name}/{trial.number}"
        config = load_config(compose_train([*DIGITS_SHRINK, *overrides, f"run_dir={run_dir}"]))
        result = run_training(config, callbacks=[_Reporter(trial, config.optimized_metric)])
        for key, value in {
            "metrics": result.metrics, "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run, "duration_s": result.duration_s,
            "checkpoint": result.checkpoint, "run_dir": run_dir, "seed": config.seed,
            "overrides": overrides,
        }.items():
            trial.set_user_attr(key, value)
        study.tell(trial, result.metrics[config.optimized_metric])
    return study
