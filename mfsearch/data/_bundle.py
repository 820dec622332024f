"""From a dataset source to train / validation / test sets ready for the trainer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from mfsearch._registry import Registry
from mfsearch.config import DatasetConfig
from mfsearch.data._records import Records
from mfsearch.data._splits import choose_validation_classes, contiguous_labels, split_by_classes


@dataclass(frozen=True)
class SourceSplits:
    """What a dataset reader returns: training records and test records.

    ``test_gallery`` is set for query/gallery benchmarks (In-Shop); otherwise the test
    queries are searched against themselves, each query excluded from its own neighbours.
    """

    train: Records
    test_query: Records
    test_gallery: Records | None = None
    in_channels: int = 3


DatasetReader = Callable[[DatasetConfig], SourceSplits]

DATASETS: Registry[DatasetReader] = Registry("dataset", "dataset.name")


@dataclass(frozen=True)
class Transforms:
    """Per-sample transforms for training and for evaluation (None: use samples as stored)."""

    train: Callable[[Any], Any] | None = None
    eval: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class RetrievalSplit:
    """Query samples and, optionally, a separate reference (gallery) set."""

    query: Dataset
    query_labels: np.ndarray
    reference: Dataset | None = None
    reference_labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.query_labels)


@dataclass(frozen=True)
class DataBundle:
    """Everything the trainer needs from the data side.

    Attributes:
        train: Training samples, labels relabelled to 0..num_classes-1.
        val: Validation retrieval split (the test split under ``protocol=test``; None under
            ``protocol=refit``, which trains on every training class).
        test: Test retrieval split (reported, never used for model selection).
        val_classes: Original ids of the classes held out for validation.
    """

    train: Dataset
    train_labels: np.ndarray
    num_classes: int
    val: RetrievalSplit | None
    test: RetrievalSplit
    in_channels: int
    val_classes: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        out = {
            "train_images": len(self.train_labels),
            "train_classes": self.num_classes,
            "val_images": 0 if self.val is None else len(self.val),
            "test_queries": len(self.test),
        }
        if self.test.reference_labels is not None:
            out["test_gallery"] = len(self.test.reference_labels)
        return out


def _retrieval(query: Records, reference: Records | None, transform: Any) -> RetrievalSplit:
    return RetrievalSplit(
        query=query.to_dataset(transform),
        query_labels=np.asarray(query.labels),
        reference=None if reference is None else reference.to_dataset(transform),
        reference_labels=None if reference is None else np.asarray(reference.labels),
    )


def build_data(cfg: DatasetConfig, transforms: Transforms | None = None) -> DataBundle:
    """Reads the configured dataset and splits it into class-disjoint train / val / test.

    Args:
        cfg: The dataset config.
        transforms: Sample transforms (image data sets); None keeps samples as stored.
    """
    transforms = transforms or Transforms()
    source = DATASETS.get(cfg.name)(cfg)
    train = source.train
    val_classes: list[int] = []
    val: RetrievalSplit | None = None
    if cfg.split.protocol == "val":
        held_out = choose_validation_classes(train.labels, cfg.split.val_fraction, cfg.split.seed)
        val_idx, train_idx = split_by_classes(train.labels, held_out)
        val = _retrieval(train.subset(val_idx), None, transforms.eval)
        train = train.subset(train_idx)
        val_classes = [int(c) for c in held_out]
    test = _retrieval(source.test_query, source.test_gallery, transforms.eval)
    if cfg.split.protocol == "test":
        val = test
    labels, _ = contiguous_labels(train.labels)
    train = train.relabel(labels)
    if cfg.batch_size > len(labels):
        from mfsearch.config import ConfigError

        raise ConfigError(
            f"dataset.batch_size={cfg.batch_size} is invalid: it is larger than the training "
            f"set ({len(labels)} images of dataset {cfg.name!r}). Use at most {len(labels)}."
        )
    return DataBundle(
        train=train.to_dataset(transforms.train),
        train_labels=labels,
        num_classes=int(labels.max()) + 1,
        val=val,
        test=test,
        in_channels=source.in_channels,
        val_classes=val_classes,
    )
