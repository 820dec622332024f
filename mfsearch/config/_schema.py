"""Structured configs: one dataclass per config group, each validating itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mfsearch.config._errors import check

PROTOCOLS = ("val", "test", "refit")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class SplitConfig:
    """How the training classes are split into train and validation classes.

    ``protocol="val"`` holds out ``val_fraction`` of the training classes (chosen with
    ``seed``) for model selection; ``protocol="test"`` monitors the test classes, as the
    paper's code does; ``protocol="refit"`` trains on all training classes with no
    validation split (re-runs of a chosen configuration): every epoch runs, without early
    stopping, and the last epoch's model is evaluated on the test classes.
    """

    protocol: str = "val"
    val_fraction: float = 0.2
    seed: int = 0
    val_per_class: int | None = None
    train_per_class: int | None = None

    def __post_init__(self) -> None:
        check(self.train_per_class is None or self.train_per_class >= 1,
              "dataset.split.train_per_class", self.train_per_class,
              "must be at least 1, or null for all")
        check(self.val_per_class is None or self.val_per_class >= 2,
              "dataset.split.val_per_class", self.val_per_class,
              "must be at least 2 (a query needs another image of its class), or null for all")
        check(self.protocol in PROTOCOLS, "dataset.split.protocol", self.protocol,
              f"must be one of {', '.join(PROTOCOLS)}")
        check(0.0 < self.val_fraction < 1.0, "dataset.split.val_fraction", self.val_fraction,
              "must lie strictly between 0 and 1")


@dataclass
class DatasetConfig:
    """Which data set, where it lives, how it is split and batched, and its metric set.

    Image data sets are resized to ``resize_size`` (short side) and centre-cropped to
    ``crop_size`` for evaluation, random-resized-cropped to ``crop_size`` for training.
    ``cache_dir`` (optional) holds decoded images resized once, shared by every trial;
    ``skip_bad_images`` skips unreadable images with a warning instead of failing.
    """

    name: str = "digits"
    root: str | None = None
    split: SplitConfig = field(default_factory=SplitConfig)
    batch_size: int = 64
    num_workers: int = 0
    sampler: str = "random"
    images_per_class: int = 4
    recall_ks: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    query_gallery: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    crop_size: int = 224
    resize_size: int = 256
    cache_dir: str | None = None
    skip_bad_images: bool = False

    def __post_init__(self) -> None:
        check(self.crop_size >= 1, "dataset.crop_size", self.crop_size, "must be at least 1")
        check(self.resize_size >= self.crop_size, "dataset.resize_size", self.resize_size,
              f"must be at least dataset.crop_size={self.crop_size} (the evaluation "
              "transform resizes the short side to resize_size, then crops crop_size)")
        check(self.batch_size >= 2, "dataset.batch_size", self.batch_size, "must be at least 2")
        check(self.num_workers >= 0, "dataset.num_workers", self.num_workers, "must be >= 0")
        check(self.images_per_class >= 1, "dataset.images_per_class", self.images_per_class,
              "must be at least 1")
        check(len(self.recall_ks) > 0 and all(int(k) >= 1 for k in self.recall_ks),
              "dataset.recall_ks", self.recall_ks, "must be a non-empty list of integers >= 1")


@dataclass
class ModelConfig:
    """Backbone name, embedding size and pretrained weights (``none``, ``imagenet`` or a path)."""

    name: str = "small_convnet"
    embedding_size: int = 64
    pretrained: str = "none"
    width: int = 32

    def __post_init__(self) -> None:
        check(self.embedding_size >= 1, "model.embedding_size", self.embedding_size,
              "must be at least 1")
        check(self.width >= 1, "model.width", self.width, "must be at least 1")


@dataclass
class LossConfig:
    """Loss name plus its own hyperparameters, which the loss registry validates."""

    name: str = "mf_cwms"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimizerConfig:
    """Optimizer; loss parameters (mean fields, proxies) train at ``lr * lr_ratio``."""

    name: str = "adamw"
    lr: float = 1e-3
    lr_ratio: float = 100.0
    weight_decay: float = 1e-4
    momentum: float = 0.9

    def __post_init__(self) -> None:
        check(self.lr > 0, "optimizer.lr", self.lr, "must be > 0")
        check(self.lr_ratio > 0, "optimizer.lr_ratio", self.lr_ratio, "must be > 0")
        check(self.weight_decay >= 0, "optimizer.weight_decay", self.weight_decay, "must be >= 0")
        check(0 <= self.momentum < 1, "optimizer.momentum", self.momentum, "must lie in [0, 1)")


@dataclass
class SchedulerConfig:
    """Learning-rate schedule, stepped once per epoch (``step`` is the paper's StepLR)."""

    name: str = "step"
    step_size: int = 10
    gamma: float = 0.5

    def __post_init__(self) -> None:
        check(self.step_size >= 1, "scheduler.step_size", self.step_size, "must be at least 1")
        check(0 < self.gamma <= 1, "scheduler.gamma", self.gamma, "must lie in (0, 1]")


@dataclass
class TrainerConfig:
    """The training loop: epochs, early stopping, warm-up, BatchNorm freezing, clipping."""

    max_epochs: int = 60
    patience: int = 10
    min_delta: float = 0.0
    warmup_epochs: int = 0
    bn_freeze: bool = False
    grad_clip: float | None = 10.0
    progress: bool = True
    save_last: bool = True

    def __post_init__(self) -> None:
        check(self.max_epochs >= 1, "trainer.max_epochs", self.max_epochs, "must be at least 1")
        check(self.patience >= 0, "trainer.patience", self.patience, "must be >= 0")
        check(self.min_delta >= 0, "trainer.min_delta", self.min_delta, "must be >= 0")
        check(self.warmup_epochs >= 0, "trainer.warmup_epochs", self.warmup_epochs,
              "must be >= 0")
        check(self.grad_clip is None or self.grad_clip > 0, "trainer.grad_clip", self.grad_clip,
              "must be > 0, or null to disable clipping")


@dataclass
class EvalConfig:
    """Retrieval evaluation: extraction batch size, k-NN device and memory budget."""

    batch_size: int = 256
    device: str = "auto"
    memory_budget_mb: float = 512.0
    nmi: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        check(self.batch_size >= 1, "eval.batch_size", self.batch_size, "must be at least 1")
        check(self.device in DEVICES, "eval.device", self.device,
              f"must be one of {', '.join(DEVICES)}")
        check(self.memory_budget_mb > 0, "eval.memory_budget_mb", self.memory_budget_mb,
              "must be > 0")


@dataclass
class TrialConfig:
    """Identity of the Optuna trial this run belongs to; all null outside a sweep."""

    storage: str | None = None
    study_name: str | None = None
    trial_id: int | None = None
    number: int | None = None


@dataclass
class TrainConfig:
    """The whole training run, as composed by Hydra from ``conf/train.yaml``."""

    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    trial: TrialConfig = field(default_factory=TrialConfig)
    seed: int = 1
    device: str = "auto"
    optimized_metric: str = "val/map_at_r"
    run_dir: str = "studies/runs/latest"

    def __post_init__(self) -> None:
        check(self.device in DEVICES, "device", self.device, f"must be one of {', '.join(DEVICES)}")
        split, _, metric = self.optimized_metric.partition("/")
        check(split == "val" and bool(metric), "optimized_metric", self.optimized_metric,
              "must name a validation metric such as 'val/map_at_r'")


@dataclass
class EvaluateConfig:
    """``python -m mfsearch.evaluate``: which checkpoint to score, and where.

    The model, dataset and metric set come from the config stored in the checkpoint;
    ``dataset_root``, ``device`` and ``batch_size`` override it where set.
    """

    checkpoint: str | None = None
    device: str | None = None
    dataset_root: str | None = None
    batch_size: int | None = None
    output: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        check(bool(self.checkpoint), "checkpoint", self.checkpoint,
              "is required: name a checkpoint written by training, e.g. "
              "checkpoint=studies/runs/<run>/best.pt")
        check(self.device is None or self.device in DEVICES, "device", self.device,
              f"must be one of {', '.join(DEVICES)}, or null for the checkpoint's own setting")
        check(self.batch_size is None or self.batch_size >= 1, "batch_size", self.batch_size,
              "must be at least 1, or null for the checkpoint's own setting")
