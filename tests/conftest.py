from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def postgres_url():
    """A SQLAlchemy URL of a fresh PostgreSQL server on 127.0.0.1 (stopped after the session).

    Skipped when no PostgreSQL binary exists, except under CI (``CI=true``), where a missing
    server is a failure: .ci/run installs it.
    """
    from tests._postgres import find_pg_bin, postgres_server

    if find_pg_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests, but initdb was not found")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with postgres_server() as url:
        yield url
