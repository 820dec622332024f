"""scikit-learn's bundled 8x8 digits: the embedded default data set."""

from __future__ import annotations

import numpy as np
import torch

from mfsearch.config import DatasetConfig
from mfsearch.data._bundle import DATASETS, SourceSplits
from mfsearch.data._records import ArrayRecords

TRAIN_CLASSES = (0, 1, 2, 3, 4)


def class_disjoint_arrays(images: np.ndarray, labels: np.ndarray,
                          train_classes: tuple[int, ...]) -> SourceSplits:
    """Splits in-memory images (N, H, W) in [0, 1] into train classes and the rest."""
    labels = np.asarray(labels, dtype=np.int64)
    tensor = torch.as_tensor(np.asarray(images, dtype=np.float32)).unsqueeze(1).contiguous()
    records = ArrayRecords(tensor, labels)
    train_mask = np.isin(labels, train_classes)
    return SourceSplits(
        train=records.subset(np.flatnonzero(train_mask)),
        test_query=records.subset(np.flatnonzero(~train_mask)),
        in_channels=1,
    )


@DATASETS.register("digits")
def read_digits(cfg: DatasetConfig) -> SourceSplits:
    """1,797 8x8 grey digits: train on classes 0-4, test on 5-9."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return class_disjoint_arrays(digits.images / 16.0, digits.target, TRAIN_CLASSES)
