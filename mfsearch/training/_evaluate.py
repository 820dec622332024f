"""Scoring a saved checkpoint on its test split, rebuilt from the config stored in it."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mfsearch.config import EvaluateConfig, TrainConfig, config_from_dict
from mfsearch.models import build_model, load_state_dict_checked
from mfsearch.training._checkpoint import load_checkpoint
from mfsearch.training._run import build_run_data, check_config
from mfsearch.training._seed import resolve_device
from mfsearch.training._trainer import build_evaluator, score_split


@dataclass
class EvaluationResult:
    """Test metrics of a checkpoint.

    Attributes:
        config: The run config rebuilt from the checkpoint (with the overrides applied).
        metrics: ``test/...`` metrics computed now.
        saved_metrics: The metrics stored in the checkpoint when it was written.
        epoch: The epoch the checkpoint was saved at.
    """

    config: TrainConfig
    metrics: dict[str, float]
    saved_metrics: dict[str, float] = field(default_factory=dict)
    epoch: int | None = None


def _stored_config(state: dict[str, Any], path: str) -> TrainConfig:
    missing = [key for key in ("model", "config") if key not in state]
    if missing:
        raise ValueError(
            f"Checkpoint {path} has no {', '.join(missing)} entry: it was not written by "
            "mfsearch training. Use a best.pt or last.pt from a run directory."
        )
    return config_from_dict(state["config"])


def _with_overrides(config: TrainConfig, cfg: EvaluateConfig) -> TrainConfig:
    dataset, evaluation = config.dataset, config.eval
    if cfg.dataset_root is not None:
        dataset = dataclasses.replace(dataset, root=cfg.dataset_root)
    if cfg.batch_size is not None:
        evaluation = dataclasses.replace(evaluation, batch_size=cfg.batch_size)
    trainer = dataclasses.replace(config.trainer, progress=cfg.progress)
    # The weights come from the checkpoint: no pretrained file is needed to rebuild the model.
    model = dataclasses.replace(config.model, pretrained="none")
    return dataclasses.replace(config, dataset=dataset, eval=evaluation, trainer=trainer,
                               model=model, device=cfg.device or config.device)


def evaluate_checkpoint(cfg: EvaluateConfig) -> EvaluationResult:
    """Rebuilds the checkpoint's model and data and scores its test split.

    Args:
        cfg: Which checkpoint, plus optional overrides of its stored settings.

    Raises:
        FileNotFoundError: The checkpoint does not exist.
        ValueError: It is not an mfsearch checkpoint, its tensors do not fit the model its
            config describes (the message names the keys and sizes), or the data now has a
            different number of training classes or channels than when it was trained.
    """
    path = str(cfg.checkpoint)
    state = load_checkpoint(path)
    config = _with_overrides(_stored_config(state, path), cfg)
    check_config(config)
    data = build_run_data(config)
    expected = {"in_channels": data.in_channels, "num_classes": data.num_classes}
    differ = [f"{key}: checkpoint {state[key]} vs data {value}"
              for key, value in expected.items() if key in state and int(state[key]) != value]
    if differ:
        raise ValueError(
            f"Checkpoint {path} was trained on other data than dataset "
            f"{config.dataset.name!r} at root {config.dataset.root!r} gives now "
            f"({'; '.join(differ)}). Point dataset_root=... at the data it was trained on."
        )
    model = build_model(config.model, data.in_channels)
    load_state_dict_checked(
        model, state["model"], f"Checkpoint {path}",
        f"model {config.model.name!r} (embedding {config.model.embedding_size}) that its "
        "stored config describes")
    device = resolve_device(config.device)
    model.to(device)
    metrics = score_split(model, data.test, config, build_evaluator(config), device, "test")
    saved = {k: float(v) for k, v in dict(state.get("metrics", {})).items()}
    epoch = state.get("epoch")
    return EvaluationResult(config, metrics, saved, None if epoch is None else int(epoch))


def write_evaluation(result: EvaluationResult, checkpoint: str, path: str | Path) -> Path:
    """Writes the metrics of :func:`evaluate_checkpoint` as JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "checkpoint": checkpoint,
        "epoch": result.epoch,
        "dataset": result.config.dataset.name,
        "model": result.config.model.name,
        "metrics": result.metrics,
    }
    path.write_text(json.dumps(payload, indent=2))
    return path
