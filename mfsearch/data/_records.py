"""Labelled samples before they become torch datasets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset


class Records(Protocol):
    """A labelled collection that can be subset and turned into a torch dataset."""

    labels: np.ndarray

    def __len__(self) -> int: ...

    def subset(self, indices: np.ndarray) -> Records: ...

    def relabel(self, labels: np.ndarray) -> Records: ...

    def to_dataset(self, transform: Callable[[Any], torch.Tensor] | None) -> Dataset: ...


class _ArrayDataset(Dataset):
    def __init__(self, images: torch.Tensor, labels: np.ndarray,
                 transform: Callable[[Any], torch.Tensor] | None) -> None:
        self.images = images
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, self.labels[index]


@dataclass(frozen=True)
class ArrayRecords:
    """Small images held in memory as a float tensor of shape (N, C, H, W) in [0, 1]."""

    images: torch.Tensor
    labels: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), but got {self.images.shape=}")
        if len(self.images) != len(self.labels):
            raise ValueError(
                f"images and labels differ in length: {len(self.images)=} {len(self.labels)=}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> ArrayRecords:
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return ArrayRecords(self.images[idx], np.asarray(self.labels)[np.asarray(indices)])

    def relabel(self, labels: np.ndarray) -> ArrayRecords:
        return ArrayRecords(self.images, np.asarray(labels, dtype=np.int64))

    def to_dataset(self, transform: Callable[[Any], torch.Tensor] | None) -> Dataset:
        return _ArrayDataset(self.images, self.labels, transform)
