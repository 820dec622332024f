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


def synthetic_study(storage: str, name: str, n_trials: int = 24, seed: int = 0) -> optuna.Study:
    """A study with a paper trial, COMPLETE, PRUNED and FAIL trials and all contract attrs.

    The metric is synthetic (no training), so the study builds in about a second.
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
