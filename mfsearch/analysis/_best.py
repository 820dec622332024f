"""A trial as a Hydra experiment config (``best.yaml``) and as a validated TrainConfig."""

from __future__ import annotations

import copy
import dataclasses
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from optuna.trial import FrozenTrial

import mfsearch
from mfsearch.analysis._study import AnalysisError, best_trial, get_trial, optimized_metric
from mfsearch.config import ConfigError, LossConfig, TrainConfig, config_from_dict
from mfsearch.losses import LOSSES, loss_params

BEST_FILE = "best.yaml"
#: Config groups whose option is named by a ``<group>.name`` value.
GROUPS = ("dataset", "model", "loss", "optimizer", "scheduler")
#: Keys of a trial's config that describe that one run, not the configuration.
RUN_KEYS = ("run_dir", "trial")


def conf_dir() -> Path:
    """The config tree the Hydra apps use (``conf/`` beside the package)."""
    return Path(mfsearch.__file__).resolve().parent.parent / "conf"


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def trial_config(study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
    """The study's ``base_config`` with the trial's params and seed, without run identity.

    Raises:
        AnalysisError: The study lacks ``base_config`` or a param is not a dotted key.
    """
    base = study.user_attrs.get("base_config")
    if not isinstance(base, Mapping):
        raise AnalysisError(
            f"Study {study.study_name!r} has no base_config user attr, so its trials cannot be "
            "turned into configs. Was it made by mfsearch's sweeper?")
    data = copy.deepcopy(dict(base))
    for key in RUN_KEYS:
        data.pop(key, None)
    for key, value in trial.params.items():
        if "." not in key:
            raise AnalysisError(
                f"Param {key!r} of trial {trial.number} selects a config group; only dotted "
                "settings (e.g. loss.alpha) can be exported.")
        _set_dotted(data, key, value)
    seed = trial.user_attrs.get("seed")
    if isinstance(seed, int):
        data["seed"] = seed
    return data


def group_choices(data: Mapping[str, Any]) -> dict[str, str]:
    """``group -> option`` for the groups whose ``<group>.name`` has a file in ``conf/``."""
    out = {}
    for group in GROUPS:
        section = data.get(group)
        name = section.get("name") if isinstance(section, Mapping) else None
        if isinstance(name, str) and (conf_dir() / group / f"{name}.yaml").is_file():
            out[group] = name
    return out


def unknown_keys(data: Mapping[str, Any], cls: type = TrainConfig, prefix: str = "") -> list[str]:
    """Dotted keys of ``data`` that are not settings of the current config tree."""
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    out: list[str] = []
    for key, value in data.items():
        if cls is LossConfig and key not in fields:
            name = data.get("name", LossConfig.name)
            if name in LOSSES:
                valid = {f.name for f in dataclasses.fields(LOSSES.get(name).params)}
                if key not in valid:
                    out.append(f"{prefix}{key}")
            continue
        if key not in fields:
            out.append(f"{prefix}{key}")
            continue
        tp = hints[key]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
            out += unknown_keys(value, tp, f"{prefix}{key}.")
    return out


def validate_config(data: Mapping[str, Any], source: str) -> TrainConfig:
    """Composes the config tree (groups chosen by ``data``), applies ``data``, validates.

    Args:
        data: A (partial) config such as :func:`trial_config` returns.
        source: What ``data`` came from, for error messages (a file or a trial).

    Raises:
        AnalysisError: Keys that no longer exist in the config tree (all named), or values
            the config rejects.
    """
    stale = unknown_keys(data)
    if stale:
        raise AnalysisError(
            f"{source} sets keys that no longer exist in the config tree: {', '.join(stale)}. "
            "Remove or rename them (see conf/ and mfsearch/config/_schema.py).")
    overrides = [f"{g}={o}" for g, o in group_choices(data).items()] + ["run_dir=unused"]
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        tree = compose("train", overrides=overrides)
    merged = OmegaConf.merge(tree, OmegaConf.create(dict(data)))
    container = OmegaConf.to_container(merged, resolve=True)
    assert isinstance(container, dict)
    try:
        config = config_from_dict({str(k): v for k, v in container.items()})
        loss_params(config.loss)
    except ConfigError as exc:
        raise AnalysisError(f"{source}: {exc}") from None
    return config


def experiment_yaml(study: optuna.Study, trial: FrozenTrial, folder: str | Path = "") -> str:
    """The text of a Hydra experiment config reproducing ``trial``.

    Args:
        study: The study.
        trial: The trial to reproduce.
        folder: Where the file will live, for the re-run command in its header.
    """
    data = trial_config(study, trial)
    metric = optimized_metric(study)
    value = "n/a" if trial.value is None else f"{trial.value:.6g}"
    defaults = [{f"override /{g}": o} for g, o in group_choices(data).items()]
    header = (
        "# @package _global_\n"
        f"# Trial {trial.number} ({trial.state.name}, {metric}={value}) of study "
        f"{study.study_name!r}, exported by `mfsearch best`.\n"
        f"# Re-run it: python -m mfsearch.train --config-dir {folder or '.'} "
        "experiment=../best\n"
        "# (--config-dir adds this folder to Hydra's search path; `../best` leaves the\n"
        "# experiment/ group folder for this file.)\n"
    )
    body = yaml.safe_dump({"defaults": defaults, **data} if defaults else data,
                          sort_keys=False, default_flow_style=False)
    return header + body


def write_best(study: optuna.Study, out_dir: str | Path, number: int | None = None) -> Path:
    """Writes ``best.yaml`` for the best trial (or trial ``number``) and checks it.

    Raises:
        AnalysisError: No completed trial, an unknown trial number, or a config the current
            tree rejects (nothing is written then).
    """
    trial = best_trial(study) if number is None else get_trial(study, number)
    validate_config(trial_config(study, trial), f"trial {trial.number} of {study.study_name!r}")
    path = Path(out_dir) / BEST_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(experiment_yaml(study, trial, path.parent))
    tmp.replace(path)
    return path


def check_experiment(path: str | Path) -> TrainConfig:
    """Validates an exported experiment file against the current config tree."""
    path = Path(path)
    if not path.is_file():
        raise AnalysisError(f"No experiment file at {path}. Write one with `make best`.")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise AnalysisError(f"{path} does not hold a mapping of settings.")
    data.pop("defaults", None)
    return validate_config(data, str(path))
