"""Datasets (a registry of readers), class-disjoint splits, samplers and transforms."""

from __future__ import annotations

from mfsearch.data import _digits  # noqa: F401  (registers the digits reader)
from mfsearch.data._bundle import (
    DATASETS,
    DataBundle,
    RetrievalSplit,
    SourceSplits,
    Transforms,
    build_data,
)
from mfsearch.data._records import ArrayRecords, Records
from mfsearch.data._samplers import SAMPLERS, ClassBalancedBatchSampler
from mfsearch.data._splits import choose_validation_classes, contiguous_labels, split_by_classes

__all__ = [
    "DATASETS",
    "SAMPLERS",
    "ArrayRecords",
    "ClassBalancedBatchSampler",
    "DataBundle",
    "Records",
    "RetrievalSplit",
    "SourceSplits",
    "Transforms",
    "build_data",
    "choose_validation_classes",
    "contiguous_labels",
    "split_by_classes",
]
