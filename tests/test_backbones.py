"""Backbones: BN-Inception's layout, pretrained weights from the hub cache, one training step."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from mfsearch.config import ConfigError, LossConfig, ModelConfig
from mfsearch.losses import build_loss
from mfsearch.models import (
    BACKBONES,
    BNInception,
    EmbeddingHead,
    StateDictMismatchError,
    build_backbone,
    build_model,
    pretrained_path,
)
from mfsearch.training import build_trainer, param_groups

DATA = Path(__file__).parent / "data"
IMAGE_BACKBONES = ["bn_inception", "googlenet", "resnet18", "resnet34", "resnet50", "resnet101"]
SLOW = {"googlenet", "resnet50", "resnet101"}


def spec_entries() -> list[tuple[str, tuple[int, ...]]]:
    """(key, shape) per line of the published checkpoint's listing, e.g. ``a.weight (64, 3)``."""
    entries = []
    for line in (DATA / "bn_inception_state_dict.txt").read_text().splitlines():
        key, shape = line.split(" ", 1)
        dims = shape.strip().strip("()").split(",")
        entries.append((key, tuple(int(d) for d in dims if d.strip())))
    return entries


def randomized(module: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """A state dict for ``module`` with every float tensor random (running_var positive)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in module.state_dict().items():
        if value.is_floating_point():
            value = torch.rand(value.shape, generator=gen) + 0.5 if key.endswith("running_var") \
                else torch.randn(value.shape, generator=gen) * 0.05
        state[key] = value.clone()
    return state


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    """An empty torch hub cache, and no network: any download attempt fails the test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_network(*args, **kwargs):
        raise AssertionError("mfsearch tried to use the network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    return cache


# -- BN-Inception ---------------------------------------------------------------------------

def test_bn_inception_state_dict_equals_published_layout():
    expected = spec_entries()
    assert len(expected) == 485
    ours = [(k, tuple(v.shape)) for k, v in BNInception().state_dict().items()]
    assert ours == expected


def test_bn_inception_backbone_drops_only_the_classifier():
    backbone = build_backbone(ModelConfig(name="bn_inception", pretrained="none"), 3)
    expected = [(k, s) for k, s in spec_entries() if not k.startswith("last_linear.")]
    assert [(k, tuple(v.shape)) for k, v in backbone.state_dict().items()] == expected
    assert backbone.out_channels == 1024
    assert backbone.input_convention == "bn_inception"
    bns = [m for m in backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 69 and all(m.eps == 1e-5 and m.momentum == 0.9 for m in bns)


def published_format(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What the published file looks like: BatchNorm tensors (1, C), no step counters."""
    out = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        if "_bn." in key:
            value = value.unsqueeze(0)
        out[key] = value
    return out


@pytest.mark.parametrize("setting", ["imagenet", "path"])
def test_published_bn_inception_file_loads(torch_home, tmp_path, setting):
    reference = randomized(BNInception(), seed=3)
    file_state = published_format(reference)
    assert file_state["conv1_7x7_s2_bn.running_mean"].shape == (1, 64)
    assert "last_linear.weight" in file_state
    if setting == "imagenet":
        path = torch_home / BACKBONES.get("bn_inception").imagenet.filename
        assert path.name == "bn_inception-52deb4733.pth"
    else:
        path = tmp_path / "weights.pth"
    torch.save(file_state, path)
    cfg = ModelConfig(name="bn_inception", pretrained=str(path) if setting == "path" else setting)
    backbone = build_backbone(cfg, 3)
    loaded = backbone.state_dict()
    assert set(loaded) == {k for k in reference if not k.startswith("last_linear.")}
    for key, value in loaded.items():
        if not key.endswith("num_batches_tracked"):
            torch.testing.assert_close(value, reference[key], rtol=0, atol=0, msg=key)


def test_bn_inception_file_with_wrong_shape_names_key_and_sizes(tmp_path):
    state = published_format(randomized(BNInception(), seed=0))
    state["inception_3a_1x1.weight"] = torch.zeros(65, 192, 1, 1)
    del state["conv2_3x3.bias"]
    state["extra.weight"] = torch.zeros(3)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(StateDictMismatchError) as info:
        build_backbone(ModelConfig(name="bn_inception", pretrained=str(path)), 3)
    message = str(info.value)
    assert str(path) in message
    assert "inception_3a_1x1.weight: saved (65, 192, 1, 1) vs model (64, 192, 1, 1)" in message
    assert "conv2_3x3.bias" in message and "extra.weight" in message


@pytest.mark.parametrize("size", [224, 227])
def test_bn_inception_forward_shape(size):
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="bn_inception", embedding_size=512), 3).eval()
    images = torch.randn(2, 3, size, size) * 50
    with torch.inference_mode():
        features = model.backbone(images)
        out = model(images)
    assert features.shape == (2, 1024, 7, 7)
    assert out.shape == (2, 512)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2))


# -- torchvision backbones ----------------------------------------------------------------

def _reference_features(network: nn.Module, layer: nn.Module, images: torch.Tensor):
    captured = {}
    handle = layer.register_forward_hook(lambda m, i, o: captured.setdefault("out", o))
    with torch.inference_mode():
        network(images)
    handle.remove()
    return captured["out"]


@pytest.mark.parametrize("name", [
    "resnet18", pytest.param("googlenet", marks=pytest.mark.slow)])
def test_torchvision_weights_load_from_hub_cache(torch_home, name):
    torch.manual_seed(1)
    if name == "googlenet":
        reference = torchvision.models.googlenet(weights=None, aux_logits=True,
                                                 transform_input=True, init_weights=True)
        last = reference.inception5b
    else:
        reference = torchvision.models.resnet18(weights=None)
        last = reference.layer4
    reference.load_state_dict(randomized(reference, seed=5))
    reference.eval()
    spec = BACKBONES.get(name)
    torch.save(reference.state_dict(), torch_home / spec.imagenet.filename)
    assert spec.imagenet.url.endswith(spec.imagenet.filename)

    backbone = build_backbone(ModelConfig(name=name, pretrained="imagenet"), 3).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        ours = backbone(images)
    torch.testing.assert_close(ours, _reference_features(reference, last, images))
    assert backbone.out_channels == ours.shape[1]
    assert not any(k.startswith(("fc.", "aux1.", "aux2.")) for k in backbone.state_dict())


@pytest.mark.parametrize("name", IMAGE_BACKBONES)
def test_missing_imagenet_file_offline_names_file_place_and_url(torch_home, name):
    spec = BACKBONES.get(name)
    with pytest.raises(ConfigError) as info:
        pretrained_path(ModelConfig(name=name, pretrained="imagenet"))
    message = str(info.value)
    assert spec.imagenet.filename in message
    assert str(torch_home / spec.imagenet.filename) in message
    assert spec.imagenet.url in message and spec.imagenet.url.startswith("http")


def test_small_convnet_has_no_imagenet_weights(torch_home):
    with pytest.raises(ConfigError, match="small_convnet.*no published ImageNet"):
        pretrained_path(ModelConfig(name="small_convnet", pretrained="imagenet"))


def test_grey_images_are_rejected_by_imagenet_backbones():
    with pytest.raises(ConfigError, match="model.name='resnet18'.*3-channel.*gives 1"):
        build_backbone(ModelConfig(name="resnet18", pretrained="none"), 1)


def test_missing_pretrained_path_fails_before_data_is_read(make_config, monkeypatch, tmp_path):
    def no_data(config):
        raise AssertionError("data was read before the config was checked")

    monkeypatch.setattr("mfsearch.training._run.build_run_data", no_data)
    missing = tmp_path / "nowhere" / "weights.pth"
    config = make_config(f"model.pretrained={missing}")
    with pytest.raises(ConfigError, match=re.escape(f"model.pretrained='{missing}'") + ".*no such file"):
        build_trainer(config)


def test_small_convnet_loads_its_own_weight_file(tmp_path):
    source = build_backbone(ModelConfig(name="small_convnet"), 1)
    state = randomized(source, seed=2)
    torch.save(state, tmp_path / "small.pth")
    backbone = build_backbone(ModelConfig(name="small_convnet",
                                          pretrained=str(tmp_path / "small.pth")), 1)
    for key, value in backbone.state_dict().items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0)


# -- one head, one training step for every backbone ------------------------------------------

def test_every_backbone_shares_the_one_head_class():
    heads = {type(build_model(ModelConfig(name=n, embedding_size=8), 1).head)
             for n in ("small_convnet",)}
    heads |= {type(build_model(ModelConfig(name=n, embedding_size=8), 3).head)
              for n in ("bn_inception", "resnet18")}
    assert heads == {EmbeddingHead}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
    for n in ["small_convnet", *IMAGE_BACKBONES]])
def test_one_training_step(name):
    torch.manual_seed(0)
    channels = 1 if name == "small_convnet" else 3
    model = build_model(ModelConfig(name=name, embedding_size=16), channels)
    assert model.backbone.input_convention == BACKBONES.get(name).input_convention
    loss = build_loss(LossConfig(name="mf_cwms"), 2, 16)
    from mfsearch.config import OptimizerConfig
    from mfsearch.training import build_optimizer

    groups = param_groups(model.backbone.parameters(), model.head.parameters(),
                          loss.parameters(), OptimizerConfig(lr=1e-2))
    optimizer = build_optimizer(groups, OptimizerConfig(lr=1e-2))
    first = next(p for p in model.backbone.parameters() if p.ndim == 4)
    before = {"first conv": first.detach().clone(),
              "embedding": model.head.embedding.weight.detach().clone()}
    images = torch.randn(2, channels, 32, 32)
    value = loss(model(images), torch.tensor([0, 1]))
    assert torch.isfinite(value)
    optimizer.zero_grad()
    value.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    optimizer.step()
    assert not torch.equal(first.detach(), before["first conv"])
    assert not torch.equal(model.head.embedding.weight.detach(), before["embedding"])
