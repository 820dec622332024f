"""End-to-end training on digits: seeds, checkpoints, the callback hook."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mfsearch.data import build_data
from mfsearch.evaluation import RetrievalEvaluator, extract_embeddings
from mfsearch.losses import build_loss
from mfsearch.models import build_model
from mfsearch.training import SUMMARY_FILE, load_checkpoint, run_training

SHORT = ("trainer.max_epochs=3", "trainer.patience=3")


class Recorder:
    def __init__(self):
        self.calls = []

    def on_epoch_end(self, epoch, metrics):
        self.calls.append((epoch, dict(metrics)))


def test_short_run_reports_every_epoch_and_writes_checkpoint(make_config):
    config = make_config(*SHORT)
    recorder = Recorder()
    result = run_training(config, callbacks=[recorder])
    assert [e for e, _ in recorder.calls] == [1, 2, 3]
    values = [m["val/map_at_r"] for _, m in recorder.calls]
    assert result.best_epoch == int(np.argmax(values)) + 1
    assert result.metrics["val/map_at_r"] == pytest.approx(max(values))
    assert "test/map_at_r" in result.metrics
    summary = json.loads((Path(config.run_dir) / SUMMARY_FILE).read_text())
    assert summary["best_epoch"] == result.best_epoch
    assert summary["metrics"] == pytest.approx(result.metrics)


def test_same_seed_same_metrics_twice(make_config, tmp_path):
    a = run_training(make_config(*SHORT, f"run_dir={tmp_path / 'a'}"))
    b = run_training(make_config(*SHORT, f"run_dir={tmp_path / 'b'}"))
    assert a.metrics == b.metrics
    c = run_training(make_config(*SHORT, "seed=7", f"run_dir={tmp_path / 'c'}"))
    assert c.history[0]["train/loss"] != a.history[0]["train/loss"]


def test_checkpoint_round_trip_gives_the_same_test_metrics(make_config):
    config = make_config(*SHORT)
    result = run_training(config)
    state = load_checkpoint(result.checkpoint)
    assert state["epoch"] == result.best_epoch
    data = build_data(config.dataset)
    model = build_model(config.model, data.in_channels)
    model.load_state_dict(state["model"])
    loss = build_loss(config.loss, data.num_classes, config.model.embedding_size)
    loss.load_state_dict(state["loss"])
    emb = extract_embeddings(model, data.test.query, 128, torch.device("cpu"), progress=False)
    metrics = RetrievalEvaluator(config.dataset.recall_ks).evaluate(emb, data.test.query_labels)
    for key, value in metrics.items():
        assert result.metrics[f"test/{key}"] == pytest.approx(value, abs=1e-12)


def test_validation_and_test_classes_are_disjoint(make_config):
    config = make_config()
    data = build_data(config.dataset)
    assert set(data.val_classes) <= {0, 1, 2, 3, 4}
    assert len(data.val_classes) == 2
    assert set(np.unique(data.val.query_labels)) == set(data.val_classes)
    assert set(np.unique(data.test.query_labels)) == {5, 6, 7, 8, 9}
    assert data.num_classes == 3


def test_protocol_test_monitors_the_test_classes(make_config):
    data = build_data(make_config("dataset.split.protocol=test").dataset)
    assert data.num_classes == 5
    assert data.val is data.test
