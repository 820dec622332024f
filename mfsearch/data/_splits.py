"""Class-disjoint splits: train / validation classes, contiguous relabelling."""

from __future__ import annotations

import numpy as np


def split_by_classes(labels: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of samples whose label is in ``classes``, and of the others."""
    labels = np.asarray(labels)
    mask = np.isin(labels, np.asarray(classes))
    return np.flatnonzero(mask), np.flatnonzero(~mask)


def choose_validation_classes(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Picks ``fraction`` of the distinct classes in ``labels`` (at least one, not all).

    The choice depends only on the sorted class ids and ``seed``, so it is reproducible.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must lie strictly between 0 and 1, but got {fraction=}")
    classes = np.unique(np.asarray(labels))
    if len(classes) < 2:
        raise ValueError(
            f"A validation split needs at least 2 training classes, but got {len(classes)=}"
        )
    count = int(round(fraction * len(classes)))
    count = min(max(count, 1), len(classes) - 1)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(classes, size=count, replace=False))


def contiguous_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maps labels to 0..C-1 in sorted order; returns (new labels, original class ids)."""
    classes, inverse = np.unique(np.asarray(labels), return_inverse=True)
    return inverse.astype(np.int64), classes


def cap_per_class(labels: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``cap`` samples of each class, drawn with ``seed``."""
    if cap < 1:
        raise ValueError(f"cap must be at least 1, but got {cap=}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    keep = [members if len(members) <= cap else rng.choice(members, cap, replace=False)
            for members in (np.flatnonzero(labels == c) for c in np.unique(labels))]
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)
