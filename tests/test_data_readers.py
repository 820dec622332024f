"""Each dataset reader on a tree written in that dataset's real format, scaled down."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mfsearch.config import DatasetConfig, SplitConfig
from mfsearch.data import (
    DATASETS,
    BadImageError,
    DatasetLayoutError,
    FileRecords,
    Transforms,
    build_data,
    build_transforms,
)
from tests.data_fixtures import (
    make_cars,
    make_cub,
    make_fashion_mnist,
    make_inshop,
    make_sop,
    write_idx,
)


def _labels_by_path(records: FileRecords) -> dict[str, int]:
    return dict(zip(records.paths.tolist(), records.labels.tolist(), strict=True))


def test_cub_sorted_folders_first_half_trains_and_skips_dot_underscore(tmp_path):
    expected = make_cub(tmp_path, classes=6, per_class=3)
    source = DATASETS.get("cub")(DatasetConfig(name="cub", root=str(tmp_path / "CUB_200_2011")))
    train, test = _labels_by_path(source.train), _labels_by_path(source.test_query)
    assert train == {p: c for p, c in expected.items() if c < 3}
    assert test == {p: c for p, c in expected.items() if c >= 3}
    assert len(train) == 9 and len(test) == 9
    assert not any(Path(p).name.startswith("._") for p in [*train, *test])
    assert source.test_gallery is None


def test_cub_root_may_be_the_data_folder_above(tmp_path):
    make_cub(tmp_path, classes=4, per_class=2)
    source = DATASETS.get("cub")(DatasetConfig(name="cub", root=str(tmp_path)))
    assert len(source.train) == 4 and len(source.test_query) == 4


def test_cars_label_is_class_minus_one_and_split_by_class(tmp_path):
    expected = make_cars(tmp_path, classes=4, per_class=3)
    source = DATASETS.get("cars")(DatasetConfig(name="cars", root=str(tmp_path / "cars196")))
    assert _labels_by_path(source.train) == {p: c for p, c in expected.items() if c < 2}
    assert _labels_by_path(source.test_query) == {p: c for p, c in expected.items() if c >= 2}


def test_sop_reads_both_listing_files(tmp_path):
    train, test = make_sop(tmp_path, train_classes=4, test_classes=3, per_class=2)
    source = DATASETS.get("sop")(
        DatasetConfig(name="sop", root=str(tmp_path / "Stanford_Online_Products")))
    assert _labels_by_path(source.train) == train
    assert _labels_by_path(source.test_query) == test
    assert sorted(set(source.test_query.labels)) == [4, 5, 6]


def test_inshop_remaps_item_ids_and_separates_query_and_gallery(tmp_path):
    written = make_inshop(tmp_path)
    source = DATASETS.get("inshop")(
        DatasetConfig(name="inshop", root=str(tmp_path / "Inshop_Clothes")))
    assert source.test_gallery is not None
    # Train items in sorted id order: id_00000002 -> 0, id_00000007 -> 1, id_00000040 -> 2.
    train_map = {"id_00000002": 0, "id_00000007": 1, "id_00000040": 2}
    # Test items (query and gallery together), after the train labels: 3 -> 3, 5 -> 4, 11 -> 5.
    test_map = {"id_00000003": 3, "id_00000005": 4, "id_00000011": 5}
    for records, status, mapping in ((source.train, "train", train_map),
                                     (source.test_query, "query", test_map),
                                     (source.test_gallery, "gallery", test_map)):
        assert _labels_by_path(records) == {p: mapping[i] for p, i in written[status]}
    assert len(source.train) == 7 and len(source.test_query) == 3
    assert len(source.test_gallery) == 6


def test_inshop_bundle_uses_query_and_gallery_and_validates_on_train_items(tmp_path):
    make_inshop(tmp_path)
    cfg = DatasetConfig(name="inshop", root=str(tmp_path / "Inshop_Clothes"), batch_size=2,
                        recall_ks=[1], query_gallery=True,
                        split=SplitConfig(val_fraction=0.34, seed=0))
    data = build_data(cfg, build_transforms(cfg, "imagenet"), progress=False)
    assert data.test.reference is not None and data.test.reference_labels is not None
    assert len(data.test) == 3 and len(data.test.reference_labels) == 6
    assert len(data.val_classes) == 1 and data.val_classes[0] in (0, 1, 2)
    assert data.val.reference is None
    assert set(data.val.query_labels.tolist()) == set(data.val_classes)
    assert data.num_classes == 2
    image, label = data.test.reference[0]
    assert tuple(image.shape) == (3, 224, 224)


def test_fashion_mnist_trains_on_0_to_4_of_train_file_tests_on_5_to_9_of_test_file(tmp_path):
    arrays = make_fashion_mnist(tmp_path, per_class_train=4, per_class_test=2)
    source = DATASETS.get("fashion_mnist")(DatasetConfig(name="fashion_mnist",
                                                         root=str(tmp_path)))
    train_mask = arrays["train_labels"] < 5
    test_mask = arrays["t10k_labels"] >= 5
    np.testing.assert_array_equal(source.train.labels, arrays["train_labels"][train_mask])
    np.testing.assert_array_equal(source.test_query.labels, arrays["t10k_labels"][test_mask])
    np.testing.assert_allclose(source.train.images[:, 0].numpy(),
                               arrays["train_images"][train_mask] / 255.0, atol=1e-6)
    assert source.in_channels == 1 and len(source.train) == 20 and len(source.test_query) == 10


def test_fashion_mnist_rejects_a_bad_idx_file(tmp_path):
    make_fashion_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(OSError):
        DATASETS.get("fashion_mnist")(DatasetConfig(name="fashion_mnist", root=str(tmp_path)))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(3))
    with pytest.raises(DatasetLayoutError, match="differ in length"):
        DATASETS.get("fashion_mnist")(DatasetConfig(name="fashion_mnist", root=str(tmp_path)))


@pytest.mark.parametrize("name,expected,page", [
    ("cub", "images", "vision.caltech.edu"),
    ("cars", "cars_annos.mat", "ai.stanford.edu"),
    ("sop", "Ebay_train.txt", "cvgl.stanford.edu"),
    ("inshop", "list_eval_partition.txt", "DeepFashion"),
    ("fashion_mnist", "train-images-idx3-ubyte.gz", "zalandoresearch"),
])
def test_missing_root_names_expected_files_and_download_page(tmp_path, name, expected, page):
    cfg = DatasetConfig(name=name, root=str(tmp_path / "nowhere"))
    with pytest.raises(DatasetLayoutError, match=rf"(?s)nowhere.*does not exist.*{expected}.*{page}"):
        DATASETS.get(name)(cfg)


def test_wrong_layout_names_missing_file(tmp_path):
    (tmp_path / "Stanford_Online_Products").mkdir()
    (tmp_path / "Stanford_Online_Products" / "Ebay_train.txt").write_text("x")
    cfg = DatasetConfig(name="sop", root=str(tmp_path / "Stanford_Online_Products"))
    with pytest.raises(DatasetLayoutError, match="lacks Ebay_test.txt"):
        DATASETS.get("sop")(cfg)


def test_bad_listing_line_names_file_and_line(tmp_path):
    make_sop(tmp_path)
    listing = tmp_path / "Stanford_Online_Products" / "Ebay_test.txt"
    listing.write_text(listing.read_text() + "99 7 1\n")
    cfg = DatasetConfig(name="sop", root=str(tmp_path / "Stanford_Online_Products"))
    with pytest.raises(DatasetLayoutError, match=r"Ebay_test.txt, line \d+.*4 fields"):
        DATASETS.get("sop")(cfg)


def _corrupt_one_cub_image(tmp_path: Path) -> Path:
    make_cub(tmp_path, classes=4, per_class=3)
    bad = sorted((tmp_path / "CUB_200_2011" / "images").glob("001.*/Bird_*.jpg"))[0]
    bad.write_bytes(b"this is not a jpeg")
    return bad


def test_corrupt_image_error_names_the_file(tmp_path):
    bad = _corrupt_one_cub_image(tmp_path)
    cfg = DatasetConfig(name="cub", root=str(tmp_path), batch_size=2)
    with pytest.raises(BadImageError, match=rf"{bad.name}.*skip_bad_images"):
        build_data(cfg, build_transforms(cfg, "imagenet"), progress=False)


def test_corrupt_image_skipped_and_counted_with_a_warning(tmp_path, caplog):
    bad = _corrupt_one_cub_image(tmp_path)
    cfg = DatasetConfig(name="cub", root=str(tmp_path), batch_size=2, skip_bad_images=True)
    data = build_data(cfg, build_transforms(cfg, "imagenet"), progress=False)
    assert data.skipped_images == 1 and data.summary()["skipped_images"] == 1
    assert "skipped 1 unreadable image" in caplog.text and bad.name in caplog.text
    assert len(data.train_labels) + len(data.val) == 5  # 6 train-class images, one skipped


def test_image_dataset_with_tensor_model_is_rejected_before_reading_images(tmp_path):
    make_cub(tmp_path, classes=4, per_class=2)
    cfg = DatasetConfig(name="cub", root=str(tmp_path), batch_size=2)
    with pytest.raises(ValueError, match="image files.*model=resnet50"):
        build_data(cfg, Transforms(), progress=False)


def test_file_records_load_rgb_through_the_transform(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(np.full((5, 7), 200, dtype=np.uint8)).save(path)  # a grey image
    dataset = FileRecords(np.array([str(path)], dtype=object), np.array([3])).to_dataset(None)
    image, label = dataset[0]
    assert image.mode == "RGB" and image.size == (7, 5) and int(label) == 3


def test_run_summary_records_the_validation_classes(make_config):
    import json

    from mfsearch.data import choose_validation_classes
    from mfsearch.training import run_training

    config = make_config("trainer.max_epochs=1", "dataset.split.seed=3")
    run_training(config)
    summary = json.loads((Path(config.run_dir) / "metrics.json").read_text())
    from sklearn.datasets import load_digits

    labels = load_digits().target
    expected = choose_validation_classes(labels[labels < 5], 0.4, 3)
    assert summary["data"]["val_class_ids"] == expected.tolist()
    assert summary["data"]["val_classes"] == 2


def test_split_caps_images_per_class_reproducibly(tmp_path):
    make_fashion_mnist(tmp_path, per_class_train=6, per_class_test=2)
    split = SplitConfig(val_fraction=0.4, seed=1, val_per_class=3, train_per_class=2)
    cfg = DatasetConfig(name="fashion_mnist", root=str(tmp_path), batch_size=2, split=split)
    data = build_data(cfg, build_transforms(cfg, "array"), progress=False)
    assert np.bincount(data.train_labels).tolist() == [2, 2, 2]
    _, val_counts = np.unique(data.val.query_labels, return_counts=True)
    assert val_counts.tolist() == [3, 3] and len(data.val_classes) == 2
    again = build_data(cfg, build_transforms(cfg, "array"), progress=False)
    torch_equal = [bool((a[0] == b[0]).all()) for a, b in zip(
        (data.train[i] for i in range(6)), (again.train[i] for i in range(6)), strict=True)]
    assert all(torch_equal)
    # The capped sets are subsets of the uncapped ones.
    full_cfg = DatasetConfig(name="fashion_mnist", root=str(tmp_path), batch_size=2,
                             split=SplitConfig(val_fraction=0.4, seed=1))
    full = build_data(full_cfg, build_transforms(full_cfg, "array"), progress=False)
    full_images = {full.train[i][0].numpy().tobytes() for i in range(len(full.train_labels))}
    assert all(data.train[i][0].numpy().tobytes() in full_images for i in range(6))


def test_fashion_mnist_config_picks_a_cpu_model_that_the_command_line_can_override():
    from tests.conftest import compose_train

    cfg = compose_train(["dataset=fashion_mnist"])
    assert cfg.model.name == "pooled_convnet" and cfg.dataset.name == "fashion_mnist"
    assert compose_train(["dataset=fashion_mnist", "model=small_convnet"]).model.name == (
        "small_convnet")
    assert compose_train([]).model.name == "small_convnet"
