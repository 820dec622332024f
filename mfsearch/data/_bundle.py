"""From a dataset source to train / validation / test sets ready for the trainer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from mfsearch._registry import Registry
from mfsearch.config import DatasetConfig
from mfsearch.data._cache import CachedRecords, open_cache
from mfsearch.data._files import scan_images, warn_skipped
from mfsearch.data._records import BadImageError, FileRecords, Records
from mfsearch.data._splits import (
    cap_per_class,
    choose_validation_classes,
    contiguous_labels,
    split_by_classes,
)


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
    """Per-sample transforms for training and for evaluation (None: use samples as stored).

    ``convention`` is the backbone input convention they were built for (``array``: the
    samples are used as stored; see :mod:`mfsearch.data._transforms`).
    """

    train: Callable[[Any], Any] | None = None
    eval: Callable[[Any], Any] | None = None
    convention: str = "array"


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
    skipped_images: int = 0

    def summary(self) -> dict[str, int]:
        out = {
            "train_images": len(self.train_labels),
            "train_classes": self.num_classes,
            "val_images": 0 if self.val is None else len(self.val),
            "val_classes": len(self.val_classes),
            "test_queries": len(self.test),
        }
        if self.test.reference_labels is not None:
            out["test_gallery"] = len(self.test.reference_labels)
        if self.skipped_images:
            out["skipped_images"] = self.skipped_images
        return out


def _require_convention(cfg: DatasetConfig, source: SourceSplits, transforms: Transforms,
                        ) -> list[FileRecords]:
    """The file-backed parts of ``source``; checks that the transforms suit them."""
    from mfsearch.config import ConfigError

    parts = [source.train, source.test_query, source.test_gallery]
    files = [part for part in parts if isinstance(part, FileRecords)]
    if files and transforms.train is None:
        raise ConfigError(
            f"dataset.name={cfg.name!r} holds image files, but the model takes in-memory "
            f"tensors (input convention {transforms.convention!r}, e.g. small_convnet). Use an "
            "image backbone such as model=resnet50 or model=bn_inception."
        )
    if not files and transforms.convention != "array":
        raise ConfigError(
            f"dataset.name={cfg.name!r} holds in-memory arrays, but the model expects images "
            f"(input convention {transforms.convention!r}). Use model=small_convnet."
        )
    return files


def prepare_images(cfg: DatasetConfig, source: SourceSplits, transforms: Transforms,
                   progress: bool = True) -> tuple[SourceSplits, int]:
    """Checks every image file up front and, with ``cfg.cache_dir``, switches to the cache.

    Unreadable files raise :class:`~mfsearch.data.BadImageError` naming the file, or are
    dropped (and counted) with ``cfg.skip_bad_images``. Returns the new source and the
    number of files dropped.
    """
    files = _require_convention(cfg, source, transforms)
    if not files:
        return source, 0
    paths, inverse = np.unique(np.concatenate([part.paths for part in files]).astype(str),
                               return_inverse=True)
    scan = scan_images(paths.tolist(), cfg.skip_bad_images, progress)
    usable = ~scan.bad
    cache = None
    if cfg.cache_dir is not None:
        cache = open_cache(cfg.cache_dir, cfg.name, paths.tolist(), scan.sizes, usable,
                           cfg.resize_size, cfg.skip_bad_images, max(cfg.num_workers, 1),
                           progress)
        usable = cache.ok
    warn_skipped(int((~usable).sum()), paths[~usable].tolist())
    converted: dict[int, Records] = {}
    start = 0
    for part in files:
        indices = inverse[start: start + len(part)]
        start += len(part)
        keep = usable[indices]
        if cache is not None:
            converted[id(part)] = CachedRecords(cache, indices[keep], part.labels[keep])
        else:
            converted[id(part)] = part.subset(np.flatnonzero(keep))

    def swap(part: Records | None) -> Records | None:
        return None if part is None else converted.get(id(part), part)

    new = SourceSplits(train=swap(source.train),  # type: ignore[arg-type]
                       test_query=swap(source.test_query),  # type: ignore[arg-type]
                       test_gallery=swap(source.test_gallery), in_channels=source.in_channels)
    for name, records in (("train", new.train), ("test", new.test_query)):
        if len(records) == 0:
            raise BadImageError(f"Every image of the {name} split of {cfg.name!r} is unreadable.")
    return new, int((~usable).sum())


def _retrieval(query: Records, reference: Records | None, transform: Any) -> RetrievalSplit:
    return RetrievalSplit(
        query=query.to_dataset(transform),
        query_labels=np.asarray(query.labels),
        reference=None if reference is None else reference.to_dataset(transform),
        reference_labels=None if reference is None else np.asarray(reference.labels),
    )


def build_data(cfg: DatasetConfig, transforms: Transforms | None = None,
               progress: bool = True) -> DataBundle:
    """Reads the configured dataset and splits it into class-disjoint train / val / test.

    Image files are checked (and cached, with ``cfg.cache_dir``) before anything else.

    Args:
        cfg: The dataset config.
        transforms: Sample transforms (image data sets); None keeps samples as stored.
        progress: Show progress bars while checking or caching images.
    """
    transforms = transforms or Transforms()
    source, skipped = prepare_images(cfg, DATASETS.get(cfg.name)(cfg), transforms, progress)
    train = source.train
    val_classes: list[int] = []
    val: RetrievalSplit | None = None
    if cfg.split.protocol == "val":
        held_out = choose_validation_classes(train.labels, cfg.split.val_fraction, cfg.split.seed)
        val_idx, train_idx = split_by_classes(train.labels, held_out)
        if cfg.split.val_per_class is not None:
            val_idx = val_idx[cap_per_class(train.labels[val_idx], cfg.split.val_per_class,
                                            cfg.split.seed)]
        val = _retrieval(train.subset(val_idx), None, transforms.eval)
        train = train.subset(train_idx)
        val_classes = [int(c) for c in held_out]
    test = _retrieval(source.test_query, source.test_gallery, transforms.eval)
    if cfg.split.protocol == "test":
        val = test
    if cfg.split.train_per_class is not None:
        train = train.subset(cap_per_class(train.labels, cfg.split.train_per_class,
                                           cfg.split.seed))
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
        skipped_images=skipped,
    )
