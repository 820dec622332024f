"""Report, export, compare, statistics and bad input of mfsearch.analysis on small real studies."""

from __future__ import annotations

import csv
import json
import math
import re
import socket
import statistics
from collections import Counter
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from optuna.trial import TrialState
from scipy import stats
from sklearn.datasets import load_digits

from mfsearch import analyze
from mfsearch.analysis import (
    PNG_FILES,
    SECTIONS,
    AnalysisError,
    check_experiment,
    check_port,
    compare_rows,
    export_trials,
    load_study,
    summarize,
    write_best,
    write_comparison,
    write_report,
)
from mfsearch.analysis._report import _intermediate, comparison_rows
from mfsearch.analysis._study import format_duration
from mfsearch.config import load_config
from mfsearch.data import build_data
from tests import chromium
from tests.analysis_studies import PAPER, synthetic_study
from tests.conftest import compose_train

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def study() -> optuna.Study:
    return synthetic_study(None, "toy", n_trials=20)


@pytest.fixture(scope="module")
def report(study: optuna.Study, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(study, tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def storage(study: optuna.Study, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An SQLite storage with the toy study, a second one and one without completed trials."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'studies.db'}"
    optuna.copy_study(from_study_name="toy", from_storage=study._storage, to_storage=url)
    synthetic_study(url, "other", n_trials=6, seed=1)
    empty = optuna.create_study(study_name="empty", storage=url)
    empty.tell(empty.ask(), state=TrialState.FAIL)
    return url


def test_study_has_every_trial_state(study: optuna.Study) -> None:
    states = Counter(t.state for t in study.trials)
    assert states[TrialState.COMPLETE] >= 3
    assert states[TrialState.PRUNED] >= 1 and states[TrialState.FAIL] >= 1


# -- report -------------------------------------------------------------------------------------
def test_report_contains_every_plot(report: Path) -> None:
    page = report.read_text()
    for section in SECTIONS:
        assert re.search(rf'<div id="plot-{section.id}" class="plotly-graph-div"', page), section
    assert "class='missing'" not in page
    # plotly.js is inlined, nothing is fetched from the network
    assert "Plotly" in page and len(page) > 3_000_000
    assert not re.search(r"<script[^>]+src=", page)


def test_report_pngs_are_images(report: Path) -> None:
    import matplotlib.image

    for name in PNG_FILES:
        image = matplotlib.image.imread(report.parent / name)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_report_summary_counts_and_compute(study: optuna.Study, report: Path) -> None:
    page = report.read_text()
    counts = Counter(t.state.name for t in study.trials)
    for state in ("COMPLETE", "PRUNED", "FAIL"):
        assert f"<tr><td>{state}</td><td>{counts[state]}</td></tr>" in page
    spent = sum(t.user_attrs["duration_s"] for t in study.trials)
    assert f"Compute spent: <b>{format_duration(spent)}</b>" in page


def test_best_vs_paper_rows(study: optuna.Study) -> None:
    paper = next(t for t in study.trials if t.user_attrs.get("paper_config"))
    best = max((t for t in study.trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    rows = {r[0]: r for r in comparison_rows(best, paper, "val/map_at_r")}
    assert paper.params == PAPER
    for name, value in PAPER.items():
        assert rows[name][1] == value and rows[name][2] == best.params[name]
    for name in ("val/map_at_r", "test/map_at_r"):
        b, p = best.user_attrs["metrics"][name], paper.user_attrs["metrics"][name]
        assert rows[name][1:4] == [p, b, pytest.approx(b - p)]
        assert rows[name][4] == pytest.approx(100 * (b - p) / abs(p))


def test_intermediate_marks_where_pruned(study: optuna.Study) -> None:
    fig = _intermediate(study, [])
    marks = next(t for t in fig.data if t.name == "pruned here")
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    expected = sorted((max(t.intermediate_values), t.intermediate_values[max(t.intermediate_values)])
                      for t in pruned)
    assert sorted(zip(marks.x, marks.y, strict=True)) == expected


@pytest.mark.slow
def test_report_renders_in_chromium(report: Path) -> None:
    page = chromium.load(report.as_uri())
    assert page.errors == []
    for section in SECTIONS:
        tag = re.search(rf'<div[^>]*id="plot-{section.id}"[^>]*>', page.dom)
        assert tag and "js-plotly-plot" in tag.group(0), section.id  # plotly drew it
    assert page.dom.count('class="main-svg"') >= len(SECTIONS)


@pytest.mark.slow
def test_chromium_console_check_catches_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>throw new Error('boom')</script></body></html>")
    assert any("boom" in e for e in chromium.load(bad.as_uri(), budget_ms=1000).errors)


# -- bad input ----------------------------------------------------------------------------------
def test_unknown_study_lists_existing(storage: str) -> None:
    with pytest.raises(AnalysisError, match="no study 'nope'.*Studies there: empty, other, toy"):
        load_study(storage, "nope")


def test_missing_storage_file_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(AnalysisError, match="No study storage"):
        load_study(f"sqlite:///{tmp_path / 'absent.db'}", "x")
    assert not (tmp_path / "absent.db").exists()


@pytest.mark.parametrize("command", [analyze.report, analyze.best,
                                     analyze.rerun])
def test_no_completed_trial_is_an_error_not_a_traceback(
        command, storage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert command(["--storage", storage, "empty", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "has no completed trial yet (1 fail)" in err and "Traceback" not in err


def test_cli_unknown_study(storage: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert analyze.compare(["--storage", storage, "toy nope"]) == 2
    assert "Studies there: empty, other, toy" in capsys.readouterr().err


def test_port_in_use_suggests_another() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(AnalysisError, match=rf"Port {port} on 127.0.0.1 is already in use. "
                                                r"Try PORT=\d+"):
            check_port("127.0.0.1", port)


# -- best.yaml ----------------------------------------------------------------------------------
def test_best_yaml_holds_base_config_and_params(study: optuna.Study, tmp_path: Path) -> None:
    path = write_best(study, tmp_path)
    text = path.read_text()
    assert text.startswith("# @package _global_\n")
    data = yaml.safe_load(text)
    best = max((t for t in study.trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    assert data["loss"]["alpha"] == best.params["loss.alpha"]
    assert data["optimizer"]["lr"] == best.params["optimizer.lr"]
    assert data["trainer"] == {"max_epochs": 6, "patience": best.params["trainer.patience"]}
    config = check_experiment(path)
    assert config.loss.params["beta"] == best.params["loss.beta"]
    assert config.trainer.max_epochs == 6


def test_best_yaml_for_a_chosen_trial(study: optuna.Study, tmp_path: Path) -> None:
    data = yaml.safe_load(write_best(study, tmp_path, number=0).read_text())
    assert data["loss"]["alpha"] == PAPER["loss.alpha"]
    with pytest.raises(AnalysisError, match="TRIAL=999 is not a trial"):
        write_best(study, tmp_path, number=999)


def test_stale_keys_are_named(study: optuna.Study, tmp_path: Path) -> None:
    path = write_best(study, tmp_path)
    data = yaml.safe_load(path.read_text())
    data["trainer"]["old_knob"] = 3
    data["loss"]["temperature"] = 0.1
    data["gone"] = {"x": 1}
    path.write_text("# @package _global_\n" + yaml.safe_dump(data))
    with pytest.raises(AnalysisError) as info:
        check_experiment(path)
    message = str(info.value)
    assert "no longer exist in the config tree" in message
    for key in ("trainer.old_knob", "loss.temperature", "gone"):
        assert key in message


# -- refit split --------------------------------------------------------------------------------
def test_refit_protocol_trains_on_every_training_class(tmp_path: Path) -> None:
    config = load_config(compose_train(["dataset.split.protocol=refit", f"run_dir={tmp_path}"]))
    bundle = build_data(config.dataset)
    reference = load_digits().target
    assert bundle.val is None
    assert len(bundle.train_labels) == int((reference < 5).sum())
    assert bundle.num_classes == 5
    assert len(bundle.test) == int((reference >= 5).sum())


# -- statistics ----------------------------------------------------------------------------------
def test_summarize_matches_scipy_welch() -> None:
    rng = np.random.default_rng(0)
    paper = rng.normal(0.5, 0.02, size=4)
    top = rng.normal(0.53, 0.01, size=3)
    runs = {"paper": {str(i + 1): {"metrics": {"test/map_at_r": v}} for i, v in enumerate(paper)},
            "trial-7": {str(i + 1): {"metrics": {"test/map_at_r": v}} for i, v in enumerate(top)}}
    summary, tests = summarize(runs, "paper")
    reference = stats.ttest_ind(top, paper, equal_var=False)
    assert tests["trial-7"]["test/map_at_r"]["p"] == pytest.approx(reference.pvalue, rel=1e-12)
    assert tests["trial-7"]["test/map_at_r"]["t"] == pytest.approx(reference.statistic, rel=1e-12)
    assert summary["paper"]["test/map_at_r"]["mean"] == pytest.approx(statistics.fmean(paper))
    assert summary["trial-7"]["test/map_at_r"]["std"] == pytest.approx(statistics.stdev(top))
    assert summary["trial-7"]["test/map_at_r"]["n"] == 3


def test_summarize_single_seed_has_no_test() -> None:
    runs = {"paper": {"1": {"metrics": {"m": 0.5}}}, "trial-1": {"1": {"metrics": {"m": 0.6}}}}
    summary, tests = summarize(runs, "paper")
    assert summary["paper"]["m"] == {"mean": 0.5, "std": None, "n": 1}
    assert tests["trial-1"]["m"] == {"t": None, "p": None}


# -- export and compare -----------------------------------------------------------------------------
def test_export_csv_has_every_trial(study: optuna.Study, tmp_path: Path) -> None:
    path = export_trials(study, tmp_path / "trials.csv")
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(study.trials)
    for row, trial in zip(rows, study.trials, strict=True):
        assert int(row["number"]) == trial.number and row["state"] == trial.state.name
        for name, value in trial.params.items():
            assert float(row[f"param:{name}"]) == pytest.approx(value)
        for name, value in (trial.user_attrs.get("metrics") or {}).items():
            assert float(row[f"metric:{name}"]) == pytest.approx(value)
        assert row["attr:fail_reason"] == trial.user_attrs.get("fail_reason", "")
        assert json.loads(row["attr:overrides"]) == trial.user_attrs["overrides"]
        if trial.value is not None:  # COMPLETE, and PRUNED (their last reported value)
            assert float(row["value"]) == pytest.approx(trial.value)
        else:
            assert row["value"] == "" and trial.state == TrialState.FAIL


def test_export_cli(storage: str, tmp_path: Path) -> None:
    assert analyze.export(["--storage", storage, "other", "--out", str(tmp_path)]) == 0
    with (tmp_path / "trials.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 6


def test_compare_table_and_rerun_columns(storage: str, tmp_path: Path) -> None:
    toy, other = load_study(storage, "toy"), load_study(storage, "other")
    rerun_dir = tmp_path / "studies" / "toy"
    rerun_dir.mkdir(parents=True)
    values = {"paper": [0.40, 0.42, 0.41], "trial-3": [0.45, 0.47, 0.44]}
    runs = {k: {str(i): {"metrics": {"test/map_at_r": v}} for i, v in enumerate(vs)}
            for k, vs in values.items()}
    summary, tests = summarize(runs, "paper")
    (rerun_dir / "rerun.json").write_text(json.dumps(
        {"study": "toy", "configs": {"paper": {}, "trial-3": {}}, "runs": runs,
         "summary": summary, "tests": tests}))
    paths = write_comparison([toy, other], tmp_path / "cmp", tmp_path / "studies")
    with paths[1].open() as f:
        rows = {r["study"]: r for r in csv.DictReader(f)}
    for s in (toy, other):
        row = rows[s.study_name]
        assert int(row["trials"]) == len(s.trials)
        assert int(row["pruned"]) == sum(t.state == TrialState.PRUNED for t in s.trials)
        assert float(row["best_value"]) == pytest.approx(s.best_value)
        hours = sum(t.user_attrs["duration_s"] for t in s.trials) / 3600
        assert float(row["compute_h"]) == pytest.approx(hours)
    toy_row = rows["toy"]
    assert float(toy_row["rerun_map_at_r_mean"]) == pytest.approx(np.mean(values["trial-3"]))
    assert float(toy_row["rerun_map_at_r_std"]) == pytest.approx(np.std(values["trial-3"], ddof=1))
    p = stats.ttest_ind(values["trial-3"], values["paper"], equal_var=False).pvalue
    assert float(toy_row["rerun_map_at_r_p_vs_paper"]) == pytest.approx(p)
    assert rows["other"]["rerun_map_at_r_mean"] == ""
    assert "| toy | digits | mf_cwms |" in paths[0].read_text()
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    columns, _ = compare_rows([toy], tmp_path / "studies")
    assert "rerun_config" in columns and not math.isnan(float(toy_row["compute_h"]))
