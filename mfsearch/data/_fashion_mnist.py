"""Fashion-MNIST from its four idx ``.gz`` files: train on classes 0-4, test on 5-9."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from mfsearch.config import DatasetConfig
from mfsearch.data._bundle import DATASETS, SourceSplits
from mfsearch.data._digits import TRAIN_CLASSES, class_disjoint_arrays
from mfsearch.data._files import DatasetLayout, DatasetLayoutError

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

FASHION_MNIST = DatasetLayout(
    name="fashion_mnist", folder="fashion-mnist", markers=tuple(FILES.values()),
    layout="the four idx files " + ", ".join(FILES.values()) + " in one folder (Debian's "
           "dataset-fashion-mnist package installs them in /usr/share/datasets/fashion-mnist)",
    download_page="https://github.com/zalandoresearch/fashion-mnist",
    default_root="/usr/share/datasets/fashion-mnist",
)

_UBYTE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """Reads a gzipped idx file of unsigned bytes (magic 0x0000 08 <ndim>)."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != _UBYTE:
        raise DatasetLayoutError(
            f"{path} is not an idx file of unsigned bytes (bad magic number). Expected "
            f"{FASHION_MNIST.layout}; the files come from {FASHION_MNIST.download_page}."
        )
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(dims)):
        raise DatasetLayoutError(
            f"{path} is truncated: its header announces shape {dims} but it holds "
            f"{len(data) - offset} bytes of data. Download it again from "
            f"{FASHION_MNIST.download_page}."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


@DATASETS.register("fashion_mnist")
def read_fashion_mnist(cfg: DatasetConfig) -> SourceSplits:
    """Training file's classes 0-4 (30,000 images) train; test file's 5-9 (5,000) test."""
    root = FASHION_MNIST.locate(cfg)
    arrays = {key: read_idx(root / name) for key, name in FILES.items()}
    for split in ("train", "test"):
        if len(arrays[f"{split}_images"]) != len(arrays[f"{split}_labels"]):
            raise DatasetLayoutError(
                f"{root / FILES[f'{split}_images']} and {FILES[f'{split}_labels']} differ in "
                "length; the files are inconsistent. Download them again from "
                f"{FASHION_MNIST.download_page}."
            )
    train = class_disjoint_arrays(arrays["train_images"].astype(np.float32) / 255, arrays["train_labels"],
                                  TRAIN_CLASSES)
    test = class_disjoint_arrays(arrays["test_images"].astype(np.float32) / 255, arrays["test_labels"],
                                 TRAIN_CLASSES)
    return SourceSplits(train=train.train, test_query=test.test_query, in_channels=1)
