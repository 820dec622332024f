"""Datasets (a registry of readers), class-disjoint splits, samplers and transforms."""

from __future__ import annotations

from mfsearch.data import _benchmarks, _digits, _fashion_mnist  # noqa: F401  (register readers)
from mfsearch.data._bundle import (
    DATASETS,
    DataBundle,
    RetrievalSplit,
    SourceSplits,
    Transforms,
    build_data,
    prepare_images,
)
from mfsearch.data._cache import CachedRecords, DecodedImageCache, open_cache
from mfsearch.data._files import DatasetLayout, DatasetLayoutError, scan_images
from mfsearch.data._records import ArrayRecords, BadImageError, FileRecords, Records
from mfsearch.data._samplers import SAMPLERS, ClassBalancedBatchSampler
from mfsearch.data._splits import choose_validation_classes, contiguous_labels, split_by_classes
from mfsearch.data._transforms import TRANSFORMS, build_transforms

__all__ = [
    "DATASETS",
    "SAMPLERS",
    "TRANSFORMS",
    "ArrayRecords",
    "BadImageError",
    "CachedRecords",
    "ClassBalancedBatchSampler",
    "DataBundle",
    "DatasetLayout",
    "DatasetLayoutError",
    "DecodedImageCache",
    "FileRecords",
    "Records",
    "RetrievalSplit",
    "SourceSplits",
    "Transforms",
    "build_data",
    "build_transforms",
    "open_cache",
    "prepare_images",
    "scan_images",
    "choose_validation_classes",
    "contiguous_labels",
    "split_by_classes",
]
