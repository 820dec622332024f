"""Readers of the four image benchmarks: CUB-200-2011, Cars-196, SOP and In-Shop.

Each follows the paper's file layout and class-disjoint split: the first half of the
classes trains, the rest tests (In-Shop: the dataset's own train / query / gallery lists).
Labels are 0-based; test labels keep their offset, so train and test classes never share one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mfsearch.config import DatasetConfig
from mfsearch.data._bundle import DATASETS, SourceSplits
from mfsearch.data._files import DatasetLayout, DatasetLayoutError
from mfsearch.data._records import FileRecords

CUB = DatasetLayout(
    name="cub", folder="CUB_200_2011", markers=("images",),
    layout="CUB_200_2011/images/<class folder>/<image>.jpg, one folder per class",
    download_page="https://www.vision.caltech.edu/datasets/cub_200_2011/",
)
CARS = DatasetLayout(
    name="cars", folder="cars196", markers=("cars_annos.mat",),
    layout="cars196/cars_annos.mat with the images at the paths it lists (car_ims/*.jpg)",
    download_page="https://ai.stanford.edu/~jkrause/cars/car_dataset.html",
)
SOP = DatasetLayout(
    name="sop", folder="Stanford_Online_Products", markers=("Ebay_train.txt", "Ebay_test.txt"),
    layout="Stanford_Online_Products/Ebay_train.txt, Ebay_test.txt and the image folders "
           "they list (e.g. bicycle_final/*.JPG)",
    download_page="https://cvgl.stanford.edu/projects/lifted_struct/",
)
INSHOP = DatasetLayout(
    name="inshop", folder="Inshop_Clothes", markers=("Eval/list_eval_partition.txt", "Img"),
    layout="Inshop_Clothes/Eval/list_eval_partition.txt and Inshop_Clothes/Img/img/...",
    download_page="https://mmlab.ie.cuhk.edu.hk/projects/DeepFashion/InShopRetrieval.html",
)


def split_first_half(records: FileRecords, num_classes: int) -> SourceSplits:
    """Classes ``0 .. num_classes // 2 - 1`` train, the others test."""
    train = records.labels < num_classes // 2
    return SourceSplits(train=records.subset(np.flatnonzero(train)),
                        test_query=records.subset(np.flatnonzero(~train)))


def _format_error(layout: DatasetLayout, path: Path, line: int | None, what: str) -> Exception:
    where = f"{path}" if line is None else f"{path}, line {line}"
    return DatasetLayoutError(
        f"{where} is not in the {layout.name} format: {what}. Expected {layout.layout}; "
        f"the original files come from {layout.download_page}."
    )


@DATASETS.register("cub")
def read_cub(cfg: DatasetConfig) -> SourceSplits:
    """CUB-200-2011: class folders in sorted order; classes 0-99 train, 100-199 test.

    Files whose names start with ``._`` (macOS metadata) are skipped.
    """
    images = CUB.locate(cfg) / "images"
    folders = sorted(entry.name for entry in os.scandir(images) if entry.is_dir())
    if len(folders) < 2:
        raise _format_error(CUB, images, None,
                            f"it holds {len(folders)} class folder(s), at least 2 are needed")
    paths: list[str] = []
    labels: list[int] = []
    for label, folder in enumerate(folders):
        names = sorted(name for name in os.listdir(images / folder) if not name.startswith("._"))
        paths += [str(images / folder / name) for name in names]
        labels += [label] * len(names)
    return split_first_half(FileRecords(np.asarray(paths, dtype=object), np.asarray(labels)),
                            len(folders))


@DATASETS.register("cars")
def read_cars(cfg: DatasetConfig) -> SourceSplits:
    """Cars-196 from ``cars_annos.mat``: label = class - 1; classes 0-97 train, 98-195 test."""
    from scipy.io import loadmat

    root = CARS.locate(cfg)
    mat_path = root / "cars_annos.mat"
    try:
        annotations = loadmat(str(mat_path), squeeze_me=True)["annotations"]
        rel_paths = [str(p) for p in np.atleast_1d(annotations["relative_im_path"])]
        classes = np.atleast_1d(annotations["class"]).astype(np.int64)
    except (KeyError, ValueError, TypeError, OSError) as exc:
        raise _format_error(CARS, mat_path, None,
                            f"cannot read annotations.relative_im_path / class ({exc})") from exc
    if classes.min(initial=1) < 1:
        raise _format_error(CARS, mat_path, None, "class ids must start at 1")
    labels = classes - 1
    paths = np.asarray([str(root / p) for p in rel_paths], dtype=object)
    return split_first_half(FileRecords(paths, labels), int(labels.max()) + 1)


def _read_listing(layout: DatasetLayout, path: Path, header: list[str],
                  skip: int = 1) -> list[tuple[int, list[str]]]:
    """Lines after ``skip`` leading lines, split on whitespace, with their line numbers."""
    lines = path.read_text().splitlines()
    if len(lines) < skip or lines[skip - 1].split() != header:
        raise _format_error(layout, path, skip, f"expected the header {' '.join(header)!r}")
    rows = []
    for number, line in enumerate(lines[skip:], start=skip + 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != len(header):
            raise _format_error(layout, path, number,
                                f"expected {len(header)} fields, got {line!r}")
        rows.append((number, fields))
    return rows


def _read_sop_file(root: Path, name: str) -> FileRecords:
    path = root / name
    rows = _read_listing(SOP, path, ["image_id", "class_id", "super_class_id", "path"])
    try:
        labels = np.asarray([int(fields[1]) - 1 for _, fields in rows], dtype=np.int64)
    except ValueError as exc:
        raise _format_error(SOP, path, None, f"class_id must be an integer ({exc})") from exc
    paths = np.asarray([str(root / fields[3]) for _, fields in rows], dtype=object)
    return FileRecords(paths, labels)


@DATASETS.register("sop")
def read_sop(cfg: DatasetConfig) -> SourceSplits:
    """Stanford Online Products: ``Ebay_train.txt`` trains, ``Ebay_test.txt`` tests.

    Label = class_id - 1 (the files number the classes from 1, test classes after train).
    """
    root = SOP.locate(cfg)
    return SourceSplits(train=_read_sop_file(root, "Ebay_train.txt"),
                        test_query=_read_sop_file(root, "Ebay_test.txt"))


def _contiguous_ids(ids: list[str], offset: int) -> dict[str, int]:
    return {item: offset + i for i, item in enumerate(sorted(set(ids)))}


@DATASETS.register("inshop")
def read_inshop(cfg: DatasetConfig) -> SourceSplits:
    """In-Shop clothes: train items, and query images searched against gallery images.

    Item ids (``id_00000001``...) are remapped to contiguous labels in sorted order: training
    items to ``0 .. T-1``, the test items (shared by query and gallery) to ``T, T+1, ...``.
    """
    root = INSHOP.locate(cfg)
    path = root / "Eval" / "list_eval_partition.txt"
    rows = _read_listing(INSHOP, path, ["image_name", "item_id", "evaluation_status"], skip=2)
    by_status: dict[str, list[tuple[str, str]]] = {"train": [], "query": [], "gallery": []}
    for number, (image, item, status) in rows:
        if status not in by_status:
            raise _format_error(INSHOP, path, number,
                                f"evaluation_status must be train, query or gallery, got {status!r}")
        by_status[status].append((image, item))
    if not all(by_status.values()):
        empty = [status for status, items in by_status.items() if not items]
        raise _format_error(INSHOP, path, None, f"no images with status {', '.join(empty)}")
    train_ids = _contiguous_ids([item for _, item in by_status["train"]], 0)
    test_ids = _contiguous_ids([item for s in ("query", "gallery") for _, item in by_status[s]],
                               len(train_ids))

    def records(status: str, ids: dict[str, int]) -> FileRecords:
        pairs = by_status[status]
        return FileRecords(np.asarray([str(root / "Img" / image) for image, _ in pairs],
                                      dtype=object),
                           np.asarray([ids[item] for _, item in pairs], dtype=np.int64))

    return SourceSplits(train=records("train", train_ids),
                        test_query=records("query", test_ids),
                        test_gallery=records("gallery", test_ids))
