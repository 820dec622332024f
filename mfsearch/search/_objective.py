"""The job side of a sweep: run one trial, report every epoch, obey the pruner."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna

from mfsearch.config import ConfigError, TrainConfig, TrialConfig
from mfsearch.search._protocol import (
    FAIL_REASON_ATTR,
    PRUNED_AT_ATTR,
    PRUNER_ATTR,
    RESUMED_FROM_ATTR,
    STALE_ATTR,
    describe_error,
)
from mfsearch.search._stale import carry_over, heartbeat, resume_checkpoint, retried_trial
from mfsearch.search._storage import Heartbeat, open_storage
from mfsearch.search._workers import check_stop

log = logging.getLogger(__name__)


class TrialReporter:
    """Trainer callback: reports the optimized metric each epoch and stops pruned trials.

    The value reported at epoch k is the best value of epochs 1..k: what the trial would be
    worth if it stopped after epoch k (it keeps its best epoch's checkpoint, and its objective
    is the best epoch's metric). Pruners thus compare what trials have achieved, not one
    epoch's noisy measurement; each epoch's own value stays in the run's ``metrics.json``.

    The pruner is not asked after the last epoch (``last_epoch_of_run``): the run is done
    then, and stopping it would only throw its result away (Hyperband's top rung falls there).

    Args:
        trial: The running Optuna trial.
        metric: The metric to report, e.g. ``"val/map_at_r"``.
        last_epoch_of_run: The run's final epoch (``trainer.max_epochs``); None: unknown.
    """

    def __init__(self, trial: optuna.Trial, metric: str,
                 last_epoch_of_run: int | None = None) -> None:
        if not metric:
            raise ValueError(f"A reporter needs a metric name, but got {metric=}")
        if last_epoch_of_run is not None and last_epoch_of_run < 1:
            raise ValueError(f"A run's last epoch is >= 1, but got {last_epoch_of_run=}")
        self.trial = trial
        self.metric = metric
        self.last_epoch_of_run = last_epoch_of_run
        self.last_epoch = 0
        self.best: float | None = None
        self._maximize = trial.study.direction == optuna.study.StudyDirection.MAXIMIZE

    def _report(self, epoch: int, metrics: Mapping[str, float]) -> float | None:
        """Reports the best value so far at step ``epoch``; returns this epoch's value."""
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(value):
            return None
        value = float(value)
        if self.best is None or (value > self.best if self._maximize else value < self.best):
            self.best = value
        self.trial.report(self.best, step=epoch)
        return value

    def replay(self, metrics: Mapping[str, float]) -> None:
        """Reports an epoch run before a resume (its ``metrics`` from the checkpoint's
        history) without asking the pruner: that epoch was already judged."""
        self._report(int(metrics["epoch"]), metrics)

    def on_epoch_end(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Reports the metric at step ``epoch``; raises TrialPruned when told to, and
        KeyboardInterrupt when a signal asked the sweep to stop (in case a library swallowed
        the one the signal raised)."""
        check_stop()
        self.last_epoch = epoch
        value = self._report(epoch, metrics)
        final = self.last_epoch_of_run is not None and epoch >= self.last_epoch_of_run
        if value is not None and not final and self.trial.should_prune():
            self.trial.set_user_attr(PRUNED_AT_ATTR, epoch)
            raise optuna.TrialPruned(f"pruned after epoch {epoch} ({self.metric}={value:.4f}, "
                                     f"best so far {self.best:.4f})")


def check_sweepable(config: TrainConfig) -> None:
    """Refuses configs that must not be searched: only the ``val`` protocol selects
    hyperparameters on held-out training classes (``test`` would choose them on the test
    classes, ``refit`` has no validation metric)."""
    protocol = config.dataset.split.protocol
    if protocol != "val":
        raise ConfigError(
            f"dataset.split.protocol={protocol!r} is invalid in a sweep: hyperparameters must "
            "never be chosen on the test classes, and need validation classes to be chosen "
            "on. Use dataset.split.protocol=val (the default).")


def build_pruner(spec: Mapping[str, Any] | None) -> optuna.pruners.BasePruner:
    """Builds a pruner from its config (``_target_`` plus arguments); None means no pruning."""
    if not spec:
        return optuna.pruners.NopPruner()
    from hydra.utils import instantiate

    pruner = instantiate(dict(spec))
    if not isinstance(pruner, optuna.pruners.BasePruner):
        raise ConfigError(f"hydra.sweeper.pruner={dict(spec)!r} is invalid: its _target_ must "
                          f"be an Optuna pruner, but it built a {type(pruner).__name__}.")
    return pruner


def load_trial(identity: TrialConfig) -> optuna.Trial:
    """Opens the running trial named by ``trial.*`` (storage, study name, trial id)."""
    if identity.trial_id is None or identity.study_name is None:
        raise ConfigError(f"trial={identity!r} is incomplete: a trial needs trial.study_name "
                          "and trial.trial_id (the sweeper sets them).")
    storage = open_storage(identity.storage)
    attrs = storage.get_study_user_attrs(storage.get_study_id_from_name(identity.study_name))
    if attrs.get(STALE_ATTR):  # the same storage, recording heartbeats
        storage = open_storage(identity.storage, Heartbeat(**attrs[STALE_ATTR]))
    # The job never samples: a random sampler keeps opening the trial cheap.
    study = optuna.load_study(study_name=identity.study_name, storage=storage,
                              sampler=optuna.samplers.RandomSampler(),
                              pruner=build_pruner(attrs.get(PRUNER_ATTR)))
    frozen = storage.get_trial(identity.trial_id)
    if frozen.state != optuna.trial.TrialState.RUNNING:
        raise ConfigError(f"trial.trial_id={identity.trial_id} is invalid: that trial is "
                          f"{frozen.state.name}, not RUNNING; only the sweeper starts trials.")
    return optuna.Trial(study, identity.trial_id)


def result_attrs(config: TrainConfig, result: Any) -> dict[str, Any]:
    """The user attrs of a finished training run (``result`` is a FitResult)."""
    return {
        "metrics": dict(result.metrics),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "duration_s": result.duration_s,
        "checkpoint": result.checkpoint,
        "run_dir": str(config.run_dir),
        "seed": config.seed,
    }


def run_trial(config: TrainConfig) -> float:
    """Trains the trial named by ``config.trial``, reporting to Optuna; returns the value.

    Raises:
        optuna.TrialPruned: The pruner stopped the run (``pruned_at_epoch`` is recorded).
        Exception: Any failure, after recording ``fail_reason``.
    """
    from mfsearch.training import BEST_CHECKPOINT, run_training

    check_sweepable(config)
    trial = load_trial(config.trial)
    reporter = TrialReporter(trial, config.optimized_metric, config.trainer.max_epochs)
    started = time.perf_counter()
    # A retry of a crashed trial resumes from that trial's last.pt when it is readable.
    old = retried_trial(trial.study, trial)
    resumable = resume_checkpoint(old)  # None without a readable last.pt (or no old trial)
    resume_from = None
    if resumable is not None:
        assert old is not None
        resume_from, history = resumable
        for metrics in history:
            reporter.replay(metrics)
        trial.set_user_attr(RESUMED_FROM_ATTR, str(resume_from))
        carry_over(resume_from, config.run_dir)
        log.info("trial %s retries trial %d from %s", config.trial.number, old.number,
                 resume_from)
    trial.set_user_attr("run_dir", str(config.run_dir))  # found by a retry if this run dies
    try:
        with heartbeat(trial.study._storage, [trial._trial_id]):
            result = run_training(config, callbacks=[reporter], resume_from=resume_from)
    except optuna.TrialPruned:
        best = Path(config.run_dir) / BEST_CHECKPOINT
        partial = {"epochs_run": reporter.last_epoch, "run_dir": str(config.run_dir),
                   "seed": config.seed, "duration_s": time.perf_counter() - started,
                   "checkpoint": str(best) if best.exists() else None}
        for key, value in partial.items():
            trial.set_user_attr(key, value)
        log.info("trial %s pruned after epoch %d", config.trial.number, reporter.last_epoch)
        raise
    except Exception as exc:
        trial.set_user_attr(FAIL_REASON_ATTR, describe_error(exc))
        trial.set_user_attr("run_dir", str(config.run_dir))
        raise
    for key, value in result_attrs(config, result).items():
        trial.set_user_attr(key, value)
    return float(result.metrics[config.optimized_metric])
