from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; names the loss, the step and its hyperparameters."""

    def __init__(self, loss: str, step: int, hyperparameters: Mapping[str, Any],
                 value: float) -> None:
        self.loss = loss
        self.step = step
        self.hyperparameters = dict(hyperparameters)
        self.value = value
        params = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters.items())
        super().__init__(
            f"Loss {loss!r} is {value} at step {step} with {params}. The model probably "
            "diverged: lower the learning rate or the loss scale (alpha/beta)."
        )
