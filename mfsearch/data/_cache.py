"""A decoded-image cache: images decoded and resized once, stored as uint8, shared by trials.

Every image is decoded with PIL and resized so its short side is ``dataset.resize_size``
(exactly what the evaluation transform does first), then stored row after row in one flat
uint8 file. Trials and data-loader workers map that file read-only. A cache lives in
``<cache_dir>/<dataset>-<size>-<fingerprint>/``, where the fingerprint covers the size and
every source file's path, byte size and modification time: a changed file or size selects
a new cache. A cache is built in a temporary folder and renamed into place when complete
(under a file lock, so concurrent trials build it once); readers never see a partial cache.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF
from tqdm.auto import tqdm

from mfsearch.data._records import BadImageError, LabelledDataset, load_rgb

FORMAT_VERSION = 1
PIXELS = "pixels.u8"
INDEX = "index.npz"
META = "meta.json"


def resized_shape(width: int, height: int, size: int) -> tuple[int, int]:
    """(height, width) after resizing the short side to ``size`` (torchvision's rule)."""
    if width <= 0 or height <= 0:
        return 0, 0
    if width <= height:
        return int(size * height / width), size
    return size, int(size * width / height)


def fingerprint(paths: Sequence[str], size: int) -> str:
    """Hash of the size and each file's path, byte size and modification time."""
    digest = hashlib.sha256(f"v{FORMAT_VERSION} size={size}\n".encode())
    for path in paths:
        try:
            stat = os.stat(path)
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()


class DecodedImageCache:
    """A built cache, opened read-only; ``image(i)`` is a uint8 (3, H, W) tensor.

    Attributes:
        ok: Whether image ``i`` decoded (False only for images skipped as unreadable).
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        index = np.load(self.directory / INDEX)
        self.offsets = index["offsets"]
        self.heights = index["heights"]
        self.widths = index["widths"]
        self.ok = index["ok"]
        self._pixels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ok)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_pixels"] = None  # each process maps the file itself
        return state

    @property
    def pixels(self) -> np.ndarray:
        if self._pixels is None:
            total = int(self.offsets[-1]) if len(self.offsets) else 0
            self._pixels = (np.memmap(self.directory / PIXELS, dtype=np.uint8, mode="r",
                                      shape=(total,)) if total else np.zeros(0, np.uint8))
        return self._pixels

    def image(self, index: int) -> torch.Tensor:
        """Image ``index`` as a uint8 (3, H, W) tensor (channels-last memory)."""
        if not self.ok[index]:
            raise IndexError(f"image {index} of the cache {self.directory} was skipped")
        start, stop = int(self.offsets[index]), int(self.offsets[index + 1])
        height, width = int(self.heights[index]), int(self.widths[index])
        array = np.array(self.pixels[start:stop]).reshape(height, width, 3)
        return torch.from_numpy(array).permute(2, 0, 1)


def _decode_into(directory: str, total: int, size: int,
                 jobs: list[tuple[int, str, int, int, int]]) -> list[tuple[int, str]]:
    """Decodes and resizes ``jobs`` (index, path, offset, height, width) into the file."""
    pixels = np.memmap(Path(directory) / PIXELS, dtype=np.uint8, mode="r+", shape=(total,))
    failures = []
    for index, path, offset, height, width in jobs:
        try:
            image = np.asarray(TF.resize(load_rgb(path), [size], antialias=True))
        except BadImageError as exc:
            failures.append((index, str(exc)))
            continue
        if image.shape != (height, width, 3):
            failures.append((index, f"Cannot cache image {path}: decoded to shape "
                                    f"{image.shape}, its header promised {(height, width, 3)}"))
            continue
        pixels[offset: offset + image.size] = image.reshape(-1)
    pixels.flush()
    return failures


def _build(directory: Path, paths: Sequence[str], sizes: np.ndarray, usable: np.ndarray,
           size: int, skip_bad: bool, workers: int, progress: bool) -> None:
    shapes = np.array([resized_shape(int(w), int(h), size) if use else (0, 0)
                       for (w, h), use in zip(sizes, usable, strict=True)],
                      dtype=np.int64).reshape(-1, 2)
    offsets = np.zeros(len(paths) + 1, dtype=np.int64)
    np.cumsum(shapes[:, 0] * shapes[:, 1] * 3, out=offsets[1:])
    total = int(offsets[-1])
    with open(directory / PIXELS, "wb") as handle:
        handle.truncate(total)
    jobs = [(i, str(paths[i]), int(offsets[i]), int(shapes[i, 0]), int(shapes[i, 1]))
            for i in np.flatnonzero(usable).tolist()]
    chunks = [jobs[i: i + 256] for i in range(0, len(jobs), 256)]
    failures: list[tuple[int, str]] = []
    bar = tqdm(total=len(jobs), desc="caching images", leave=False, disable=not progress)
    if workers > 1 and len(chunks) > 1:
        with ProcessPoolExecutor(workers) as pool:
            futures = [pool.submit(_decode_into, str(directory), total, size, c) for c in chunks]
            for future, chunk in zip(futures, chunks, strict=True):
                failures += future.result()
                bar.update(len(chunk))
    else:
        for chunk in chunks:
            failures += _decode_into(str(directory), total, size, chunk)
            bar.update(len(chunk))
    bar.close()
    if failures and not skip_bad:
        raise BadImageError(failures[0][1])
    ok = usable.copy()
    ok[[index for index, _ in failures]] = False
    np.savez(directory / INDEX, offsets=offsets, heights=shapes[:, 0], widths=shapes[:, 1], ok=ok)
    (directory / META).write_text(json.dumps({"version": FORMAT_VERSION, "size": size,
                                              "images": len(paths)}))


def open_cache(cache_dir: str | Path, name: str, paths: Sequence[str], sizes: np.ndarray,
               usable: np.ndarray, size: int, skip_bad: bool = False, workers: int = 1,
               progress: bool = True) -> DecodedImageCache:
    """Opens the cache of ``paths`` resized to ``size``, building it first if needed.

    Args:
        cache_dir: Folder shared by the trials (``dataset.cache_dir``).
        name: Dataset name, part of the cache's folder name.
        paths: Every image file of the dataset, in a fixed order.
        sizes: (width, height) of each file from its header.
        usable: False for files already known to be unreadable (skipped).
        size: Short side of the cached images (``dataset.resize_size``).
        skip_bad: Mark images that fail to decode as skipped instead of raising.
        workers: Processes that decode in parallel.
        progress: Show a progress bar while building.

    Raises:
        BadImageError: An image does not decode (unless ``skip_bad``); nothing is kept.
    """
    root = Path(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{name}-{size}-{fingerprint(paths, size)[:24]}"
    if not (final / META).exists():
        with open(root / f"{final.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not (final / META).exists():
                    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
                    try:
                        _build(tmp, paths, sizes, usable, size, skip_bad, workers, progress)
                        os.replace(tmp, final)
                    finally:
                        shutil.rmtree(tmp, ignore_errors=True)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    return DecodedImageCache(final)


class _CachedDataset(LabelledDataset):
    def __init__(self, cache: DecodedImageCache, indices: np.ndarray, labels: np.ndarray,
                 transform: Callable[[Any], torch.Tensor] | None) -> None:
        super().__init__(labels, transform)
        self.cache = cache
        self.indices = np.asarray(indices, dtype=np.int64)

    def load(self, index: int) -> torch.Tensor:
        return self.cache.image(int(self.indices[index]))


@dataclass(frozen=True)
class CachedRecords:
    """Records whose images come from a :class:`DecodedImageCache` (``indices`` into it)."""

    cache: DecodedImageCache
    indices: np.ndarray
    labels: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.indices) != len(self.labels):
            raise ValueError(
                f"indices and labels differ in length: {len(self.indices)=} {len(self.labels)=}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> CachedRecords:
        idx = np.asarray(indices, dtype=np.int64)
        return CachedRecords(self.cache, np.asarray(self.indices)[idx],
                             np.asarray(self.labels)[idx])

    def relabel(self, labels: np.ndarray) -> CachedRecords:
        return CachedRecords(self.cache, self.indices, np.asarray(labels, dtype=np.int64))

    def to_dataset(self, transform: Callable[[Any], torch.Tensor] | None) -> Dataset:
        return _CachedDataset(self.cache, self.indices, self.labels, transform)
