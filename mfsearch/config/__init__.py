"""Structured configs (dataclasses) and their validation."""

from __future__ import annotations

from mfsearch.config._build import build_dataclass, config_from_dict, config_to_dict, load_config
from mfsearch.config._errors import ConfigError, check
from mfsearch.config._paths import CONF_DIR
from mfsearch.config._schema import (
    DatasetConfig,
    EvalConfig,
    EvaluateConfig,
    LossConfig,
    ModelConfig,
    OptimizerConfig,
    SchedulerConfig,
    SplitConfig,
    TrainConfig,
    TrainerConfig,
    TrialConfig,
)

__all__ = [
    "CONF_DIR",
    "ConfigError",
    "DatasetConfig",
    "EvalConfig",
    "EvaluateConfig",
    "LossConfig",
    "ModelConfig",
    "OptimizerConfig",
    "SchedulerConfig",
    "SplitConfig",
    "TrainConfig",
    "TrainerConfig",
    "TrialConfig",
    "build_dataclass",
    "check",
    "config_from_dict",
    "config_to_dict",
    "load_config",
]
