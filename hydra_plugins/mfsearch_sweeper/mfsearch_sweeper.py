"""The public sweeper class; the logic lives in ``_impl`` and is imported on first use."""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class MfsearchSweeper(Sweeper):
    """Runs an Optuna study of the task function; see ``config.MfsearchSweeperConf``."""

    def __init__(self, **kwargs: Any) -> None:
        from hydra_plugins.mfsearch_sweeper._impl import SweeperImpl

        self._impl = SweeperImpl(**kwargs)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self._impl.setup(hydra_context=hydra_context, task_function=task_function,
                         config=config)

    def sweep(self, arguments: list[str]) -> Any:
        return self._impl.sweep(arguments)
