"""Side-by-side comparison of studies (e.g. one data set, several losses, equal budgets)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna

from mfsearch.analysis._rerun import PAPER_LABEL, RERUN_JSON
from mfsearch.analysis._study import (
    AnalysisError,
    compute_spent,
    optimized_metric,
    ranked_trials,
    state_counts,
)

COMPARE_FILES = ("compare.md", "compare.csv", "compare.png")
#: Re-run test metrics shown in the comparison.
RERUN_METRICS = ("test/map_at_r", "test/recall_at_1")


def _rerun_cells(path: Path, study: str) -> dict[str, Any]:
    """Columns from a study's ``rerun.json``: the best re-run configuration's test metrics."""
    cells: dict[str, Any] = {}
    if not path.is_file():
        return cells
    data = json.loads(path.read_text())
    if data.get("study") != study:
        raise AnalysisError(f"{path} holds re-runs of study {data.get('study')!r}, not {study!r}.")
    labels = [label for label in data.get("configs", {}) if label != PAPER_LABEL]
    summary, tests = data.get("summary", {}), data.get("tests", {})
    for metric in RERUN_METRICS:
        name = metric.split("/", 1)[1]
        stats = [(summary.get(label, {}).get(metric) or {}, label) for label in labels]
        stats = [(s, label) for s, label in stats if s.get("mean") is not None]
        if stats:
            best, label = max(stats, key=lambda sl: sl[0]["mean"])
            cells[f"rerun_{name}_mean"] = best["mean"]
            cells[f"rerun_{name}_std"] = best["std"]
            cells[f"rerun_{name}_p_vs_paper"] = tests.get(label, {}).get(metric, {}).get("p")
            cells["rerun_config"] = label
        paper = summary.get(PAPER_LABEL, {}).get(metric) or {}
        if paper.get("mean") is not None:
            cells[f"rerun_paper_{name}_mean"] = paper["mean"]
            cells[f"rerun_paper_{name}_std"] = paper["std"]
    return cells


def compare_rows(studies: Sequence[optuna.Study], studies_dir: str | Path = "studies",
                 ) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per study: trials by state, compute, best value, re-run test metrics."""
    rows = []
    for study in studies:
        counts = state_counts(study)
        row: dict[str, Any] = {
            "study": study.study_name,
            "dataset": study.user_attrs.get("dataset"),
            "loss": study.user_attrs.get("loss"),
            "trials": sum(counts.values()),
            "complete": counts["COMPLETE"], "pruned": counts["PRUNED"], "fail": counts["FAIL"],
            "compute_h": compute_spent(study) / 3600.0,
            "metric": optimized_metric(study),
        }
        try:
            best = ranked_trials(study)[0]
            row["best_value"], row["best_trial"] = best.value, best.number
        except AnalysisError:
            row["best_value"], row["best_trial"] = None, None
        row.update(_rerun_cells(Path(studies_dir) / study.study_name / RERUN_JSON,
                                study.study_name))
        rows.append(row)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    return columns, rows


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_markdown(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    """A markdown table of :func:`compare_rows`."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def plot_comparison(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Bars of the best validation value and, where present, re-run test MAP@R ± std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [r["study"] for r in rows]
    x = np.arange(len(rows))
    best = [r.get("best_value") or 0.0 for r in rows]
    rerun = [r.get("rerun_map_at_r_mean") or 0.0 for r in rows]
    err = [r.get("rerun_map_at_r_std") or 0.0 for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(rows)), 4.5))
    ax.bar(x - 0.2, best, 0.4, label=f"best {rows[0]['metric'] if rows else 'value'}")
    ax.bar(x + 0.2, rerun, 0.4, yerr=err, capsize=4, label="re-run test/map_at_r (mean ± std)")
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylabel("metric")
    ax.set_title("Studies compared")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_comparison(studies: Sequence[optuna.Study], out_dir: str | Path,
                     studies_dir: str | Path = "studies") -> list[Path]:
    """Writes ``compare.md``, ``compare.csv`` and ``compare.png`` into ``out_dir``."""
    if not studies:
        raise AnalysisError('Name the studies to compare: STUDIES="a b c".')
    columns, rows = compare_rows(studies, studies_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md, csv_path, png = (out / name for name in COMPARE_FILES)
    md.write_text(render_markdown(columns, rows))
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows([{c: row.get(c) for c in columns} for row in rows])
    plot_comparison(rows, png)
    return [md, csv_path, png]
