"""``report.html``: one self-contained page (plotly.js embedded) that explains a study."""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import plotly.graph_objects as go
from optuna.importance import FanovaImportanceEvaluator
from optuna.trial import FrozenTrial, TrialState
from plotly.offline import get_plotlyjs

from mfsearch.analysis._study import (
    best_trial,
    completed_trials,
    compute_spent,
    format_duration,
    optimized_metric,
    paper_trial,
    state_counts,
    trial_metrics,
)

REPORT_FILE = "report.html"
#: PNG images written beside the page (no network, matplotlib's Agg backend).
PNG_FILES = ("history.png", "importance.png", "importance_fanova.png")


@dataclass(frozen=True)
class Section:
    """One plot of the report: its element id, title, one-line caption and builder."""

    id: str
    title: str
    caption: str
    build: Callable[[optuna.Study, list[str]], go.Figure]


def _fanova() -> FanovaImportanceEvaluator:
    return FanovaImportanceEvaluator(seed=0)


def _intermediate(study: optuna.Study, _: list[str]) -> go.Figure:
    """Learning curves, with a marker where the pruner stopped each pruned trial."""
    fig = optuna.visualization.plot_intermediate_values(study)
    xs, ys, texts = [], [], []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)):
        if trial.intermediate_values:
            step = max(trial.intermediate_values)
            xs.append(step)
            ys.append(trial.intermediate_values[step])
            texts.append(f"trial {trial.number} pruned at epoch {step}")
    if xs:
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name="pruned here", text=texts,
                                 marker={"symbol": "x", "size": 10, "color": "crimson"}))
    return fig


def _contour(study: optuna.Study, ranked: list[str]) -> go.Figure:
    if len(ranked) < 2:
        raise ValueError("a contour plot needs at least two searched parameters")
    fig = optuna.visualization.plot_contour(study, params=ranked[:2])
    fig.update_layout(title=f"Contour of {ranked[0]} and {ranked[1]}")
    return fig


SECTIONS: tuple[Section, ...] = (
    Section("history", "Optimization history",
            "The optimized metric of every completed trial and the best so far.",
            lambda s, _: optuna.visualization.plot_optimization_history(s)),
    Section("importance", "Parameter importances (PED-ANOVA, Optuna's default)",
            "How much each hyperparameter explains the top trials' metric.",
            lambda s, _: optuna.visualization.plot_param_importances(s)),
    Section("importance-fanova", "Parameter importances (fANOVA)",
            "Variance of the metric explained by each hyperparameter (random-forest fANOVA).",
            lambda s, _: optuna.visualization.plot_param_importances(s, evaluator=_fanova())),
    Section("intermediate", "Intermediate values",
            "Best validation metric so far, per epoch; crosses mark where the pruner stopped a trial.",
            _intermediate),
    Section("parallel", "Parallel coordinates",
            "Each line is a completed trial, coloured by its metric.",
            lambda s, _: optuna.visualization.plot_parallel_coordinate(s)),
    Section("slice", "Slice plots", "The metric against each hyperparameter.",
            lambda s, _: optuna.visualization.plot_slice(s)),
    Section("contour", "Contour of the two most important parameters",
            "Interpolated metric over the two parameters PED-ANOVA ranks first.", _contour),
    Section("rank", "Rank plot", "Trials coloured by their rank, per pair of parameters.",
            lambda s, _: optuna.visualization.plot_rank(s)),
    Section("timeline", "Timeline", "When each trial ran, and how it ended.",
            lambda s, _: optuna.visualization.plot_timeline(s)),
)


def ranked_params(study: optuna.Study) -> list[str]:
    """Searched parameters, most important first (PED-ANOVA, else fANOVA, else by name)."""
    names = sorted({p for t in completed_trials(study) for p in t.params})
    for evaluator in (None, _fanova()):
        try:
            importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
        except (ValueError, RuntimeError):
            continue
        ranked = list(importances)
        return ranked + [n for n in names if n not in ranked]
    return names


# -- summary ---------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return "-" if value is None else str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def comparison_rows(best: FrozenTrial, paper: FrozenTrial | None,
                    metric: str) -> list[list[Any]]:
    """Rows (name, paper, best, improvement, relative %) of params, then val/test metrics."""
    best_m, paper_m = trial_metrics(best, metric), trial_metrics(paper, metric) if paper else {}
    params = sorted(set(best.params) | set(paper.params if paper else {}))
    rows: list[list[Any]] = []
    for name in params:
        rows.append([name, paper.params.get(name) if paper else None, best.params.get(name),
                     None, None])
    names = sorted((k for k in set(best_m) | set(paper_m) if not k.endswith("num_lone_queries")),
                   key=lambda k: (not k.startswith("val/"), k))
    for name in names:
        b, p = best_m.get(name), paper_m.get(name)
        diff = b - p if b is not None and p is not None else None
        rel = 100.0 * diff / abs(p) if diff is not None and p else None
        rows.append([name, p, b, diff, rel])
    return rows


def summary_html(study: optuna.Study) -> str:
    """The summary block: states, compute spent, best trial vs the paper-config trial."""
    metric = optimized_metric(study)
    counts = state_counts(study)
    best, paper = best_trial(study), paper_trial(study)
    parts = [
        "<h2>Summary</h2>",
        f"<p>Study <b>{html.escape(study.study_name)}</b>: dataset "
        f"{html.escape(str(study.user_attrs.get('dataset', '?')))}, loss "
        f"{html.escape(str(study.user_attrs.get('loss', '?')))}, model "
        f"{html.escape(str(study.user_attrs.get('model', '?')))}; optimizes "
        f"{html.escape(metric)} ({study.direction.name.lower()}).</p>",
        _table(["state", "trials"], [[k, v] for k, v in counts.items()] +
               [["total", sum(counts.values())]]),
        f"<p id='compute'>Compute spent: <b>{format_duration(compute_spent(study))}</b> "
        "(sum of the trials' training time).</p>",
    ]
    if paper is None:
        parts.append("<p>This study has no paper-config trial (user attr paper_config).</p>")
        header = ["", "-", f"best: trial {best.number}", "-", "-"]
    else:
        header = ["", f"paper: trial {paper.number} ({paper.state.name})",
                  f"best: trial {best.number}", "improvement", "relative %"]
    parts.append("<h3>Best trial vs the paper's configuration</h3>")
    parts.append(_table(header, comparison_rows(best, paper, metric)))
    return "\n".join(parts)


# -- page --------------------------------------------------------------------------------------
_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
section { margin-top: 2em; } .caption { color: #555; } .missing { color: #a33; }
"""


def _section_html(section: Section, study: optuna.Study, ranked: list[str]) -> str:
    head = f"<h2>{html.escape(section.title)}</h2><p class='caption'>{html.escape(section.caption)}</p>"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            fig = section.build(study, ranked)
    except (ValueError, RuntimeError) as exc:
        body = f"<p class='missing'>Not available for this study: {html.escape(str(exc))}</p>"
    else:
        body = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"plot-{section.id}")
    return f"<section id='{section.id}'>{head}{body}</section>"


def render_report(study: optuna.Study) -> str:
    """The report page as one HTML string, plotly.js inlined so it opens offline."""
    completed_trials(study)
    ranked = ranked_params(study)
    sections = "\n".join(_section_html(s, study, ranked) for s in SECTIONS)
    title = f"mfsearch study {html.escape(study.study_name)}"
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>{_STYLE}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        f"<h1>{title}</h1>{summary_html(study)}\n{sections}</body></html>\n"
    )


def write_pngs(study: optuna.Study, out_dir: Path) -> list[Path]:
    """History and importance plots as PNG (matplotlib Agg; no browser or network)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as mpl_vis

    makers: dict[str, Callable[[], Any]] = {
        "history.png": lambda: mpl_vis.plot_optimization_history(study),
        "importance.png": lambda: mpl_vis.plot_param_importances(study),
        "importance_fanova.png": lambda: mpl_vis.plot_param_importances(
            study, evaluator=_fanova()),
    }
    written = []
    for name, make in makers.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            ax = make()
        fig = ax.figure
        fig.set_size_inches(8, 5)
        fig.tight_layout()
        path = out_dir / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def write_report(study: optuna.Study, out_dir: str | Path) -> Path:
    """Writes ``report.html`` and the PNG images into ``out_dir``; returns the page's path."""
    out = Path(out_dir)
    page = render_report(study)
    out.mkdir(parents=True, exist_ok=True)
    path = out / REPORT_FILE
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    write_pngs(study, out)
    return path
