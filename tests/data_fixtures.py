"""Writers of tiny dataset trees in each benchmark's real on-disk format (for the tests)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from PIL import Image


def write_jpeg(path: Path, seed: int, size: tuple[int, int] = (24, 18)) -> None:
    """A small noisy RGB JPEG of ``size`` (width, height), different for every seed."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG", quality=90)


def make_cub(root: Path, classes: int = 6, per_class: int = 3) -> dict[str, int]:
    """``CUB_200_2011/images/NNN.Name/*.jpg`` with ``._`` files; returns {path: label}."""
    images = root / "CUB_200_2011" / "images"
    expected = {}
    for number in range(classes, 0, -1):  # the label is the folder's sorted position
        folder = images / f"{number:03d}.Bird_{number}"
        for j in range(per_class):
            path = folder / f"Bird_{number}_{j:04d}_{number}.jpg"
            write_jpeg(path, seed=1000 * number + j)
            expected[str(path)] = number - 1
        (folder / f"._Bird_{number}_0000_{number}.jpg").write_bytes(b"\x00\x05\x16\x07mac")
    return expected


def make_cars(root: Path, classes: int = 4, per_class: int = 3) -> dict[str, int]:
    """``cars196/cars_annos.mat`` (a real MATLAB struct array) and ``car_ims/*.jpg``."""
    from scipy.io import savemat

    folder = root / "cars196"
    names = ["relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "test"]
    rows = []
    expected = {}
    number = 0
    for cls in range(1, classes + 1):
        for j in range(per_class):
            number += 1
            rel = f"car_ims/{number:06d}.jpg"
            write_jpeg(folder / rel, seed=number)
            # The mat file's own train/test flag is ignored; the class decides the split.
            rows.append((rel, 1, 2, 20, 15, cls, j % 2))
            expected[str(folder / rel)] = cls - 1
    # Interleave the classes so the reader cannot rely on the order.
    order = np.random.default_rng(0).permutation(len(rows))
    annotations = np.zeros((1, len(rows)), dtype=[(n, "O") for n in names])
    for k, i in enumerate(order):
        rel, x1, y1, x2, y2, cls, test = rows[i]
        annotations[0, k] = (np.array([rel]), np.array([[x1]], dtype=np.uint8),
                             np.array([[y1]], dtype=np.uint8), np.array([[x2]], dtype=np.uint8),
                             np.array([[y2]], dtype=np.uint8), np.array([[cls]], dtype=np.uint8),
                             np.array([[test]], dtype=np.uint8))
    savemat(folder / "cars_annos.mat",
            {"annotations": annotations,
             "class_names": np.array([[f"car {c}" for c in range(1, classes + 1)]],
                                     dtype=object)})
    return expected


def make_sop(root: Path, train_classes: int = 4, test_classes: int = 3,
             per_class: int = 2) -> tuple[dict[str, int], dict[str, int]]:
    """``Stanford_Online_Products/Ebay_{train,test}.txt`` and the images they list."""
    folder = root / "Stanford_Online_Products"
    supers = ["bicycle_final", "chair_final"]
    out: list[dict[str, int]] = []
    image_id = 0
    class_id = 0
    for name, count in (("Ebay_train.txt", train_classes), ("Ebay_test.txt", test_classes)):
        lines = ["image_id class_id super_class_id path"]
        expected = {}
        for _ in range(count):
            class_id += 1
            super_id = class_id % 2
            for j in range(per_class):
                image_id += 1
                rel = f"{supers[super_id]}/{class_id * 1000 + 111}_{j}.JPG"
                write_jpeg(folder / rel, seed=image_id)
                lines.append(f"{image_id} {class_id} {super_id + 1} {rel}")
                expected[str(folder / rel)] = class_id - 1
        (folder / name).write_text("\n".join(lines) + "\n")
        out.append(expected)
    return out[0], out[1]


def make_inshop(root: Path) -> dict[str, list[tuple[str, str]]]:
    """``Inshop_Clothes/Eval/list_eval_partition.txt`` and ``Img/img/...`` images.

    Returns, per status, the (image path, item id) pairs written.
    """
    folder = root / "Inshop_Clothes"
    entries = [
        ("train", "id_00000007", 3), ("train", "id_00000002", 2), ("train", "id_00000040", 2),
        ("query", "id_00000005", 2), ("gallery", "id_00000005", 2),
        ("query", "id_00000011", 1), ("gallery", "id_00000011", 3),
        ("gallery", "id_00000003", 1),  # a gallery-only item (a distractor)
    ]
    rows = []
    written: dict[str, list[tuple[str, str]]] = {"train": [], "query": [], "gallery": []}
    seed = 0
    for status, item, count in entries:
        for _ in range(count):
            seed += 1
            rel = f"img/WOMEN/Dresses/{item}/{seed:02d}_1_front.jpg"
            write_jpeg(folder / "Img" / rel, seed=seed)
            rows.append(f"{rel}   {item}   {status}")
            written[status].append((str(folder / "Img" / rel), item))
    text = [str(len(rows)), "image_name item_id evaluation_status", *rows]
    (folder / "Eval").mkdir(parents=True, exist_ok=True)
    (folder / "Eval" / "list_eval_partition.txt").write_text("\n".join(text) + "\n")
    return written


def write_idx(path: Path, array: np.ndarray) -> None:
    """A gzipped idx file of unsigned bytes, as Fashion-MNIST ships them."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.tobytes())


def make_fashion_mnist(root: Path, per_class_train: int = 4,
                       per_class_test: int = 2) -> dict[str, np.ndarray]:
    """The four idx ``.gz`` files with 10 classes of random 28x28 images."""
    rng = np.random.default_rng(0)
    out = {}
    for prefix, per_class in (("train", per_class_train), ("t10k", per_class_test)):
        labels = rng.permutation(np.repeat(np.arange(10), per_class)).astype(np.uint8)
        images = rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", labels)
        out[f"{prefix}_images"], out[f"{prefix}_labels"] = images, labels
    return out
