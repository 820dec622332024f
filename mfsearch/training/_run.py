"""One training run from a validated config: check, build, fit, report."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from mfsearch.config import TrainConfig, config_to_dict
from mfsearch.data import DATASETS, SAMPLERS, TRANSFORMS, DataBundle, build_data, build_transforms
from mfsearch.losses import LOSSES, build_loss, loss_params
from mfsearch.models import BACKBONES, build_model, pretrained_path
from mfsearch.training._callbacks import Callback
from mfsearch.training._optim import OPTIMIZERS, SCHEDULERS
from mfsearch.training._seed import resolve_device, seed_everything
from mfsearch.training._trainer import FitResult, Trainer, metrics_table

log = logging.getLogger(__name__)

SUMMARY_FILE = "metrics.json"


class TrainingFailedError(RuntimeError):
    """A run ended without a usable model (for example a non-finite loss)."""


def check_config(config: TrainConfig) -> None:
    """Checks every registry name, the loss's hyperparameters and the pretrained weight file;
    raises before any work."""
    DATASETS.get(config.dataset.name)
    SAMPLERS.get(config.dataset.sampler)
    TRANSFORMS.get(BACKBONES.get(config.model.name).input_convention)
    pretrained_path(config.model)
    LOSSES.get(config.loss.name)
    loss_params(config.loss)
    OPTIMIZERS.get(config.optimizer.name)
    SCHEDULERS.get(config.scheduler.name)


def build_run_data(config: TrainConfig) -> DataBundle:
    """The run's train / val / test data, prepared as the run's model expects.

    Training and ``mfsearch.evaluate`` both build their data here, so that a checkpoint is
    scored on exactly the samples it was trained and tested with.
    """
    convention = BACKBONES.get(config.model.name).input_convention
    transforms = build_transforms(config.dataset, convention)
    return build_data(config.dataset, transforms, progress=config.trainer.progress)


def build_trainer(config: TrainConfig, callbacks: Sequence[Callback] = ()) -> Trainer:
    """Seeds, then builds data, model, loss and the trainer for ``config``."""
    check_config(config)
    generator = seed_everything(config.seed)
    device = resolve_device(config.device)
    data = build_run_data(config)
    model = build_model(config.model, data.in_channels)
    loss = build_loss(config.loss, data.num_classes, config.model.embedding_size)
    return Trainer(config, model, loss, data, device, config.run_dir, callbacks, generator)


def write_summary(result: FitResult, config: TrainConfig, data: DataBundle | None = None) -> Path:
    """Writes ``metrics.json`` (status, best epoch, metrics, history, data) into the run dir.

    With ``data``, its sizes and the original ids of the validation classes are recorded.
    """
    path = Path(config.run_dir) / SUMMARY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "status": result.status,
        "reason": result.reason,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "duration_s": result.duration_s,
        "checkpoint": result.checkpoint,
        "metrics": result.metrics,
        "history": result.history,
        "config": config_to_dict(config),
    }
    if data is not None:
        payload["data"] = {**data.summary(), "val_class_ids": data.val_classes}
    path.write_text(json.dumps(payload, indent=2))
    return path


def run_training(config: TrainConfig, callbacks: Sequence[Callback] = (),
                 resume_from: str | Path | None = None) -> FitResult:
    """Trains one model; logs a table of the best epoch's val and test metrics."""
    trainer = build_trainer(config, callbacks)
    summary = trainer.data.summary()
    log.info("data: %s", ", ".join(f"{k}={v}" for k, v in summary.items()))
    if resume_from is not None:
        trainer.resume(resume_from)
        log.info("resumed from %s at epoch %d", resume_from, trainer.start_epoch)
    result = trainer.fit()
    write_summary(result, config, trainer.data)
    if result.status != "completed" or result.best_epoch is None:
        raise TrainingFailedError(result.reason or "no epoch produced a finite metric")
    log.info("best epoch %d of %d (%.1fs)\n%s", result.best_epoch, result.epochs_run,
             result.duration_s, metrics_table(result.metrics))
    log.info("checkpoint: %s", result.checkpoint)
    return result
