"""best.yaml and rerun on a study of real (shrunk) digits trainings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from scipy import stats

from mfsearch.analysis import AnalysisError, rerun, write_best
from mfsearch.config import load_config
from mfsearch.training import run_training
from tests.analysis_studies import DIGITS_PAPER, DIGITS_SHRINK, digits_study
from tests.conftest import compose_train

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tmp = tmp_path_factory.mktemp("digits")
    return digits_study(f"sqlite:///{tmp / 'studies.db'}", "digits-mf", tmp / "runs",
                        [{"loss.alpha": 0.03, "optimizer.lr": 3e-3}])


def test_best_yaml_reproduces_the_trial(study: optuna.Study, tmp_path: Path) -> None:
    path = write_best(study, tmp_path / "digits-mf")
    best = study.best_trial
    run_dir = tmp_path / "rerun"
    subprocess.run(
        [sys.executable, "-m", "mfsearch.train", "--config-dir", str(path.parent),
         "experiment=../best", f"hydra.run.dir={run_dir}"],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=600)
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["config"]["loss"]["alpha"] == best.params["loss.alpha"]
    assert summary["best_epoch"] == best.user_attrs["best_epoch"]
    assert summary["metrics"]["val/map_at_r"] == best.user_attrs["metrics"]["val/map_at_r"]


def test_refit_trains_every_epoch_without_validation(tmp_path: Path) -> None:
    config = load_config(compose_train([*DIGITS_SHRINK, "dataset.split.protocol=refit",
                                        "trainer.patience=1", f"run_dir={tmp_path}"]))
    result = run_training(config)
    assert result.epochs_run == result.best_epoch == config.trainer.max_epochs
    assert not any(k.startswith("val/") for k in result.metrics)
    assert 0.0 <= result.metrics["test/map_at_r"] <= 1.0


class _Counting:
    """Wraps run_training, counting calls."""

    def __init__(self) -> None:
        self.configs: list = []

    def __call__(self, config):  # noqa: ANN001, ANN204
        self.configs.append(config)
        return run_training(config)


def test_rerun_statistics_resume_and_refusal(study: optuna.Study, tmp_path: Path) -> None:
    out = tmp_path / "digits-mf"
    train = _Counting()
    results = rerun(study, out, seeds=2, top=1, progress=False, train=train)
    assert sorted(results["configs"]) == ["paper", "trial-1"]
    assert results["configs"]["paper"]["params"] == DIGITS_PAPER
    assert len(train.configs) == 4
    for config in train.configs:  # all training classes, the trial's epoch count, test only
        assert config.dataset.split.protocol == "refit"
        trial = study.trials[0 if "paper" in config.run_dir else 1]
        assert config.trainer.max_epochs == trial.user_attrs["best_epoch"]
    # statistics against scipy, on numbers read back from each run's own metrics.json
    values: dict[str, list[float]] = {}
    for label in ("paper", "trial-1"):
        for seed in (1, 2):
            summary = json.loads((out / "rerun" / label / f"seed-{seed}" / "metrics.json")
                                 .read_text())
            values.setdefault(label, []).append(summary["metrics"]["test/map_at_r"])
            assert summary["config"]["seed"] == seed
    saved = json.loads((out / "rerun.json").read_text())
    for label, v in values.items():
        assert saved["summary"][label]["test/map_at_r"]["mean"] == pytest.approx(np.mean(v))
        assert saved["summary"][label]["test/map_at_r"]["std"] == pytest.approx(np.std(v, ddof=1))
    p = stats.ttest_ind(values["trial-1"], values["paper"], equal_var=False).pvalue
    assert saved["tests"]["trial-1"]["test/map_at_r"]["p"] == pytest.approx(p)
    assert "trial-1" in (out / "rerun.md").read_text()
    # resumable: a third seed trains only the two new runs
    more = _Counting()
    results = rerun(study, out, seeds=3, top=1, progress=False, train=more)
    assert sorted(c.seed for c in more.configs) == [3, 3]
    assert results["runs"]["paper"]["1"] == saved["runs"]["paper"]["1"]
    assert results["summary"]["paper"]["test/map_at_r"]["n"] == 3
    # a folder of another study is refused, and left as it was
    other = optuna.create_study(study_name="another", storage=study._storage)
    before = (out / "rerun.json").read_text()
    with pytest.raises(AnalysisError, match="re-runs of another study"):
        rerun(other, out, seeds=1, top=1, progress=False, train=more)
    assert (out / "rerun.json").read_text() == before
