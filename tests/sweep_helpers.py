"""Running real sweeps (Hydra multiruns of mfsearch.train) inside the test process."""

from __future__ import annotations

from pathlib import Path

import optuna

#: Overrides that make every trial a seconds-long digits run.
TINY = ["trainer.max_epochs=1", "trainer.patience=1", "trainer.progress=false",
        "eval.batch_size=512"]


def run_sweep(tmp_path: Path, monkeypatch, *overrides: str, tiny: bool = True) -> None:
    """Runs ``python -m mfsearch.train --multirun hydra/sweeper=mfsearch ...`` in-process.

    Errors propagate unchanged. ``search=`` is left null unless given.
    """
    from mfsearch.sweep import run_sweep as run

    run(["hydra/sweeper=mfsearch", f"hydra.sweep.dir={tmp_path / 'multirun'}",
         *(TINY if tiny else []), *overrides])


def load(storage: str, name: str) -> optuna.Study:
    """Loads a study written by a sweep."""
    from mfsearch.search import open_storage

    return optuna.load_study(study_name=name, storage=open_storage(storage))


def compose_with_hydra(overrides: list[str]):
    """Composes ``conf/train.yaml`` with its ``hydra`` node (sweeper settings included)."""
    from hydra import compose, initialize_config_dir

    from tests.conftest import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=True)
