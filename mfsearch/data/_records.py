"""Labelled samples before they become torch datasets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset


class BadImageError(ValueError):
    """An image file cannot be read; the message names the file and the way out."""


def bad_image_error(path: str, exc: BaseException) -> BadImageError:
    """The error for an unreadable image ``path``."""
    return BadImageError(
        f"Cannot read image {path}: {exc}. Replace or delete the file, or set "
        "dataset.skip_bad_images=true to skip unreadable images with a warning."
    )


def load_rgb(path: str) -> Image.Image:
    """Decodes ``path`` into an RGB PIL image; raises :class:`BadImageError` naming it."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError, SyntaxError) as exc:
        raise bad_image_error(path, exc) from exc


class Records(Protocol):
    """A labelled collection that can be subset and turned into a torch dataset."""

    @property
    def labels(self) -> np.ndarray: ...

    def __len__(self) -> int: ...

    def subset(self, indices: np.ndarray) -> Records: ...

    def relabel(self, labels: np.ndarray) -> Records: ...

    def to_dataset(self, transform: Callable[[Any], torch.Tensor] | None) -> Dataset: ...


class LabelledDataset(Dataset):
    """A torch dataset of (transformed sample, label); subclasses implement :meth:`load`."""

    def __init__(self, labels: np.ndarray, transform: Callable[[Any], Any] | None) -> None:
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        self.transform = transform

    def load(self, index: int) -> Any:
        """The stored sample ``index`` before the transform."""
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Any, torch.Tensor]:
        sample = self.load(index)
        if self.transform is not None:
            sample = self.transform(sample)
        return sample, self.labels[index]


class _ArrayDataset(LabelledDataset):
    def __init__(self, images: torch.Tensor, labels: np.ndarray,
                 transform: Callable[[Any], torch.Tensor] | None) -> None:
        super().__init__(labels, transform)
        self.images = images

    def load(self, index: int) -> torch.Tensor:
        return self.images[index]


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


class _FileDataset(LabelledDataset):
    def __init__(self, paths: Sequence[str], labels: np.ndarray,
                 transform: Callable[[Any], torch.Tensor] | None) -> None:
        super().__init__(labels, transform)
        self.paths = list(paths)

    def load(self, index: int) -> Image.Image:
        return load_rgb(self.paths[index])


@dataclass(frozen=True)
class FileRecords:
    """Images stored as files (decoded with PIL when a sample is read) and their labels."""

    paths: np.ndarray
    labels: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", np.asarray(self.paths, dtype=object))
        object.__setattr__(self, "labels", np.asarray(self.labels, dtype=np.int64))
        if self.paths.ndim != 1 or len(self.paths) != len(self.labels):
            raise ValueError(
                f"paths and labels must be 1-d of one length, but got {self.paths.shape=} "
                f"{self.labels.shape=}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> FileRecords:
        idx = np.asarray(indices, dtype=np.int64)
        return FileRecords(self.paths[idx], self.labels[idx])

    def relabel(self, labels: np.ndarray) -> FileRecords:
        return FileRecords(self.paths, labels)

    def to_dataset(self, transform: Callable[[Any], torch.Tensor] | None) -> Dataset:
        return _FileDataset(self.paths.tolist(), self.labels, transform)
