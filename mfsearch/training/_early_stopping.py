from __future__ import annotations

import math


class EarlyStopping:
    """Tracks the best value of a monitored metric and when to stop.

    Training stops once ``patience`` consecutive epochs have passed without an improvement
    of more than ``min_delta`` (``patience=0`` stops at the first epoch that does not
    improve). NaN never counts as an improvement.

    Args:
        patience: Epochs without improvement to tolerate.
        mode: ``"max"`` or ``"min"``.
        min_delta: Smallest change that counts as an improvement.
    """

    def __init__(self, patience: int, mode: str = "max", min_delta: float = 0.0) -> None:
        if patience < 0:
            raise ValueError(f"patience must be >= 0, but got {patience=}")
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', but got {mode=}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, but got {min_delta=}")
        self.patience = patience
        self.mode = mode
        self.min_delta = min_delta
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0

    def _improves(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def update(self, epoch: int, value: float) -> bool:
        """Records ``value`` for ``epoch``; returns True if it is a new best."""
        if self._improves(value):
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad_epochs > 0 and self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, float | int | None]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, float | int | None]) -> None:
        self.best = None if state["best"] is None else float(state["best"])
        self.best_epoch = None if state["best_epoch"] is None else int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"] or 0)
