from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from mfsearch.config import TrainConfig, load_config

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def compose_train(overrides: list[str] | None = None) -> DictConfig:
    """Composes the real ``conf/train.yaml`` with ``overrides``."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=list(overrides or []))


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., TrainConfig]:
    """Builds a validated, shrunk config (no progress bars, run dir under tmp_path)."""

    def factory(*overrides: str) -> TrainConfig:
        cfg = compose_train([f"run_dir={tmp_path / 'run'}", "trainer.progress=false",
                             *overrides])
        return load_config(cfg)

    return factory
