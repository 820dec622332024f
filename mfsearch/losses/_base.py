"""The base of every registered loss: a module configured by its params dataclass."""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn


class ConfiguredLoss(nn.Module):
    """A loss module holding its validated hyperparameters.

    Args:
        params: An instance of the loss's params dataclass (already validated).
    """

    def __init__(self, params: Any) -> None:
        super().__init__()
        if not dataclasses.is_dataclass(params) or isinstance(params, type):
            raise ValueError(f"params must be a dataclass instance, but got {params=}")
        self.params: Any = params

    def hyperparameters(self) -> dict[str, Any]:
        """The hyperparameters by name (reported when the loss turns non-finite)."""
        return dataclasses.asdict(self.params)


def check_sizes(num_classes: int, embedding_size: int) -> None:
    """Raises ``ValueError`` unless both sizes are at least 1."""
    if num_classes < 1 or embedding_size < 1:
        raise ValueError(
            f"num_classes and embedding_size must be >= 1, but got {num_classes=} "
            f"{embedding_size=}"
        )
