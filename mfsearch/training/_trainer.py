"""The training loop: warm-up, BatchNorm freezing, clipping, per-epoch evaluation."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from mfsearch.config import TrainConfig, config_to_dict
from mfsearch.data import SAMPLERS, DataBundle, RetrievalSplit
from mfsearch.evaluation import RetrievalEvaluator, check_query_gallery, extract_embeddings
from mfsearch.losses import NonFiniteLossError
from mfsearch.models import EmbeddingModel, load_state_dict_checked
from mfsearch.training._callbacks import Callback
from mfsearch.training._checkpoint import load_checkpoint, save_checkpoint
from mfsearch.training._early_stopping import EarlyStopping
from mfsearch.training._optim import build_optimizer, build_scheduler, param_groups
from mfsearch.training._seed import rng_state, set_rng_state

BEST_CHECKPOINT = "best.pt"
LAST_CHECKPOINT = "last.pt"


@dataclass
class FitResult:
    """Outcome of :meth:`Trainer.fit`.

    Attributes:
        status: ``completed`` or ``failed`` (``reason`` says why).
        best_epoch: Epoch (from 1) with the best monitored value, or None.
        epochs_run: Epochs trained, counting resumed ones.
        metrics: Validation metrics of the best epoch plus test metrics of its model.
        history: Metrics of every epoch.
    """

    status: str
    best_epoch: int | None
    epochs_run: int
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    reason: str | None = None
    duration_s: float = 0.0
    checkpoint: str | None = None


def score_split(model: nn.Module, split: RetrievalSplit, config: TrainConfig,
                evaluator: RetrievalEvaluator, device: torch.device, prefix: str,
                ) -> dict[str, float]:
    """Embeds a retrieval split with ``model`` and returns its metrics named ``prefix/...``.

    The split's queries are searched against its reference set when it has one (In-Shop's
    gallery), otherwise against themselves with each query excluded.
    """
    progress = config.trainer.progress
    batch, workers = config.eval.batch_size, config.dataset.num_workers
    query = extract_embeddings(model, split.query, batch, device, workers, progress,
                               f"{prefix} embed")
    reference = None
    if split.reference is not None:
        reference = extract_embeddings(model, split.reference, batch, device, workers, progress,
                                       f"{prefix} gallery")
    metrics = evaluator.evaluate(query, split.query_labels, reference, split.reference_labels)
    return {f"{prefix}/{k}": v for k, v in metrics.items()}


def build_evaluator(config: TrainConfig) -> RetrievalEvaluator:
    """The retrieval evaluator with the dataset's Ks and the run's evaluation settings."""
    return RetrievalEvaluator.from_config(config.dataset, config.eval)


def _batchnorms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


class Trainer:
    """Trains an embedding model with a metric-learning loss and selects the best epoch.

    Args:
        config: The validated run config.
        model: The embedding model (backbone + head).
        loss: The loss module; its parameters train at ``lr * lr_ratio``.
        data: Train / val / test splits.
        device: Where to train.
        run_dir: Where checkpoints go.
        callbacks: Objects with ``on_epoch_end(epoch, metrics)``.
    """

    def __init__(self, config: TrainConfig, model: EmbeddingModel, loss: nn.Module,
                 data: DataBundle, device: torch.device, run_dir: str | Path,
                 callbacks: Sequence[Callback] = (), generator: torch.Generator | None = None,
                 ) -> None:
        self.config = config
        self.model = model.to(device)
        self.loss = loss.to(device)
        self.data = data
        self.device = device
        self.run_dir = Path(run_dir)
        self.callbacks = list(callbacks)
        self.generator = generator or torch.Generator().manual_seed(config.seed)
        check_query_gallery(config.dataset.query_gallery, data.test.reference is not None,
                            config.dataset.name)
        self.evaluator = build_evaluator(config)
        self.batchnorm_params = {id(p) for bn in _batchnorms(model.backbone)
                                 for p in bn.parameters()}
        groups = param_groups(model.backbone.parameters(), model.head.parameters(),
                              loss.parameters(), config.optimizer)
        self.optimizer = build_optimizer(groups, config.optimizer)
        self.scheduler = build_scheduler(self.optimizer, config.scheduler)
        self.stopper = EarlyStopping(config.trainer.patience, "max", config.trainer.min_delta)
        self.start_epoch = 1
        self.history: list[dict[str, float]] = []
        self.step = 0

    # -- model state -----------------------------------------------------------------------
    def _set_backbone_trainable(self, trainable: bool) -> None:
        """Warm-up freezes the backbone; ``bn_freeze`` keeps BatchNorm frozen throughout."""
        for p in self.model.backbone.parameters():
            is_bn = id(p) in self.batchnorm_params
            p.requires_grad_(trainable and not (is_bn and self.config.trainer.bn_freeze))

    def _train_mode(self) -> None:
        self.model.train()
        self.loss.train()
        if self.config.trainer.bn_freeze:
            for bn in _batchnorms(self.model.backbone):
                bn.eval()

    # -- loops ---------------------------------------------------------------------------
    def _loader(self) -> DataLoader:
        sampler = SAMPLERS.get(self.config.dataset.sampler)(
            self.data.train_labels, self.config.dataset, self.generator)
        return DataLoader(self.data.train, batch_sampler=sampler,
                          num_workers=self.config.dataset.num_workers,
                          pin_memory=self.device.type == "cuda")

    def train_epoch(self, epoch: int) -> float:
        """One pass over the training set; returns the mean loss."""
        self._set_backbone_trainable(epoch > self.config.trainer.warmup_epochs)
        self._train_mode()
        clip = self.config.trainer.grad_clip
        total, batches = 0.0, 0
        bar = tqdm(self._loader(), desc=f"epoch {epoch}", leave=False,
                   disable=not self.config.trainer.progress)
        for images, labels in bar:
            images, labels = images.to(self.device), labels.to(self.device)
            value = self.loss(self.model(images), labels)
            self.step += 1
            if not torch.isfinite(value):
                hparams: dict[str, Any] = getattr(self.loss, "hyperparameters", dict)()
                raise NonFiniteLossError(self.config.loss.name, self.step, hparams,
                                        float(value.detach()))
            self.optimizer.zero_grad(set_to_none=True)
            value.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_value_(self.model.parameters(), clip)
            self.optimizer.step()
            total += float(value.detach())
            batches += 1
            bar.set_postfix(loss=f"{float(value.detach()):.4f}")
        self.scheduler.step()  # type: ignore[attr-defined]
        return total / max(batches, 1)

    def evaluate(self, split: RetrievalSplit, prefix: str) -> dict[str, float]:
        """Embeds a retrieval split and returns its metrics, keys prefixed ``prefix/``."""
        return score_split(self.model, split, self.config, self.evaluator, self.device, prefix)

    # -- checkpoints ---------------------------------------------------------------------
    def _state(self, epoch: int, metrics: Mapping[str, float], full: bool) -> dict[str, Any]:
        state: dict[str, Any] = {
            "model": self.model.state_dict(),
            "loss": self.loss.state_dict(),
            "config": config_to_dict(self.config),
            "metrics": dict(metrics),
            "epoch": epoch,
            "num_classes": self.data.num_classes,
            "in_channels": self.data.in_channels,
        }
        if full:
            state.update(
                optimizer=self.optimizer.state_dict(),
                scheduler=self.scheduler.state_dict(),  # type: ignore[attr-defined]
                early_stopping=self.stopper.state_dict(),
                history=self.history,
                rng=rng_state(),
                generator=self.generator.get_state(),
                step=self.step,
            )
        return state

    def resume(self, path: str | Path) -> None:
        """Restores everything saved in a ``last.pt`` so training continues after its epoch."""
        state = load_checkpoint(path, self.device)
        load_state_dict_checked(self.model, state["model"], f"Checkpoint {path}",
                                f"model {self.config.model.name!r} of this run")
        load_state_dict_checked(self.loss, state["loss"], f"Checkpoint {path}",
                                f"loss {self.config.loss.name!r} of this run "
                                f"({self.data.num_classes} training classes)")
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])  # type: ignore[attr-defined]
        self.stopper.load_state_dict(state["early_stopping"])
        self.history = list(state["history"])
        set_rng_state(state["rng"])
        self.generator.set_state(state["generator"])
        self.step = int(state["step"])
        self.start_epoch = int(state["epoch"]) + 1

    # -- fit -----------------------------------------------------------------------------
    def fit(self) -> FitResult:
        """Trains until ``max_epochs`` or early stopping; reports the best epoch's metrics.

        Without a validation split (``protocol=refit``) it trains all ``max_epochs`` and
        reports the last epoch's test metrics.

        A non-finite loss ends the run as ``failed``; the best checkpoint so far is kept.
        """
        cfg = self.config
        started = time.perf_counter()
        best_path = self.run_dir / BEST_CHECKPOINT
        epoch = self.start_epoch - 1
        status, reason = "completed", None
        try:
            for epoch in range(self.start_epoch, cfg.trainer.max_epochs + 1):
                if self.stopper.should_stop:
                    break
                train_loss = self.train_epoch(epoch)
                metrics = {"epoch": float(epoch), "train/loss": train_loss}
                if self.data.val is not None:
                    metrics.update(self.evaluate(self.data.val, "val"))
                self.history.append(metrics)
                # Without a validation split (protocol=refit) every epoch counts as the best,
                # so all max_epochs run and the last epoch's model is the one tested.
                value = (metrics.get(cfg.optimized_metric, math.nan)
                         if self.data.val is not None else float(epoch))
                if self.stopper.update(epoch, value):
                    save_checkpoint(self._state(epoch, metrics, full=False), best_path)
                if cfg.trainer.save_last:
                    save_checkpoint(self._state(epoch, metrics, full=True),
                                    self.run_dir / LAST_CHECKPOINT)
                for callback in self.callbacks:
                    callback.on_epoch_end(epoch, metrics)
        except NonFiniteLossError as exc:
            status, reason = "failed", str(exc)
        epochs_run = len(self.history)
        result = FitResult(status, self.stopper.best_epoch, epochs_run, history=self.history,
                           reason=reason, duration_s=time.perf_counter() - started)
        if self.stopper.best_epoch is not None and best_path.exists():
            best = load_checkpoint(best_path, self.device)
            self.model.load_state_dict(best["model"])
            self.loss.load_state_dict(best["loss"])
            result.metrics = {k: v for k, v in best["metrics"].items()
                              if k.startswith("val/")}
            result.metrics.update(self.evaluate(self.data.test, "test"))
            result.checkpoint = str(best_path)
            best["metrics"] = {**best["metrics"], **result.metrics}
            save_checkpoint(best, best_path)
        return result


def metrics_table(metrics: Mapping[str, float]) -> str:
    """A two-column (val, test) text table of metrics named ``split/metric``."""
    names: list[str] = []
    for key in metrics:
        split, _, name = key.partition("/")
        if split in ("val", "test") and name not in names and name != "num_lone_queries":
            names.append(name)
    width = max([len(n) for n in names] + [6])
    lines = [f"{'metric':<{width}}  {'val':>8}  {'test':>8}", "-" * (width + 20)]
    for name in names:
        cells = []
        for split in ("val", "test"):
            v = metrics.get(f"{split}/{name}")
            cells.append(f"{v:8.4f}" if v is not None and not np.isnan(v) else f"{'-':>8}")
        lines.append(f"{name:<{width}}  {cells[0]}  {cells[1]}")
    return "\n".join(lines)
