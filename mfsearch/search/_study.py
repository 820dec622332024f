"""The steps of a study, one small function each: open, fail stale trials, ask, tell.

The sweeper plugin strings them together (see :mod:`mfsearch.search._protocol` for what the
jobs do in between); they know nothing about Hydra.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from mfsearch.search._objective import build_pruner
from mfsearch.search._protocol import (
    FAIL_REASON_ATTR,
    FINISHED_STATES,
    OVERRIDES_ATTR,
    PAPER_CONFIG_ATTR,
    PRUNER_ATTR,
    STALE_ATTR,
    WORKER_ATTR,
    Outcome,
)
from mfsearch.search._space import SearchSpace, format_value, param_overrides
from mfsearch.search._stale import quiet_heartbeat_warnings, superseded
from mfsearch.search._storage import Heartbeat, hide_password, open_storage

log = logging.getLogger(__name__)

DIRECTIONS = ("maximize", "minimize")


class StudyMismatchError(ValueError):
    """An existing study was created for another direction or objective."""


@dataclass
class StudySpec:
    """Everything needed to open (or create) a study and seed it.

    Attributes:
        name: Study name.
        storage: Storage URL (resolved, see :func:`resolve_storage_url`).
        direction: ``maximize`` or ``minimize``.
        sampler: The Optuna sampler.
        pruner: The pruner's config (``_target_`` plus arguments), stored for the jobs.
        heartbeat: Heartbeat settings (None: none; one worker per study), stored for the jobs.
        attrs: Study user attrs to record (the study contract).
        enqueue: ``(params, user_attrs)`` of trials to run first, in order.
        allow_space_change: Continue an existing study whose stored search space differs.
        enqueues: Whether this process enqueues ``enqueue`` (skipping trials already there);
            False for workers 1..N-1 of a parallel sweep, so that only worker 0 does.
    """

    name: str
    storage: str
    direction: str = "maximize"
    sampler: optuna.samplers.BaseSampler | None = None
    pruner: dict[str, Any] | None = None
    heartbeat: Heartbeat | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    enqueue: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    allow_space_change: bool = False
    enqueues: bool = True

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"hydra.sweeper.direction must be one of {', '.join(DIRECTIONS)}, "
                             f"but got {self.direction=}")
        if not self.name:
            raise ValueError(f"A study needs a name, but got {self.name=}")


def _check_existing(storage: optuna.storages.BaseStorage, spec: StudySpec) -> None:
    try:
        study_id = storage.get_study_id_from_name(spec.name)
    except KeyError:
        return
    where = f"study {spec.name!r} in {hide_password(spec.storage)}"
    directions = [d.name.lower() for d in storage.get_study_directions(study_id)]
    if directions != [spec.direction]:
        raise StudyMismatchError(
            f"The existing {where} has direction {', '.join(directions)}, but "
            f"hydra.sweeper.direction={spec.direction}. Use another hydra.sweeper.study_name "
            "or the study's direction.")
    attrs = storage.get_study_user_attrs(study_id)
    old, new = attrs.get("optimized_metric"), spec.attrs.get("optimized_metric")
    if old is not None and new is not None and old != new:
        raise StudyMismatchError(
            f"The existing {where} optimizes {old!r}, but optimized_metric={new!r}. Use another "
            "hydra.sweeper.study_name or optimized_metric.")
    changes = space_changes(attrs.get("search_space"), spec.attrs.get("search_space"))
    if changes and not spec.allow_space_change:
        raise StudyMismatchError(
            f"The existing {where} was searched over another space:\n  " + "\n  ".join(changes)
            + "\nUse another hydra.sweeper.study_name, the study's space, or set "
            "hydra.sweeper.allow_space_change=true to continue it with the new space.")
    if changes:
        log.warning("continuing %s with a changed search space: %s", where, "; ".join(changes))


def space_changes(old: Mapping[str, str] | None, new: Mapping[str, str] | None) -> list[str]:
    """Differences between a stored and a configured search space, one line each."""
    if old is None or new is None:
        return []
    lines = [f"{k}: stored {old[k]!r}, configured {new[k]!r}"
             for k in sorted(set(old) & set(new)) if old[k] != new[k]]
    lines += [f"{k}: stored {old[k]!r}, not configured" for k in sorted(set(old) - set(new))]
    lines += [f"{k}: configured {new[k]!r}, not stored" for k in sorted(set(new) - set(old))]
    return lines


def open_study(spec: StudySpec) -> optuna.Study:
    """Opens the study (creating it if needed), records its attrs and enqueues first trials.

    Raises:
        StorageError: The storage cannot be opened.
        StudyMismatchError: The study exists with another direction or objective.
    """
    storage = open_storage(spec.storage, spec.heartbeat)
    _check_existing(storage, spec)
    kwargs: dict[str, Any] = {"storage": storage, "sampler": spec.sampler,
                              "pruner": build_pruner(spec.pruner), "study_name": spec.name,
                              "direction": StudyDirection[spec.direction.upper()]}
    try:  # one of many parallel workers creates the study; the others load it
        study = optuna.create_study(**kwargs)
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(**{k: v for k, v in kwargs.items() if k != "direction"})
    stale = None if spec.heartbeat is None else dataclasses.asdict(spec.heartbeat)
    for key, value in {**spec.attrs, PRUNER_ATTR: spec.pruner, STALE_ATTR: stale}.items():
        study.set_user_attr(key, value)
    if spec.enqueues:
        for params, user_attrs in spec.enqueue:
            study.enqueue_trial(params, user_attrs=user_attrs, skip_if_exists=True)
    return study


def count_finished(study: optuna.Study) -> int:
    """Trials that count against ``n_trials``: COMPLETE, PRUNED and FAIL, less the FAIL trials
    that have a retry (the retry counts instead)."""
    trials = study.get_trials(deepcopy=False)
    replaced = superseded(trials)
    return sum(t.state in FINISHED_STATES and t.number not in replaced for t in trials)


def count_states(study: optuna.Study, *states: TrialState) -> int:
    """How many trials of the study are in one of ``states``."""
    return len(study.get_trials(deepcopy=False, states=states))


def ask_next(study: optuna.Study, space: SearchSpace,
             custom: Callable[[Any, optuna.Trial], Any] | None = None,
             config: Any = None) -> optuna.Trial:
    """Asks for the next trial (enqueued ones first) and suggests every searched param.

    Args:
        study: The study.
        space: The parsed search space.
        custom: A ``custom_search_space`` function ``(config, trial)`` that suggests more.
        config: The composed config handed to ``custom``.
    """
    with quiet_heartbeat_warnings():
        trial = study.ask(fixed_distributions=space.distributions)
    if custom is not None:
        custom(config, trial)
    return trial


def trial_overrides(trial: optuna.Trial, storage: str, study_name: str,
                    fixed: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """Returns ``(params, job)`` overrides: the trial's params, and everything the job gets.

    The job's overrides are the fixed ones, the params, then the trial's identity.
    """
    params = param_overrides(trial.params)
    identity = [f"trial.storage={format_value(storage)}",
                f"trial.study_name={format_value(study_name)}",
                f"trial.trial_id={trial._trial_id}", f"trial.number={trial.number}"]
    trial.set_user_attr(OVERRIDES_ATTR, params)
    trial.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{os.getpid()}")
    return params, [*fixed, *params, *identity]


def tell(study: optuna.Study, trial: optuna.Trial | int, outcome: Outcome) -> None:
    """Records a trial's final state (and ``fail_reason`` for FAIL); no-op if finished."""
    number = trial if isinstance(trial, int) else trial.number
    if outcome.state == TrialState.FAIL and outcome.reason:
        trial_id = study._storage.get_trial_id_from_study_id_trial_number(
            study._study_id, number)
        study._storage.set_trial_user_attr(trial_id, FAIL_REASON_ATTR, outcome.reason)
    values = outcome.value if outcome.state == TrialState.COMPLETE else None
    study.tell(number, values, state=outcome.state, skip_if_finished=True)


def enqueue_entries(paper: Mapping[str, Any] | None,
                    extra: Sequence[Mapping[str, Any]] = ()) -> list[tuple[dict, dict]]:
    """``(params, user_attrs)`` for the paper's setting (first, flagged) and the extra ones."""
    entries: list[tuple[dict, dict]] = []
    if paper:
        entries.append((dict(paper), {PAPER_CONFIG_ATTR: True}))
    entries += [(dict(params), {}) for params in extra]
    return entries
