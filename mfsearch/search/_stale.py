"""Stale and interrupted trials: heartbeats, failing the stale, retrying with the same params.

Built on Optuna's storage-level heartbeats (``RDBStorage(heartbeat_interval=...,
grace_period=..., heartbeat_stale_trial_callback=...)``), which Optuna itself only drives from
``study.optimize``; here the ask/tell workers drive them:

- while a trial runs, both its worker and its job record heartbeats (:func:`heartbeat`): the
  trial stays alive while either lives, and a job waiting in a cluster queue is not stale;
- before asking for a trial, a worker calls :func:`fail_stale` (Optuna's ``fail_stale_trials``
  plus a ``fail_reason``): trials whose last heartbeat is
  older than the grace period become FAIL (``fail_reason`` "stale: ...") and
  :class:`RetryStaleTrial` enqueues a retry with the same params (``retry_of`` user attr), at
  most ``max_retry`` times per original trial;
- a worker stopped by a signal fails its running trial as "interrupted" and enqueues its retry
  the same way (:func:`retry_trial`);
- the retry's job resumes from the retried trial's ``last.pt`` when it is readable
  (:func:`resume_checkpoint`).

Optuna's journal storage has no heartbeats: with it, trials of dead workers stay RUNNING.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import shutil
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import (
    BaseHeartbeat,
    get_heartbeat_thread,
    is_heartbeat_enabled,
)
from optuna.trial import FrozenTrial, TrialState

from mfsearch.search._protocol import (
    FAIL_REASON_ATTR,
    OVERRIDES_ATTR,
    PAPER_CONFIG_ATTR,
    RESUMED_FROM_ATTR,
    RETRY_OF_ATTR,
)
from mfsearch.search._workers import defer_signals

log = logging.getLogger(__name__)


@contextlib.contextmanager
def quiet_heartbeat_warnings() -> Iterator[None]:
    """Hides Optuna's warnings that heartbeats are experimental and meant for optimize()."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
        yield

STALE_REASON = "stale: no heartbeat within the grace period (its worker or job died)"
INTERRUPTED_REASON = "interrupted: the worker was stopped (SIGINT/SIGTERM)"
#: User attrs a retry inherits from the trial it retries; the rest belong to the old run.
_INHERITED = (OVERRIDES_ATTR, PAPER_CONFIG_ATTR)


class RetryStaleTrial(RetryHeartbeatStaleTrialCallback):
    """Optuna's retry callback, recording ``retry_of`` and a ``fail_reason`` on the failed trial.

    The retry (a WAITING trial with the same params) inherits only the ``overrides`` and
    ``paper_config`` user attrs, not the results or the failure of the run it replaces.

    Args:
        max_retry: Retries per original trial.
    """

    def __init__(self, max_retry: int) -> None:
        if max_retry < 0:
            raise ValueError(f"max_retry must be >= 0, but got {max_retry=}")
        super().__init__(max_retry=max_retry)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Enqueues the retry (within ``max_retry``)."""
        trial = copy.copy(trial)
        trial.user_attrs = {**{k: v for k, v in trial.user_attrs.items() if k in _INHERITED},
                            RETRY_OF_ATTR: trial.number}
        super().__call__(study, trial)


def heartbeat_enabled(study: optuna.Study) -> bool:
    """Whether the study's storage records heartbeats (RDB storages opened with them)."""
    return is_heartbeat_enabled(study._storage)


def retry_trial(study: optuna.Study, trial_number: int) -> None:
    """Runs the storage's retry callback on a FAIL trial (no-op without heartbeats)."""
    storage = study._storage
    if not is_heartbeat_enabled(storage):
        return
    assert isinstance(storage, BaseHeartbeat)
    callback = storage.get_heartbeat_stale_trial_callback()
    if callback is None:
        return
    trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, trial_number)
    callback(study, copy.deepcopy(storage.get_trial(trial_id)))


def fail_stale(study: optuna.Study, legacy: bool = False) -> list[int]:
    """Fails stale RUNNING trials and enqueues their retries; returns their numbers.

    Args:
        study: The study (its storage's heartbeat settings decide what is stale).
        legacy: Without heartbeats, fail every RUNNING trial (right for one worker per study,
            where any RUNNING trial at start was left by a dead sweep).
    """
    storage = study._storage
    before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    if is_heartbeat_enabled(storage):
        _fail_stale_with_reason(study)
    elif legacy:
        reason = "interrupted: the trial was left RUNNING by a sweep that stopped"
        for number in sorted(before):
            trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
            storage.set_trial_user_attr(trial_id, FAIL_REASON_ATTR, reason)
            study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
    else:
        return []
    after = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    failed = sorted(before - after)
    if failed:
        log.warning("failed stale trial(s) %s", failed)
    return failed


def _fail_stale_with_reason(study: optuna.Study) -> None:
    """``optuna.storages.fail_stale_trials``, plus ``fail_reason`` recorded while the trial is
    still RUNNING (a finished trial's attrs are read-only)."""
    storage = study._storage
    assert isinstance(storage, BaseHeartbeat)
    with quiet_heartbeat_warnings():
        stale = storage._get_stale_trial_ids(study._study_id)
    failed = []
    for trial_id in stale:
        try:
            storage.set_trial_user_attr(trial_id, FAIL_REASON_ATTR, STALE_REASON)
            if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                failed.append(trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another worker failed it first
    callback = storage.get_heartbeat_stale_trial_callback()
    if callback is None:
        return
    for trial_id in failed:
        callback(study, copy.deepcopy(storage.get_trial(trial_id)))


@contextlib.contextmanager
def heartbeat(storage: optuna.storages.BaseStorage, trial_ids: Sequence[int]) -> Iterator[None]:
    """Records the trials' heartbeats in background threads while the block runs.

    The threads are started and stopped with signals deferred: a Ctrl-C that cut either in
    half would leave a thread running, and the process waiting for it at exit.
    """
    with defer_signals():
        threads = [get_heartbeat_thread(trial_id, storage) for trial_id in trial_ids]
        for thread in threads:
            thread.start()
    try:
        yield
    finally:
        with defer_signals():
            for thread in threads:
                thread.join()


def retried_trial(study: optuna.Study, trial: optuna.Trial | FrozenTrial) -> FrozenTrial | None:
    """The trial that ``trial`` retries (its ``retry_of``), or None."""
    number = trial.user_attrs.get(RETRY_OF_ATTR)
    if number is None:
        return None
    storage = study._storage
    trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, int(number))
    return storage.get_trial(trial_id)


def carry_over(resume_from: Path, run_dir: str | Path) -> None:
    """Copies the crashed run's ``best.pt`` into the retry's run dir (the best epoch may lie
    before the crash, and the resumed run looks for it in its own run dir)."""
    from mfsearch.training import BEST_CHECKPOINT

    best = resume_from.parent / BEST_CHECKPOINT
    target = Path(run_dir) / BEST_CHECKPOINT
    if best.exists() and not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(best, target)


def resume_checkpoint(old: FrozenTrial | None) -> tuple[Path, list[dict[str, float]]] | None:
    """The ``last.pt`` of a retried trial's run and the per-epoch metrics it holds, when it
    exists and can be read.

    The checkpoint's history, not the crashed trial's intermediate values, is the record of
    the epochs it holds: a worker killed between writing ``last.pt`` and reporting that epoch
    leaves the trial one step short.
    """
    from mfsearch.training import LAST_CHECKPOINT
    from mfsearch.training._checkpoint import load_checkpoint

    if old is None or not old.user_attrs.get("run_dir"):
        return None
    path = Path(old.user_attrs["run_dir"]) / LAST_CHECKPOINT
    try:
        history = list(load_checkpoint(path)["history"])
    except Exception as exc:  # missing, truncated or unreadable: start over
        log.info("not resuming from %s: %s", path, type(exc).__name__)
        return None
    return path, history


def superseded(trials: Sequence[FrozenTrial]) -> set[int]:
    """Numbers of FAIL trials that have a retry (they do not count against ``n_trials``)."""
    retried = {t.user_attrs.get(RETRY_OF_ATTR) for t in trials}
    return {t.number for t in trials if t.state == TrialState.FAIL and t.number in retried}


def stale_summary(trials: Sequence[FrozenTrial]) -> dict[str, Any]:
    """Counts of retries and of retries that resumed from a checkpoint."""
    return {"retries": sum(RETRY_OF_ATTR in t.user_attrs for t in trials),
            "resumed": sum(bool(t.user_attrs.get(RESUMED_FROM_ATTR)) for t in trials)}
