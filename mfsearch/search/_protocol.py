"""The protocol between the sweeper and the jobs it launches.

One trial, one job:

1. The sweeper asks Optuna for a trial (enqueued ones first). It stores the trial's
   ``overrides`` user attr and launches the job with the params as Hydra overrides plus the
   trial's identity: ``trial.storage=<url> trial.study_name=<name> trial.trial_id=<id>
   trial.number=<n>``.
2. The job (:func:`mfsearch.search.run_trial`) opens the storage itself, by that identity, so
   it works the same in the sweeper's process (Hydra's basic launcher) and in other processes
   or machines (joblib, submitit, many workers). While it trains it writes:

   - after every epoch, the best value of the optimized metric so far as an intermediate value
     (step = epoch: the trial's value if it stopped there), and asks the study's pruner (built
     from the study's ``pruner`` user attr) whether to stop;
   - the user attrs :data:`RESULT_ATTRS` when training ends, or ``pruned_at_epoch`` before it
     raises :class:`optuna.TrialPruned`, or ``fail_reason`` before it re-raises an error.

   The job never sets the trial's final state.
3. The sweeper alone tells the final state, from the job's return plus what the job wrote
   (:func:`job_outcome`): a finite float returned -> COMPLETE with that value; a pruning signal
   (the exception, or ``pruned_at_epoch`` when a launcher loses the exception's type) -> PRUNED;
   anything else -> FAIL with ``fail_reason``. A job killed before it could report leaves the
   trial RUNNING; with heartbeats (:mod:`mfsearch.search._stale`) any worker fails it once
   its heartbeat is older than the grace period and enqueues a retry (``retry_of``) that
   resumes from the trial's ``last.pt``; without heartbeats the next sweeper fails it.

Many workers (sweeper processes) may share one study: each loops fail-stale -> ask -> launch
-> tell on its own, and stops when the study holds ``n_trials`` finished trials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

# Study user attrs.
STUDY_ATTRS = ("dataset", "loss", "model", "optimized_metric", "direction", "base_config",
               "search_space", "mfsearch_version")
#: Study user attr holding the pruner's config (``_target_`` + arguments) for the jobs.
PRUNER_ATTR = "pruner"
#: Study user attr holding the heartbeat settings (``interval``, ``grace_period``,
#: ``max_retry``) for the jobs; None without heartbeats.
STALE_ATTR = "stale"

# Trial user attrs.
RESULT_ATTRS = ("metrics", "best_epoch", "epochs_run", "duration_s", "checkpoint", "run_dir",
                "seed")
OVERRIDES_ATTR = "overrides"
FAIL_REASON_ATTR = "fail_reason"
PAPER_CONFIG_ATTR = "paper_config"
RETRY_OF_ATTR = "retry_of"
#: Trial user attr: the ``last.pt`` a retry resumed from.
RESUMED_FROM_ATTR = "resumed_from"
#: Trial user attr: ``host:pid`` of the worker (sweeper process) that launched the trial.
WORKER_ATTR = "worker"
PRUNED_AT_ATTR = "pruned_at_epoch"

#: Trials counted against ``n_trials``: every finished trial.
FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass(frozen=True)
class Outcome:
    """The final state the sweeper tells for a trial."""

    state: TrialState
    value: float | None = None
    reason: str | None = None


def describe_error(exc: BaseException) -> str:
    """A one-line ``Type: message`` description of an exception, for ``fail_reason``."""
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__


def job_outcome(succeeded: bool, result: Any, user_attrs: dict[str, Any]) -> Outcome:
    """Decides a trial's final state from its job's result and the attrs the job wrote.

    Args:
        succeeded: Whether the job returned (rather than raised).
        result: The job's return value, or the exception it raised.
        user_attrs: The trial's user attrs as stored now.
    """
    if succeeded:
        try:
            value = float(result)
        except (TypeError, ValueError):
            return Outcome(TrialState.FAIL, reason=f"the job returned {result!r}, not a number")
        if not math.isfinite(value):
            return Outcome(TrialState.FAIL, reason=f"the job returned a non-finite value {value}")
        return Outcome(TrialState.COMPLETE, value)
    if isinstance(result, optuna.TrialPruned) or PRUNED_AT_ATTR in user_attrs:
        return Outcome(TrialState.PRUNED)
    reason = user_attrs.get(FAIL_REASON_ATTR)
    if reason is None:
        reason = (describe_error(result) if isinstance(result, BaseException)
                  else "the job failed without reporting a reason (see its log in run_dir)")
    return Outcome(TrialState.FAIL, reason=str(reason))
