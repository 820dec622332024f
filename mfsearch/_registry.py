"""A small name -> object registry shared by datasets, backbones, losses and optimizers."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(ValueError):
    """Raised when a name is not in a registry; the message lists the valid choices."""


class Registry(Generic[T]):
    """Maps names to objects (usually factories), with errors that list the valid choices.

    Args:
        kind: What the registry holds, e.g. ``"dataset"``; used in error messages.
        setting: The config key that selects an entry, e.g. ``"dataset.name"``.
    """

    def __init__(self, kind: str, setting: str) -> None:
        if not kind:
            raise ValueError(f"A registry needs a kind, but got {kind=}")
        self.kind = kind
        self.setting = setting
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name``."""

        def decorator(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        """Registers ``obj`` under ``name``; a name can be registered once."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        """Returns the entry for ``name`` or raises :class:`UnknownNameError`."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self._unknown_message(name)) from None

    def _unknown_message(self, name: str) -> str:
        choices = ", ".join(sorted(self._entries))
        close = difflib.get_close_matches(str(name), list(self._entries), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return (
            f"Unknown {self.kind} {name!r} (setting {self.setting}).{hint} "
            f"Valid choices: {choices}."
        )

    def names(self) -> list[str]:
        """Sorted registered names."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
