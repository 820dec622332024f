"""Transforms per input convention, the class-balanced sampler and the decoded-image cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mfsearch.config import DatasetConfig, SplitConfig
from mfsearch.data import (
    BadImageError,
    CachedRecords,
    ClassBalancedBatchSampler,
    build_data,
    build_transforms,
)
from mfsearch.data._cache import resized_shape
from mfsearch.models import BACKBONES
from tests.data_fixtures import make_cub, write_jpeg

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


def _reference_eval(path: Path, resize: int, crop: int) -> np.ndarray:
    """Resize the short side with PIL (bilinear), centre-crop, scale to [0, 1]: (H, W, 3)."""
    image = Image.open(path).convert("RGB")
    w, h = image.size
    new_w, new_h = (resize, int(resize * h / w)) if w <= h else (int(resize * w / h), resize)
    image = image.resize((new_w, new_h), Image.BILINEAR)
    left, top = int(round((new_w - crop) / 2.0)), int(round((new_h - crop) / 2.0))
    return np.asarray(image.crop((left, top, left + crop, top + crop)), dtype=np.float64) / 255


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.jpg"
    write_jpeg(path, seed=3, size=(50, 30))
    return path


def test_imagenet_eval_transform_matches_reference(photo):
    cfg = DatasetConfig(crop_size=16, resize_size=20)
    out = build_transforms(cfg, "imagenet").eval(Image.open(photo).convert("RGB"))
    expected = (_reference_eval(photo, 20, 16) - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), expected, atol=1e-5)


def test_bn_inception_eval_transform_is_bgr_0_255_minus_mean(photo):
    cfg = DatasetConfig(crop_size=16, resize_size=20)
    out = build_transforms(cfg, "bn_inception").eval(Image.open(photo).convert("RGB"))
    rgb = _reference_eval(photo, 20, 16) * 255
    expected = rgb[:, :, ::-1] - np.array([104.0, 117.0, 128.0])
    np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), expected, atol=1e-3)


@pytest.mark.parametrize("convention", ["imagenet", "bn_inception"])
def test_train_transform_crops_to_crop_size_and_varies(photo, convention):
    torch.manual_seed(0)
    train = build_transforms(DatasetConfig(crop_size=12, resize_size=14), convention).train
    image = Image.open(photo).convert("RGB")
    outs = [train(image) for _ in range(4)]
    assert all(tuple(o.shape) == (3, 12, 12) for o in outs)
    assert not all(torch.equal(outs[0], o) for o in outs[1:])


def test_array_convention_keeps_samples_and_small_models_declare_it():
    transforms = build_transforms(DatasetConfig(), "array")
    assert transforms.train is None and transforms.eval is None
    assert BACKBONES.get("small_convnet").input_convention == "array"
    assert BACKBONES.get("pooled_convnet").input_convention == "array"


def test_every_backbone_convention_has_transforms():
    from mfsearch.data import TRANSFORMS

    for name in BACKBONES:
        assert BACKBONES.get(name).input_convention in TRANSFORMS


def test_crop_larger_than_resize_is_rejected():
    with pytest.raises(ValueError, match="dataset.resize_size=100 is invalid"):
        DatasetConfig(crop_size=224, resize_size=100)


@pytest.mark.parametrize("batch_size,per_class", [(12, 4), (6, 2), (8, 8)])
def test_class_balanced_batches(batch_size, per_class):
    labels = np.repeat(np.arange(10), [3, 9, 5, 12, 4, 7, 8, 6, 10, 2])
    sampler = ClassBalancedBatchSampler(labels, batch_size, per_class, torch.Generator().manual_seed(0))
    batches = list(sampler)
    assert len(batches) == len(sampler) == len(labels) // batch_size
    seen_classes = set()
    for batch in batches:
        assert len(batch) == batch_size
        classes, counts = np.unique(labels[batch], return_counts=True)
        assert len(classes) == batch_size // per_class
        assert (counts == per_class).all()
        for c in classes:  # no repeats unless the class is smaller than images_per_class
            members = [i for i in batch if labels[i] == c]
            if (labels == c).sum() >= per_class:
                assert len(set(members)) == per_class
        seen_classes.update(classes.tolist())
    assert len(seen_classes) > batch_size // per_class  # batches draw different classes


def test_class_balanced_rejects_bad_sizes():
    labels = np.repeat(np.arange(3), 4)
    with pytest.raises(ValueError, match="multiple of images_per_class"):
        ClassBalancedBatchSampler(labels, 10, 4, torch.Generator())
    with pytest.raises(ValueError, match="only 3 classes"):
        ClassBalancedBatchSampler(labels, 16, 4, torch.Generator())


def test_resized_shape_follows_torchvision_rule():
    from torchvision.transforms.v2 import functional as TF

    for w, h in [(500, 375), (375, 500), (333, 333), (257, 1000), (31, 17)]:
        image = Image.new("RGB", (w, h))
        out = TF.resize(image, [20], antialias=True)
        assert resized_shape(w, h, 20) == (out.size[1], out.size[0])


def _cub_config(root: Path, cache: Path | None, **kwargs) -> DatasetConfig:
    settings = {"crop_size": 16, "resize_size": 20, **kwargs}
    return DatasetConfig(name="cub", root=str(root), batch_size=2,
                         cache_dir=None if cache is None else str(cache),
                         split=SplitConfig(val_fraction=0.34, seed=0), **settings)


def _eval_outputs(data) -> list[torch.Tensor]:
    splits = [data.val.query, data.test.query]
    return [split[i][0] for split in splits for i in range(len(split))]


def test_cache_equals_uncached_eval_output(tmp_path):
    make_cub(tmp_path / "data", classes=6, per_class=3)
    cfg_plain = _cub_config(tmp_path / "data", None)
    cfg_cached = _cub_config(tmp_path / "data", tmp_path / "cache")
    for convention in ("imagenet", "bn_inception"):
        plain = build_data(cfg_plain, build_transforms(cfg_plain, convention), progress=False)
        cached = build_data(cfg_cached, build_transforms(cfg_cached, convention),
                            progress=False)
        assert isinstance(cached.test.query, torch.utils.data.Dataset)
        np.testing.assert_array_equal(plain.train_labels, cached.train_labels)
        np.testing.assert_array_equal(plain.test.query_labels, cached.test.query_labels)
        for a, b in zip(_eval_outputs(plain), _eval_outputs(cached), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.manual_seed(0)
        image, _ = cached.train[0]
        assert tuple(image.shape) == (3, 16, 16) and image.dtype == torch.float32
    assert len([p for p in (tmp_path / "cache").iterdir() if p.is_dir()]) == 1


def _cache_dirs(cache: Path) -> set[str]:
    return {p.name for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")}


def test_cache_invalidated_by_changed_file_or_size(tmp_path):
    expected = make_cub(tmp_path / "data", classes=4, per_class=2)
    cache = tmp_path / "cache"
    cfg = _cub_config(tmp_path / "data", cache)
    data = build_data(cfg, build_transforms(cfg, "imagenet"), progress=False)
    first = _cache_dirs(cache)
    assert len(first) == 1
    # Reopening with nothing changed reuses the cache.
    build_data(cfg, build_transforms(cfg, "imagenet"), progress=False)
    assert _cache_dirs(cache) == first
    # A changed source file: a new cache whose pixels are the new file's.
    path = Path(sorted(expected)[-1])  # a test-class image
    write_jpeg(path, seed=999, size=(30, 40))
    os.utime(path, ns=(1, 1))
    data = build_data(cfg, build_transforms(cfg, "imagenet"), progress=False)
    second = _cache_dirs(cache)
    assert len(second) == 2
    uncached_cfg = _cub_config(tmp_path / "data", None)
    plain = build_data(uncached_cfg, build_transforms(uncached_cfg, "imagenet"), progress=False)
    for a, b in zip(_eval_outputs(plain), _eval_outputs(data), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # A changed size: another cache, holding images of the new short side.
    cfg24 = _cub_config(tmp_path / "data", cache, resize_size=24)
    data24 = build_data(cfg24, build_transforms(cfg24, "imagenet"), progress=False)
    assert len(_cache_dirs(cache)) == 3
    records = data24.test.query
    stored = records.cache.image(int(records.indices[0]))
    assert min(stored.shape[1:]) == 24


def test_cached_records_subset_keeps_images(tmp_path):
    make_cub(tmp_path / "data", classes=4, per_class=2)
    cfg = _cub_config(tmp_path / "data", tmp_path / "cache")
    data = build_data(cfg, build_transforms(cfg, "imagenet"), progress=False)
    cache = data.test.query.cache
    records = CachedRecords(cache, np.arange(len(cache)), np.arange(len(cache)))
    sub = records.subset(np.array([2, 0]))
    assert sub.indices.tolist() == [2, 0] and sub.labels.tolist() == [2, 0]
    torch.testing.assert_close(sub.to_dataset(None)[0][0], cache.image(2))


def test_cache_build_failure_names_file_and_leaves_no_cache(tmp_path, monkeypatch):
    make_cub(tmp_path / "data", classes=4, per_class=2)
    # A file whose header reads fine but whose pixel data is cut off.
    victim = sorted((tmp_path / "data" / "CUB_200_2011" / "images").glob("002.*/Bird_*.jpg"))[0]
    write_jpeg(victim, seed=5, size=(64, 48))
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    cache = tmp_path / "cache"
    cfg = _cub_config(tmp_path / "data", cache)
    with pytest.raises(BadImageError, match=victim.name):
        build_data(cfg, build_transforms(cfg, "imagenet"), progress=False)
    assert _cache_dirs(cache) == set()
    assert not [p for p in cache.iterdir() if p.name.startswith(".") and p.is_dir()]
    skip = _cub_config(tmp_path / "data", cache, skip_bad_images=True)
    data = build_data(skip, build_transforms(skip, "imagenet"), progress=False)
    assert data.skipped_images == 1
