"""BN-Inception (Inception v2) in the layout of the published Caffe-ported ImageNet weights."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mfsearch.config import ModelConfig
from mfsearch.models._registry import BACKBONES, BackboneSpec, require_rgb
from mfsearch.models._weights import WeightFile

#: BatchNorm momentum of the published port (PyTorch's convention), kept for parity.
BN_MOMENTUM = 0.9
OUT_CHANNELS = 1024
IMAGENET_WEIGHTS = WeightFile(
    "bn_inception-52deb4733.pth",
    "http://data.lip6.fr/cadene/pretrainedmodels/bn_inception-52deb4733.pth",
)


class Mixed(NamedTuple):
    """Output channels of one inception module's branches (0: branch absent).

    A regular module has all four branches with stride 1; a reduction module (``stride=2``)
    has no 1x1 branch and a plain max-pool branch instead of pool + projection.
    """

    name: str
    c1x1: int
    c3x3_reduce: int
    c3x3: int
    double_reduce: int
    double: int
    pool_proj: int
    pool: str  # "avg" or "max"
    stride: int = 1


_MODULES = (
    Mixed("3a", 64, 64, 64, 64, 96, 32, "avg"),
    Mixed("3b", 64, 64, 96, 64, 96, 64, "avg"),
    Mixed("3c", 0, 128, 160, 64, 96, 0, "max", stride=2),
    Mixed("4a", 224, 64, 96, 96, 128, 128, "avg"),
    Mixed("4b", 192, 96, 128, 96, 128, 128, "avg"),
    Mixed("4c", 160, 128, 160, 128, 160, 128, "avg"),
    Mixed("4d", 96, 128, 192, 160, 192, 128, "avg"),
    Mixed("4e", 0, 128, 192, 192, 256, 0, "max", stride=2),
    Mixed("5a", 352, 192, 320, 160, 224, 128, "avg"),
    Mixed("5b", 352, 192, 320, 192, 224, 128, "max"),
)


class BNInception(nn.Module):
    """BN-Inception whose ``state_dict`` has the published checkpoint's keys and shapes.

    Every convolution (with bias) is followed by ``<name>_bn`` and a ReLU; all pooling uses
    ``ceil_mode=True``. Expects BGR pixels in [0, 255] minus the mean [104, 117, 128].
    :meth:`forward` returns the (B, 1024, H/32, W/32) map before global pooling;
    ``last_linear`` is the ImageNet classifier, kept only so that the published file loads
    unchanged, and removed by :meth:`drop_classifier`.

    Args:
        in_channels: Input channels (3 for the published weights).
    """

    input_convention = "bn_inception"

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, but got {in_channels=}")
        self._conv_bn("conv1_7x7_s2", in_channels, 64, 7, stride=2, padding=3)
        self._conv_bn("conv2_3x3_reduce", 64, 64, 1)
        self._conv_bn("conv2_3x3", 64, 192, 3, padding=1)
        channels = 192
        for spec in _MODULES:
            channels = self._mixed(spec, channels)
        self.out_channels = channels
        self.last_linear: nn.Linear | None = nn.Linear(channels, 1000)

    def _conv_bn(self, name: str, cin: int, cout: int, kernel: int, stride: int = 1,
                 padding: int = 0) -> None:
        self.add_module(name, nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding))
        self.add_module(f"{name}_bn", nn.BatchNorm2d(cout, eps=1e-5, momentum=BN_MOMENTUM))

    def _mixed(self, spec: Mixed, cin: int) -> int:
        prefix = f"inception_{spec.name}"
        if spec.c1x1:
            self._conv_bn(f"{prefix}_1x1", cin, spec.c1x1, 1)
        self._conv_bn(f"{prefix}_3x3_reduce", cin, spec.c3x3_reduce, 1)
        self._conv_bn(f"{prefix}_3x3", spec.c3x3_reduce, spec.c3x3, 3, spec.stride, 1)
        self._conv_bn(f"{prefix}_double_3x3_reduce", cin, spec.double_reduce, 1)
        self._conv_bn(f"{prefix}_double_3x3_1", spec.double_reduce, spec.double, 3, padding=1)
        self._conv_bn(f"{prefix}_double_3x3_2", spec.double, spec.double, 3, spec.stride, 1)
        if spec.pool_proj:
            self._conv_bn(f"{prefix}_pool_proj", cin, spec.pool_proj, 1)
        return spec.c1x1 + spec.c3x3 + spec.double + (spec.pool_proj or cin)

    def _cbr(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return F.relu(getattr(self, f"{name}_bn")(getattr(self, name)(x)), inplace=True)

    def _run_mixed(self, spec: Mixed, x: torch.Tensor) -> torch.Tensor:
        prefix = f"inception_{spec.name}"
        branches = []
        if spec.c1x1:
            branches.append(self._cbr(f"{prefix}_1x1", x))
        branches.append(self._cbr(f"{prefix}_3x3", self._cbr(f"{prefix}_3x3_reduce", x)))
        double = self._cbr(f"{prefix}_double_3x3_reduce", x)
        double = self._cbr(f"{prefix}_double_3x3_1", double)
        branches.append(self._cbr(f"{prefix}_double_3x3_2", double))
        if spec.stride == 2:
            branches.append(F.max_pool2d(x, 3, stride=2, ceil_mode=True))
        else:
            if spec.pool == "avg":
                pooled = F.avg_pool2d(x, 3, stride=1, padding=1, ceil_mode=True,
                                      count_include_pad=True)
            else:
                pooled = F.max_pool2d(x, 3, stride=1, padding=1, ceil_mode=True)
            branches.append(self._cbr(f"{prefix}_pool_proj", pooled))
        return torch.cat(branches, dim=1)

    def drop_classifier(self) -> BNInception:
        """Removes ``last_linear`` (the ImageNet classifier); returns self."""
        self.last_linear = None
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self._cbr("conv1_7x7_s2", images)
        x = F.max_pool2d(x, 3, stride=2, ceil_mode=True)
        x = self._cbr("conv2_3x3", self._cbr("conv2_3x3_reduce", x))
        x = F.max_pool2d(x, 3, stride=2, ceil_mode=True)
        for spec in _MODULES:
            x = self._run_mixed(spec, x)
        return x


def _create(cfg: ModelConfig, in_channels: int) -> nn.Module:
    require_rgb("bn_inception", in_channels)
    return BNInception(in_channels)


def _features(network: nn.Module) -> nn.Module:
    assert isinstance(network, BNInception)
    return network.drop_classifier()


BACKBONES.add("bn_inception", BackboneSpec(
    create=_create,
    features=_features,
    input_convention="bn_inception",
    imagenet=IMAGENET_WEIGHTS,
    classifier_prefixes=("last_linear.",),
))
