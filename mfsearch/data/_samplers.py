"""Batch samplers for training: random batches, or class-balanced ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import BatchSampler, RandomSampler, Sampler

from mfsearch._registry import Registry
from mfsearch.config import DatasetConfig

SamplerFactory = Callable[[np.ndarray, DatasetConfig, torch.Generator], Sampler[list[int]]]

SAMPLERS: Registry[SamplerFactory] = Registry("sampler", "dataset.sampler")


class ClassBalancedBatchSampler(Sampler[list[int]]):
    """Batches of ``batch_size // images_per_class`` classes, ``images_per_class`` each.

    Classes with fewer images than ``images_per_class`` are drawn with replacement. An
    epoch has ``len(labels) // batch_size`` batches, like random sampling with drop_last.
    """

    def __init__(self, labels: np.ndarray, batch_size: int, images_per_class: int,
                 generator: torch.Generator) -> None:
        if images_per_class < 1 or batch_size % images_per_class:
            raise ValueError(
                "batch_size must be a multiple of images_per_class, "
                f"but got {batch_size=} {images_per_class=}"
            )
        labels = np.asarray(labels)
        self.by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
        self.classes_per_batch = batch_size // images_per_class
        if self.classes_per_batch > len(self.by_class):
            raise ValueError(
                f"batch_size / images_per_class = {self.classes_per_batch} classes per batch, "
                f"but the training set has only {len(self.by_class)} classes"
            )
        self.images_per_class = images_per_class
        self.num_batches = max(len(labels) // batch_size, 1)
        self.generator = generator

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator))
        rng = np.random.default_rng(seed)
        for _ in range(self.num_batches):
            batch: list[int] = []
            for c in rng.choice(len(self.by_class), self.classes_per_batch, replace=False):
                members = self.by_class[c]
                replace = len(members) < self.images_per_class
                batch.extend(rng.choice(members, self.images_per_class, replace=replace).tolist())
            yield batch


@SAMPLERS.register("random")
def random_batches(labels: np.ndarray, cfg: DatasetConfig,
                   generator: torch.Generator) -> Sampler[list[int]]:
    """Uniformly shuffled batches; the last incomplete batch is dropped."""
    return BatchSampler(RandomSampler(range(len(labels)), generator=generator),
                        cfg.batch_size, drop_last=True)


@SAMPLERS.register("class_balanced")
def class_balanced_batches(labels: np.ndarray, cfg: DatasetConfig,
                           generator: torch.Generator) -> Sampler[list[int]]:
    """See :class:`ClassBalancedBatchSampler`."""
    return ClassBalancedBatchSampler(labels, cfg.batch_size, cfg.images_per_class, generator)
