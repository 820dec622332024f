"""Search spaces: Hydra sweep expressions -> Optuna distributions, and params -> overrides.

The grammar is Hydra's override grammar (the one ``hydra-optuna-sweeper`` accepts):

- ``interval(a, b)``: a float in [a, b] (an int when both bounds are ints, e.g. with
  ``int(interval(1, 8))``); ``tag(log, interval(a, b))`` samples on a log scale;
- ``range(start, stop, step)``: ints (or floats, when any bound is a float) from start up to,
  not including, stop; ``shuffle(range(...))`` makes it categorical;
- ``choice(a, b, ...)`` (or ``a,b,...``): a categorical;
- anything else is a fixed value given to every trial.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

#: Where search-space entries come from, for error messages.
PARAMS_SETTING = "hydra.sweeper.params"
_SIMPLE_STRING = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-./]*$")
_RESERVED_WORDS = {"true", "false", "null", "inf", "nan", "none"}


class SearchSpaceError(ValueError):
    """A search-space entry is malformed, out of range, or names an unknown key."""


@dataclass
class SearchSpace:
    """A parsed search space.

    Attributes:
        distributions: Param name (the Hydra override key) -> Optuna distribution.
        expressions: Param name -> the sweep expression it came from (stored in the study).
        fixed: Overrides given to every trial unchanged (``key=value`` strings).
    """

    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    expressions: dict[str, str] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)


def _bad(key: str, expression: str, problem: str) -> SearchSpaceError:
    return SearchSpaceError(f"Search space entry {key}={expression!r} is invalid: {problem}.")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _interval(key: str, expression: str, sweep: IntervalSweep) -> BaseDistribution:
    low, high, log = sweep.start, sweep.end, "log" in sweep.tags
    assert low is not None and high is not None
    if low > high:
        raise _bad(key, expression, f"its low bound {low} is greater than its high bound {high}; "
                                    "swap them")
    if log and low <= 0:
        raise _bad(key, expression, f"a log scale needs a low bound > 0, but got {low}; use a "
                                    "positive low bound, or put 0 in a choice(...) instead")
    if isinstance(low, int) and isinstance(high, int):
        return IntDistribution(low, high, log=log)
    return FloatDistribution(float(low), float(high), log=log)


def _range(key: str, expression: str, sweep: RangeSweep) -> BaseDistribution:
    values = list(sweep.range())
    if not values:
        raise _bad(key, expression, "the range is empty (stop is not beyond start in the "
                                    "direction of step)")
    if sweep.shuffle:
        return CategoricalDistribution(values)
    log = "log" in sweep.tags
    step = abs(sweep.step)
    low, high = min(values), max(values)
    if log and low <= 0:
        raise _bad(key, expression, f"a log scale needs values > 0, but got {low}")
    if all(isinstance(v, int) for v in values) and isinstance(step, int):
        if log and step != 1:
            raise _bad(key, expression, "a log scale needs step 1 for ints")
        return IntDistribution(int(low), int(high), log=log, step=1 if log else step)
    if log:
        raise _bad(key, expression, "a float range cannot be on a log scale; use "
                                    "tag(log, interval(low, high))")
    return FloatDistribution(float(low), float(high), step=float(step))


def _choice(key: str, expression: str, sweep: ChoiceSweep) -> BaseDistribution:
    choices = list(sweep.list)
    if not choices:
        raise _bad(key, expression, "the choice is empty")
    for c in choices:
        if not (c is None or isinstance(c, (bool, int, float, str))):
            raise _bad(key, expression, f"choice {c!r} is not a number, string, bool or null")
    return CategoricalDistribution([str(c) if isinstance(c, str) else c  # type: ignore[misc]
                                    for c in choices])


def to_distribution(override: Override) -> BaseDistribution | None:
    """The Optuna distribution of a parsed override, or None when it is a fixed value."""
    key, expression = override.get_key_element(), override.input_line or ""
    if not override.is_sweep_override():
        return None
    value = override.value()
    if isinstance(value, IntervalSweep):
        return _interval(key, expression, value)
    if isinstance(value, RangeSweep):
        return _range(key, expression, value)
    if isinstance(value, ChoiceSweep):
        return _choice(key, expression, value)
    raise _bad(key, expression, f"sweeps of type {type(value).__name__} are not supported")


def parse_overrides(lines: Sequence[str]) -> list[Override]:
    """Parses ``key=value`` lines with Hydra's override grammar, naming the bad line."""
    parser = OverridesParser.create()
    out = []
    for line in lines:
        try:
            out.extend(parser.parse_overrides([line]))
        except Exception as exc:
            raise SearchSpaceError(f"Cannot parse search-space entry {line!r}: {exc}") from None
    return out


def parse_search_space(params: Mapping[str, Any] | None,
                       arguments: Sequence[str] = ()) -> SearchSpace:
    """Builds the search space from ``hydra.sweeper.params`` and command-line overrides.

    Command-line overrides come last: a sweep there replaces the entry of the same key in
    ``params``, a plain value there fixes the key for every trial.

    Args:
        params: Param key -> sweep expression (or fixed value), from the sweeper config.
        arguments: The command line's overrides.
    """
    lines = [f"{k}={v}" for k, v in (params or {}).items()]
    entries: dict[str, Override] = {}
    for override in parse_overrides([*lines, *arguments]):
        entries.pop(override.get_key_element(), None)  # later entries replace earlier ones
        entries[override.get_key_element()] = override
    space = SearchSpace()
    for key, override in entries.items():
        distribution = to_distribution(override)
        line = override.input_line or ""
        if distribution is None:
            space.fixed.append(line)
        else:
            space.distributions[key] = distribution
            space.expressions[key] = line.split("=", 1)[1].strip()
    return space


def format_value(value: Any) -> str:
    """Writes a param value as a Hydra override value that parses back to the same value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    text = str(value)
    if _SIMPLE_STRING.match(text) and text.lower() not in _RESERVED_WORDS:
        return text
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def param_overrides(params: Mapping[str, Any]) -> list[str]:
    """``key=value`` overrides for a trial's params, in a stable (sorted) order."""
    return [f"{key}={format_value(value)}" for key, value in sorted(params.items())]


def _config_keys(node: Any, prefix: str = "") -> Iterable[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            path = f"{prefix}{key}"
            yield path
            yield from _config_keys(value, f"{path}.")


def check_keys(config: DictConfig, keys: Iterable[str]) -> None:
    """Checks that every searched key exists in the composed config or names a config group.

    Keys with a ``+`` prefix add new settings and are not checked.

    Raises:
        SearchSpaceError: naming the unknown key and the closest valid one.
    """
    data = OmegaConf.to_container(config, resolve=False)
    assert isinstance(data, dict)
    data.pop("hydra", None)
    valid = set(_config_keys(data))
    choices = OmegaConf.select(config, "hydra.runtime.choices", default=None)
    groups = {str(g) for g in (choices.keys() if choices is not None else [])}
    for key in keys:
        if key.startswith(("+", "~")):
            continue
        name = key.split("@", 1)[0]
        if name in valid or name in groups:
            continue
        close = difflib.get_close_matches(name, sorted(valid | groups), n=1)
        hint = f" The closest valid key is {close[0]!r}." if close else ""
        raise SearchSpaceError(
            f"Search space key {name!r} (in {PARAMS_SETTING} or the command line) does not "
            f"exist in the composed config.{hint} Prefix it with '+' to add a new setting.")


def check_params(space: SearchSpace, params: Mapping[str, Any], what: str) -> None:
    """Checks that a set of param values (an enqueued trial) lies inside the search space."""
    for key, value in params.items():
        distribution = space.distributions.get(key)
        if distribution is None:
            close = difflib.get_close_matches(key, list(space.distributions), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise SearchSpaceError(f"{what} sets {key}={value!r}, which is not a searched "
                                   f"param.{hint} Searched: {', '.join(space.distributions)}.")
        try:
            internal = distribution.to_internal_repr(value)
            inside = distribution._contains(internal)
        except Exception:
            inside = False
        if not inside:
            raise SearchSpaceError(f"{what} sets {key}={value!r}, outside its search space "
                                   f"{space.expressions[key]}.")


def grid_of(space: SearchSpace) -> dict[str, list[Any]]:
    """The grid of a discrete search space (choices and ranges), for Optuna's GridSampler."""
    grid: dict[str, list[Any]] = {}
    for key, distribution in space.distributions.items():
        if isinstance(distribution, CategoricalDistribution):
            grid[key] = list(distribution.choices)
        elif isinstance(distribution, (IntDistribution, FloatDistribution)) and \
                distribution.step is not None and not distribution.log:
            n = int(round((distribution.high - distribution.low) / distribution.step)) + 1
            values = [distribution.low + i * distribution.step for i in range(n)]
            grid[key] = [int(v) for v in values] if isinstance(
                distribution, IntDistribution) else [round(v, 12) for v in values]
        else:
            raise SearchSpaceError(
                f"The grid sampler needs choice(...) or range(...) entries, but "
                f"{key}={space.expressions[key]} is continuous.")
    return grid
