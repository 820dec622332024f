"""Multi-seed re-runs of the top trials and the paper's configuration, with Welch t-tests.

Each configuration is re-trained on all training classes (``dataset.split.protocol=refit``)
for its trial's best epoch count and evaluated on the test classes, once per seed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial
from scipy import stats
from tqdm.auto import tqdm

from mfsearch.analysis._best import trial_config, validate_config
from mfsearch.analysis._study import (
    AnalysisError,
    get_trial,
    paper_trial,
    ranked_trials,
    trial_best_epoch,
)
from mfsearch.config import TrainConfig

RERUN_JSON = "rerun.json"
RERUN_MD = "rerun.md"
RUNS_DIR = "rerun"
PAPER_LABEL = "paper"


@dataclass(frozen=True)
class RerunConfig:
    """One configuration to re-train: where it came from and for how many epochs."""

    label: str
    trial: int
    paper: bool
    epochs: int
    params: dict[str, Any] = field(default_factory=dict)


def _study_key(study: optuna.Study) -> dict[str, Any]:
    """What identifies the study a rerun folder belongs to (name and first trial's start)."""
    trials = study.get_trials(deepcopy=False)
    started = min((t.datetime_start for t in trials if t.datetime_start), default=None)
    return {"study": study.study_name,
            "study_started": None if started is None else started.isoformat()}


def _config_of(trial: FrozenTrial, label: str, paper: bool) -> RerunConfig:
    epochs = trial_best_epoch(trial)
    if epochs is None:
        raise AnalysisError(
            f"Trial {trial.number} has no best_epoch and no intermediate values, so the "
            "number of epochs to re-train is unknown.")
    return RerunConfig(label, trial.number, paper, epochs, dict(trial.params))


def plan(study: optuna.Study, top: int) -> list[RerunConfig]:
    """The paper's configuration (when the study has one) and the ``top`` best other trials."""
    if top < 1:
        raise AnalysisError(f"TOP={top} is invalid: re-run at least the best trial (TOP>=1).")
    paper = paper_trial(study)
    others = [t for t in ranked_trials(study) if paper is None or t.number != paper.number]
    configs = [] if paper is None else [_config_of(paper, PAPER_LABEL, True)]
    configs += [_config_of(t, f"trial-{t.number}", False) for t in others[:top]]
    if len(configs) == (0 if paper is None else 1):
        raise AnalysisError(
            f"Study {study.study_name!r} has no completed trial besides the paper's config.")
    return configs


def run_config(study: optuna.Study, config: RerunConfig, seed: int, run_dir: Path,
               device: str | None = None) -> TrainConfig:
    """The validated TrainConfig of one re-run (refit protocol, fixed epochs, no val)."""
    data = trial_config(study, get_trial(study, config.trial))
    data.setdefault("dataset", {}).setdefault("split", {})["protocol"] = "refit"
    trainer = data.setdefault("trainer", {})
    trainer["max_epochs"] = config.epochs
    trainer["progress"] = False
    data["seed"] = seed
    data["run_dir"] = str(run_dir)
    if device:
        data["device"] = device
    return validate_config(data, f"re-run of trial {config.trial} of {study.study_name!r}")


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def _num(value: float | None) -> float | None:
    """JSON-safe number (NaN -> null)."""
    return None if value is None or not math.isfinite(value) else float(value)


def summarize(runs: Mapping[str, Mapping[str, Mapping[str, Any]]], reference: str | None,
              ) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """Mean, std (ddof=1) and n per configuration and metric; Welch tests vs ``reference``.

    Args:
        runs: ``label -> seed -> {"metrics": {name: value}}``.
        reference: The label every other configuration is tested against, or None.

    Returns:
        ``(summary, tests)``: ``summary[label][metric] = {mean, std, n}`` and
        ``tests[label][metric] = {t, p}`` (Welch's t-test, scipy's ``equal_var=False``).
    """
    values: dict[str, dict[str, list[float]]] = {}
    for label, seeds in runs.items():
        per_metric: dict[str, list[float]] = {}
        for seed in sorted(seeds, key=int):
            for name, value in seeds[seed].get("metrics", {}).items():
                per_metric.setdefault(name, []).append(value)
        values[label] = {k: _finite(v) for k, v in per_metric.items()}
    summary = {
        label: {name: {"mean": _num(float(np.mean(v))) if v else None,
                       "std": _num(float(np.std(v, ddof=1))) if len(v) > 1 else None,
                       "n": len(v)} for name, v in sorted(metrics.items())}
        for label, metrics in values.items()
    }
    tests: dict[str, dict[str, Any]] = {}
    if reference is not None and reference in values:
        for label, metrics in values.items():
            if label == reference:
                continue
            tests[label] = {}
            for name, v in sorted(metrics.items()):
                ref = values[reference].get(name, [])
                if len(v) >= 2 and len(ref) >= 2:
                    result = stats.ttest_ind(v, ref, equal_var=False)
                    tests[label][name] = {"t": _num(result.statistic), "p": _num(result.pvalue)}
                else:
                    tests[label][name] = {"t": None, "p": None}
    return summary, tests


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def render_markdown(results: Mapping[str, Any]) -> str:
    """``rerun.md``: one table of mean ± std per test metric, with p-values vs the paper."""
    summary, tests, configs = results["summary"], results["tests"], results["configs"]
    metrics = sorted({m for s in summary.values() for m in s})
    lines = [f"# Re-runs of study `{results['study']}`", "",
             f"Seeds: {', '.join(map(str, results['seeds']))}. Each configuration is "
             "re-trained on all training classes for its trial's best epoch count and "
             "evaluated on the test classes. Cells: mean ± std (n); p: Welch's t-test "
             "against the paper's configuration.", ""]
    header = ["configuration", "trial", "epochs", *metrics]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, cfg in configs.items():
        cells = [label, str(cfg["trial"]), str(cfg["epochs"])]
        for metric in metrics:
            s = summary.get(label, {}).get(metric)
            cell = "-" if s is None else f"{_fmt(s['mean'])} ± {_fmt(s['std'])} ({s['n']})"
            p = tests.get(label, {}).get(metric, {}).get("p")
            if label in tests:
                cell += f"; p={_fmt(p, '.3g')}"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    if not tests:
        lines += ["", "No paper-config trial in this study: no t-tests."]
    return "\n".join(lines) + "\n"


def _write_json(path: Path, payload: Mapping[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(path)


def _load_previous(path: Path, key: Mapping[str, Any]) -> dict[str, Any]:
    if not path.is_file():
        return {}
    previous = json.loads(path.read_text())
    theirs = {k: previous.get(k) for k in key}
    if theirs != dict(key):
        raise AnalysisError(
            f"{path} holds re-runs of another study ({theirs}), not of {dict(key)}. Re-run "
            "into another folder (OUT=...) or move that one away; results are never mixed.")
    return previous


TrainFn = Callable[[TrainConfig], Any]


def rerun(study: optuna.Study, out_dir: str | Path, seeds: int = 3, top: int = 1,
          device: str | None = None, progress: bool = True, train: TrainFn | None = None,
          ) -> dict[str, Any]:
    """Re-trains the paper's and the top configurations with seeds ``1..seeds``.

    Finished (configuration, seed) runs recorded in ``rerun.json`` are not repeated; the
    file and ``rerun.md`` are rewritten after every run.

    Args:
        study: The study.
        out_dir: Folder for ``rerun.json``, ``rerun.md`` and the runs (``rerun/<label>/``).
        seeds: Number of seeds per configuration.
        top: Number of best trials (besides the paper's) to re-run.
        device: Overrides the config's device (e.g. ``cpu``).
        progress: Show a progress bar across runs.
        train: The training function (``run_training`` by default).

    Returns:
        The content of ``rerun.json``.
    """
    if seeds < 1:
        raise AnalysisError(f"SEEDS={seeds} is invalid: use at least 1 seed.")
    if train is None:
        from mfsearch.training import run_training

        train = run_training
    out = Path(out_dir)
    json_path = out / RERUN_JSON
    key = _study_key(study)
    previous = _load_previous(json_path, key)
    configs = plan(study, top)
    seed_list = list(range(1, seeds + 1))
    todo = []
    runs: dict[str, dict[str, Any]] = {k: dict(v) for k, v in previous.get("runs", {}).items()}
    for config in configs:
        runs.setdefault(config.label, {})
    for config in configs:  # validate everything before the first run
        for seed in seed_list:
            run_dir = out / RUNS_DIR / config.label / f"seed-{seed}"
            train_config = run_config(study, config, seed, run_dir, device)
            if str(seed) not in runs[config.label]:
                todo.append((config, seed, train_config))
    reference = PAPER_LABEL if any(c.paper for c in configs) else None
    results: dict[str, Any] = {
        **key, "seeds": seed_list,
        "configs": {**previous.get("configs", {}),
                    **{c.label: {k: v for k, v in asdict(c).items() if k != "label"}
                       for c in configs}},
        "runs": runs,
    }

    def save() -> None:
        results["summary"], results["tests"] = summarize(runs, reference)
        out.mkdir(parents=True, exist_ok=True)
        _write_json(json_path, results)
        (out / RERUN_MD).write_text(render_markdown(results))

    total = len(configs) * len(seed_list)
    with tqdm(total=total, initial=total - len(todo), desc="re-runs", unit="run",
              disable=not progress) as bar:
        for config, seed, train_config in todo:
            bar.set_postfix_str(f"{config.label} seed {seed}")
            result = train(train_config)
            metrics = {k: float(v) for k, v in result.metrics.items()
                       if k.startswith("test/") and not k.endswith("num_lone_queries")}
            runs[config.label][str(seed)] = {"metrics": metrics,
                                             "epochs": result.epochs_run,
                                             "duration_s": result.duration_s}
            save()
            bar.update(1)
    save()
    return results
