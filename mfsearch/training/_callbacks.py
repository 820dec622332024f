from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable


@runtime_checkable
class Callback(Protocol):
    """Hook called by the trainer after each epoch's evaluation and checkpointing.

    ``epoch`` counts from 1. ``metrics`` holds ``train/loss`` and the validation metrics
    (``val/map_at_r``, ...). A callback may raise to stop training; the trainer does not
    catch it (an Optuna pruning signal, for example, reaches the objective unchanged).
    """

    def on_epoch_end(self, epoch: int, metrics: Mapping[str, float]) -> None: ...
