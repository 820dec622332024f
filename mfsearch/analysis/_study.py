"""Opening a study by name, with errors that say what exists, and reading its trials."""

from __future__ import annotations

import datetime
import math
from collections import Counter
from collections.abc import Mapping

import optuna
from optuna.trial import FrozenTrial, TrialState

from mfsearch.search import (
    StorageError,
    hide_password,
    resolve_storage_url,
    storage_file,
)
from mfsearch.search import open_storage as open_search_storage

DEFAULT_METRIC = "val/map_at_r"


class AnalysisError(ValueError):
    """Bad input for an analysis command; the message says what is wrong and how to fix it."""


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """Opens an existing study storage; never creates an empty database by accident.

    Opening goes through :func:`mfsearch.search.open_storage` (SQLite busy timeout, journal
    files, hidden passwords); this only adds the check that a file storage already exists.

    Args:
        url: A storage URL such as ``sqlite:///studies/mfsearch.db``.
    """
    try:
        resolved = resolve_storage_url(url)
        path = storage_file(resolved)
        if path is not None and not path.is_file():
            raise AnalysisError(
                f"No study storage at {path} (STORAGE={hide_password(url)}). Run a sweep first "
                "(make sweep) or point STORAGE at the database that holds your studies.")
        return open_search_storage(resolved)
    except StorageError as exc:
        raise AnalysisError(str(exc)) from None


def study_names(storage: optuna.storages.BaseStorage) -> list[str]:
    """Names of the studies in ``storage``, sorted."""
    return sorted(s.study_name for s in storage.get_all_studies())


def load_study(storage_url: str, name: str | None) -> optuna.Study:
    """Loads study ``name``; an unknown or missing name lists the studies that exist.

    Args:
        storage_url: The storage URL.
        name: The study name; may be empty when the storage holds exactly one study.
    """
    storage = open_storage(storage_url)
    names = study_names(storage)
    listing = ", ".join(names) if names else "(none)"
    if not name:
        if len(names) == 1:
            name = names[0]
        else:
            raise AnalysisError(
                f"Set STUDY=<name>. Studies in {storage_url}: {listing}.")
    if name not in names:
        raise AnalysisError(
            f"There is no study {name!r} in {storage_url}. Studies there: {listing}.")
    return optuna.load_study(study_name=name, storage=storage)


def state_counts(study: optuna.Study) -> dict[str, int]:
    """Number of trials in each state (every state listed, zeros included)."""
    counts = Counter(t.state.name for t in study.get_trials(deepcopy=False))
    return {state.name: counts.get(state.name, 0) for state in TrialState}


def completed_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The study's COMPLETE trials; raises :class:`AnalysisError` when there is none."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not trials:
        counts = {k: v for k, v in state_counts(study).items() if v}
        found = ", ".join(f"{v} {k.lower()}" for k, v in counts.items()) or "no trials"
        raise AnalysisError(
            f"Study {study.study_name!r} has no completed trial yet ({found}). Wait for the "
            "sweep to finish a trial, or check the failed ones' fail_reason.")
    return trials


def ranked_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Completed trials, best first (by the study's direction)."""
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    trials = completed_trials(study)
    return sorted(trials, key=lambda t: (sign * float(t.value or 0.0), t.number))


def get_trial(study: optuna.Study, number: int) -> FrozenTrial:
    """Trial ``number`` of the study, or an error giving the valid range."""
    trials = study.get_trials(deepcopy=False)
    for trial in trials:
        if trial.number == number:
            return trial
    raise AnalysisError(
        f"TRIAL={number} is not a trial of study {study.study_name!r}: its trials are numbered "
        f"0..{len(trials) - 1}.")


def best_trial(study: optuna.Study) -> FrozenTrial:
    """The best completed trial (an :class:`AnalysisError` when none completed)."""
    return ranked_trials(study)[0]


def paper_trial(study: optuna.Study) -> FrozenTrial | None:
    """The trial marked ``paper_config`` (the published setting), if the study has one."""
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get("paper_config"):
            return trial
    return None


def optimized_metric(study: optuna.Study) -> str:
    """The metric the study optimizes (study user attr ``optimized_metric``)."""
    return str(study.user_attrs.get("optimized_metric", DEFAULT_METRIC))


def trial_metrics(trial: FrozenTrial, metric: str = DEFAULT_METRIC) -> dict[str, float]:
    """The trial's ``metrics`` user attr (val/* and test/*); its value when that is absent."""
    metrics = trial.user_attrs.get("metrics")
    if isinstance(metrics, Mapping):
        return {str(k): float(v) for k, v in metrics.items()}
    if trial.value is not None:
        return {metric: float(trial.value)}
    return {}


def trial_duration(trial: FrozenTrial) -> float:
    """Seconds the trial trained: ``duration_s``, else its wall time, else 0."""
    value = trial.user_attrs.get("duration_s")
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    if trial.datetime_start is not None:
        end = trial.datetime_complete or datetime.datetime.now()
        return max((end - trial.datetime_start).total_seconds(), 0.0)
    return 0.0


def compute_spent(study: optuna.Study) -> float:
    """Total training seconds of all trials."""
    return sum(trial_duration(t) for t in study.get_trials(deepcopy=False))


def trial_best_epoch(trial: FrozenTrial) -> int | None:
    """The trial's ``best_epoch``, else the step of its best intermediate value."""
    value = trial.user_attrs.get("best_epoch")
    if isinstance(value, int) and value >= 1:
        return value
    steps = {s: v for s, v in trial.intermediate_values.items() if math.isfinite(v)}
    if not steps:
        return None
    return max(steps, key=lambda s: (steps[s], -s))


def format_duration(seconds: float) -> str:
    """``1h 02m 03s`` style."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"
