from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from mfsearch._registry import Registry
from mfsearch.config import ConfigError, LossConfig


@dataclass(frozen=True)
class LossSpec:
    """A registered loss: its module class (or factory) and its hyperparameter dataclass.

    The module is built as ``cls(num_classes=..., embedding_size=..., **params)``.
    """

    cls: Callable[..., nn.Module]
    params: type


LOSSES: Registry[LossSpec] = Registry("loss", "loss.name")


def register_loss(name: str, params: type) -> Any:
    """Class decorator registering a loss module with its hyperparameter dataclass."""

    def decorator(cls: type[nn.Module]) -> type[nn.Module]:
        LOSSES.add(name, LossSpec(cls, params))
        return cls

    return decorator


def loss_params(cfg: LossConfig) -> Any:
    """Validates the hyperparameters of the configured loss into its params dataclass."""
    spec = LOSSES.get(cfg.name)
    valid = [f.name for f in dataclasses.fields(spec.params)]
    for key in cfg.params:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" Did you mean loss.{close[0]}?" if close else ""
            raise ConfigError(
                f"loss.{key} is not a setting of loss {cfg.name!r}.{hint} "
                f"Its settings: {', '.join(valid) or '(none)'}."
            )
    return spec.params(**cfg.params)


def build_loss(cfg: LossConfig, num_classes: int, embedding_size: int) -> nn.Module:
    """Builds the configured loss for ``num_classes`` training classes."""
    params = loss_params(cfg)
    spec = LOSSES.get(cfg.name)
    values: Mapping[str, Any] = dataclasses.asdict(params)
    return spec.cls(num_classes=num_classes, embedding_size=embedding_size, **values)
