"""Turn a composed Hydra/OmegaConf config into validated dataclasses."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf

from mfsearch.config._errors import ConfigError
from mfsearch.config._schema import LossConfig, TrainConfig

T = TypeVar("T")

# Sections whose extra keys are hyperparameters of the selected entry, checked by its registry.
_OPEN_SECTIONS: dict[type, str] = {LossConfig: "params"}


def _unknown_key_error(prefix: str, key: str, valid: list[str]) -> ConfigError:
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" Did you mean {prefix}{close[0]}?" if close else ""
    return ConfigError(
        f"{prefix}{key} is not a known setting.{hint} Valid settings here: {', '.join(valid)}."
    )


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    """Checks and converts a scalar against a (simple) type annotation."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}={value!r} is invalid: it must be a list.")
        (inner,) = typing.get_args(tp)[:1] or (Any,)
        return [_coerce(inner, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}={value!r} is invalid: it must be a mapping.")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}={value!r} is invalid: it must be true or false.")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key}={value!r} is invalid: it must be an integer.")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}={value!r} is invalid: it must be a number.")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}={value!r} is invalid: it must be a string.")
    return value


def build_dataclass(cls: type[T], data: Mapping[str, Any] | None, prefix: str = "") -> T:
    """Builds ``cls`` from ``data``, rejecting unknown keys and values of the wrong type.

    Args:
        cls: A dataclass type whose ``__post_init__`` validates values.
        data: The mapping to read; missing keys take the dataclass defaults.
        prefix: Dotted path of ``data`` in the whole config, for error messages.
    """
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    open_field = _OPEN_SECTIONS.get(cls)
    extras: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields or key == open_field:
            if open_field is not None and key != open_field:
                extras[key] = value
                continue
            raise _unknown_key_error(prefix, str(key), sorted(fields))
        tp = hints[key]
        if _is_dataclass_type(tp):
            kwargs[key] = build_dataclass(tp, value, f"{prefix}{key}.")
        else:
            kwargs[key] = _coerce(tp, value, f"{prefix}{key}")
    if open_field is not None:
        kwargs[open_field] = extras
    return cls(**kwargs)


def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """Validates a plain mapping (as from a checkpoint) into a :class:`TrainConfig`."""
    return build_dataclass(TrainConfig, data)


def load_config(cfg: DictConfig | Mapping[str, Any]) -> TrainConfig:
    """Resolves a composed Hydra config and validates it into a :class:`TrainConfig`."""
    if isinstance(cfg, DictConfig):
        container = OmegaConf.to_container(cfg, resolve=True)
        assert isinstance(container, dict)
        data = {str(k): v for k, v in container.items()}
    else:
        data = dict(cfg)
    return config_from_dict(data)


def config_to_dict(config: Any) -> dict[str, Any]:
    """The inverse of :func:`config_from_dict`: a plain, YAML-ready mapping."""
    out = dataclasses.asdict(config)
    loss = out.get("loss")
    if isinstance(loss, dict) and "params" in loss:
        params = loss.pop("params")
        loss.update(params)
    return out
