"""Locating a dataset on disk, and checking its image files before any long work starts."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from mfsearch.config import ConfigError, DatasetConfig
from mfsearch.data._records import BadImageError, bad_image_error

log = logging.getLogger(__name__)


class DatasetLayoutError(ConfigError):
    """A dataset root is missing or not in the dataset's layout; the message says what to do."""


@dataclass(frozen=True)
class DatasetLayout:
    """Where a dataset lives and which files mark its layout.

    Attributes:
        name: Registry name, e.g. ``cub``.
        folder: The paper's folder name under ``data/``, e.g. ``CUB_200_2011``.
        markers: Paths relative to the dataset folder that must exist.
        layout: One line describing the expected layout, for error messages.
        download_page: Where the dataset can be downloaded.
        default_root: The root used when ``dataset.root`` is null (default ``data/<folder>``).
    """

    name: str
    folder: str
    markers: tuple[str, ...]
    layout: str
    download_page: str
    default_root: str | None = None

    def locate(self, cfg: DatasetConfig) -> Path:
        """The dataset folder for ``cfg.root``; raises :class:`DatasetLayoutError` if absent.

        ``dataset.root`` may name the dataset folder itself or the ``data/`` folder above it.
        """
        default = self.default_root or os.path.join("data", self.folder)
        root = Path(cfg.root if cfg.root is not None else default)
        candidates = [root, root / self.folder]
        for candidate in candidates:
            if all((candidate / marker).exists() for marker in self.markers):
                return candidate
        missing = [m for m in self.markers if not (root / m).exists()]
        where = "does not exist" if not root.exists() else f"lacks {', '.join(missing)}"
        raise DatasetLayoutError(
            f"dataset.root={str(root)!r} for dataset {self.name!r} {where} "
            f"(resolved: {root.resolve()}). Expected {self.layout}. Download the dataset from "
            f"{self.download_page}, unpack it, and set dataset.root to the folder that holds "
            f"{', '.join(self.markers)} (default: {default})."
        )


def read_header_size(path: str) -> tuple[int, int]:
    """(width, height) from an image file's header; raises :class:`BadImageError` naming it."""
    try:
        if os.path.getsize(path) == 0:
            raise OSError("the file is empty")
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError, SyntaxError) as exc:
        raise bad_image_error(path, exc) from exc


@dataclass(frozen=True)
class ImageScan:
    """Header sizes of image files; ``sizes[i]`` is (width, height), (0, 0) when unreadable."""

    paths: np.ndarray
    sizes: np.ndarray
    bad: np.ndarray

    @property
    def num_bad(self) -> int:
        return int(self.bad.sum())


def scan_images(paths: Sequence[str], skip_bad: bool, progress: bool = True) -> ImageScan:
    """Checks that every file exists and has a readable image header (cheap: no decoding).

    Args:
        paths: Image files.
        skip_bad: Mark unreadable files instead of raising.
        progress: Show a progress bar.

    Raises:
        BadImageError: Naming the first unreadable file, unless ``skip_bad``.
    """
    sizes = np.zeros((len(paths), 2), dtype=np.int64)
    bad = np.zeros(len(paths), dtype=bool)
    for i, path in enumerate(tqdm(paths, desc="checking images", leave=False,
                                  disable=not progress or len(paths) < 1000)):
        try:
            sizes[i] = read_header_size(path)
        except BadImageError:
            if not skip_bad:
                raise
            bad[i] = True
    return ImageScan(np.asarray(paths, dtype=object), sizes, bad)


def warn_skipped(count: int, examples: Sequence[str]) -> None:
    """Logs how many unreadable images were skipped (``dataset.skip_bad_images=true``)."""
    if count:
        shown = ", ".join(examples[:3])
        log.warning("skipped %d unreadable image(s) (dataset.skip_bad_images=true), e.g. %s",
                    count, shown)
