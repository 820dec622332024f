"""``mfsearch.evaluate``: a checkpoint's test metrics, rebuilt from the config stored in it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mfsearch.config import ConfigError, EvaluateConfig
from mfsearch.models import StateDictMismatchError
from mfsearch.training import (
    LAST_CHECKPOINT,
    build_trainer,
    evaluate_checkpoint,
    load_checkpoint,
    run_training,
    save_checkpoint,
)
from tests.conftest import compose_train

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A two-epoch digits run: (config, FitResult)."""
    from mfsearch.config import load_config

    run_dir = tmp_path_factory.mktemp("evaluate") / "run"
    config = load_config(compose_train([f"run_dir={run_dir}", "trainer.progress=false",
                                        "trainer.max_epochs=2", "device=cpu"]))
    return config, run_training(config)


def test_evaluate_reproduces_the_test_metrics_of_training(trained):
    config, result = trained
    evaluation = evaluate_checkpoint(EvaluateConfig(checkpoint=result.checkpoint, progress=False))
    reported = {k: v for k, v in result.metrics.items() if k.startswith("test/")}
    assert set(evaluation.metrics) == set(reported)
    assert {f"test/recall_at_{k}" for k in config.dataset.recall_ks} <= set(reported)
    for key, value in reported.items():
        assert evaluation.metrics[key] == pytest.approx(value, abs=1e-6), key
    assert evaluation.epoch == result.best_epoch
    assert evaluation.config.model == config.model.__class__(
        **{**config.model.__dict__, "pretrained": "none"})


@pytest.mark.slow
def test_evaluate_command_prints_table_and_writes_json(trained, tmp_path):
    _, result = trained
    out = tmp_path / "metrics.json"
    proc = subprocess.run(
        [sys.executable, "-m", "mfsearch.cli", "evaluate", f"checkpoint={result.checkpoint}",
         "device=cpu", "progress=false", f"output={out}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    saved = json.loads(out.read_text())
    assert saved["metrics"] == pytest.approx(
        {k: v for k, v in result.metrics.items() if k.startswith("test/")}, abs=1e-6)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("map_at_r"))
    assert float(line.split()[-1]) == pytest.approx(result.metrics["test/map_at_r"], abs=1e-4)


def test_checkpoint_of_another_model_names_keys_and_sizes(trained, tmp_path):
    _, result = trained
    state = load_checkpoint(result.checkpoint)
    state["config"]["model"]["embedding_size"] = 32
    path = save_checkpoint(state, tmp_path / "other.pt")
    with pytest.raises(StateDictMismatchError) as info:
        evaluate_checkpoint(EvaluateConfig(checkpoint=str(path), progress=False))
    message = str(info.value)
    assert str(path) in message
    assert "head.embedding.weight: saved (64, 128) vs model (32, 128)" in message
    assert "head.embedding.bias: saved (64,) vs model (32,)" in message


def test_resume_from_a_run_on_other_classes_names_keys_and_sizes(trained, make_config):
    config, result = trained
    last = Path(config.run_dir) / LAST_CHECKPOINT
    # 4 instead of 3 training classes: the mean fields no longer fit
    other = build_trainer(make_config("dataset.split.val_fraction=0.2"))
    with pytest.raises(StateDictMismatchError, match=r"mean_fields: saved \(64, 3\) vs model "
                                                     r"\(64, 4\)"):
        other.resume(last)


def test_checkpoint_trained_on_other_classes_is_rejected(trained, tmp_path):
    _, result = trained
    state = load_checkpoint(result.checkpoint)
    state["num_classes"] = 7
    path = save_checkpoint(state, tmp_path / "classes.pt")
    with pytest.raises(ValueError, match="num_classes: checkpoint 7 vs data 3"):
        evaluate_checkpoint(EvaluateConfig(checkpoint=str(path), progress=False))


def test_not_a_training_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="has no model, config entry"):
        evaluate_checkpoint(EvaluateConfig(checkpoint=str(path)))
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        evaluate_checkpoint(EvaluateConfig(checkpoint=str(tmp_path / "nowhere.pt")))


@pytest.mark.parametrize("kwargs,key", [
    ({}, "checkpoint"),
    ({"checkpoint": "x.pt", "device": "tpu"}, "device"),
    ({"checkpoint": "x.pt", "batch_size": 0}, "batch_size"),
])
def test_evaluate_settings_are_validated(kwargs, key):
    with pytest.raises(ConfigError, match=rf"^{key}="):
        EvaluateConfig(**kwargs)
