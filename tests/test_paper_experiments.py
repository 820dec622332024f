"""The six published training commands compose, as Hydra experiments, to the paper's values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import CONF_DIR

SPEC = (Path(__file__).parent / "data" / "seed_protocol.md").read_text()


def table_rows() -> list[dict[str, str]]:
    """The rows of the commands table in the spec, keyed by its header."""
    lines = [line for line in SPEC.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != len(header) or cells[0] in ("dataset", "") or "/" in cells[1]:
            break
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def shared_values() -> dict[str, float]:
    """The values the spec's heading gives for all six commands."""
    heading = re.search(r"all use loss (\w+),(.*?)\)", SPEC, re.S)
    assert heading is not None
    assert heading.group(1) == "MeanFieldClassWiseMultiSimilarity"
    pairs = re.findall(r"([a-z-]+) ([0-9.e-]+)", heading.group(2).replace("#", " "))
    return {name: float(value) for name, value in pairs}


ROWS = table_rows()


def test_the_spec_lists_six_commands():
    assert [(r["dataset"], r["backbone"]) for r in ROWS] == [
        ("cub", "bn_inception"), ("cub", "resnet50"), ("cars", "bn_inception"),
        ("cars", "resnet50"), ("SOP", "bn_inception"), ("Inshop", "bn_inception")]
    assert shared_values() == {"embedding": 512, "alpha": 0.01, "beta": 80, "mrg": 0.8,
                               "mf-reg": 0, "lr-ratio": 2000, "patience": 10}


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['dataset']}_{r['backbone']}")
def test_paper_experiment_composes_with_the_published_values(make_config, row):
    dataset = row["dataset"].lower()
    name = f"paper/{dataset}_{row['backbone']}"
    assert (Path(CONF_DIR) / "experiment" / f"{name}.yaml").is_file()
    config = make_config(f"experiment={name}")
    shared = shared_values()

    assert config.dataset.name == dataset
    assert config.model.name == row["backbone"]
    assert config.dataset.batch_size == int(row["batch"])
    assert config.optimizer.lr == float(row["lr"])
    assert config.trainer.warmup_epochs == int(row["warm"])
    assert config.trainer.bn_freeze is bool(int(row["bn-freeze"]))
    assert config.scheduler.name == "step"
    assert config.scheduler.step_size == int(row["lr-decay-step"])
    assert config.scheduler.gamma == float(row["lr-decay-gamma"].split()[0])

    assert config.loss.name == "mf_cwms"
    assert config.model.embedding_size == shared["embedding"]
    assert config.loss.params["alpha"] == shared["alpha"]
    assert config.loss.params["beta"] == shared["beta"]
    assert config.loss.params["mrg"] == shared["mrg"]
    assert config.loss.params["mf_reg"] == shared["mf-reg"]
    assert config.optimizer.lr_ratio == shared["lr-ratio"]
    assert config.trainer.patience == shared["patience"]

    # "Other defaults" of the spec
    assert "60 epochs max, AdamW (weight decay 1e-4)" in SPEC
    assert config.trainer.max_epochs == 60
    assert config.optimizer.name == "adamw"
    assert config.optimizer.weight_decay == 1e-4
    assert "gradient clipping by\nvalue at 10" in SPEC and config.trainer.grad_clip == 10.0
    assert "random batch sampling" in SPEC and config.dataset.sampler == "random"
    assert "seed 1" in SPEC and config.seed == 1
    assert config.optimized_metric == "val/map_at_r"
    assert config.model.pretrained == "imagenet"


def test_experiment_values_can_still_be_overridden(make_config):
    config = make_config("experiment=paper/cub_resnet50", "optimizer.lr=3e-4",
                         "model.pretrained=none")
    assert config.optimizer.lr == 3e-4
    assert config.model.pretrained == "none"
    assert config.dataset.batch_size == 120
