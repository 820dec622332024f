from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A setting has an invalid value; the message names the key, the value and the fix."""


def check(condition: bool, key: str, value: Any, requirement: str) -> None:
    """Raises :class:`ConfigError` naming ``key`` and ``value`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(f"{key}={value!r} is invalid: it {requirement}.")
