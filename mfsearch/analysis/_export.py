"""All trials of a study as one CSV table."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import optuna

from mfsearch.analysis._study import trial_duration

EXPORT_FILE = "trials.csv"


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return "" if value is None else value


def trial_rows(study: optuna.Study) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and one row per trial: identity, state, value, params, metrics, user attrs.

    Params are ``param:<key>``, metrics (from the ``metrics`` user attr) ``metric:<name>``
    and the other user attrs ``attr:<name>`` (mappings and lists as JSON).
    """
    trials = study.get_trials(deepcopy=False)
    params = sorted({k for t in trials for k in t.params})
    metrics = sorted({k for t in trials for k in (t.user_attrs.get("metrics") or {})})
    attrs = sorted({k for t in trials for k in t.user_attrs if k != "metrics"})
    columns = ["number", "state", "value", "datetime_start", "datetime_complete",
               "duration_s", *(f"param:{k}" for k in params), *(f"metric:{k}" for k in metrics),
               *(f"attr:{k}" for k in attrs)]
    rows = []
    for t in trials:
        row: dict[str, Any] = {
            "number": t.number, "state": t.state.name, "value": t.value,
            "datetime_start": t.datetime_start.isoformat() if t.datetime_start else None,
            "datetime_complete": (t.datetime_complete.isoformat()
                                  if t.datetime_complete else None),
            "duration_s": trial_duration(t),
        }
        row.update({f"param:{k}": t.params.get(k) for k in params})
        trial_metrics = t.user_attrs.get("metrics") or {}
        row.update({f"metric:{k}": trial_metrics.get(k) for k in metrics})
        row.update({f"attr:{k}": t.user_attrs.get(k) for k in attrs})
        rows.append({k: _cell(v) for k, v in row.items()})
    return columns, rows


def export_trials(study: optuna.Study, path: str | Path) -> Path:
    """Writes the study's trials to the CSV file ``path``; returns it."""
    columns, rows = trial_rows(study)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return path
