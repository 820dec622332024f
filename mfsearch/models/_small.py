"""A small convolutional backbone for 8x8 to 28x28 images (digits, Fashion-MNIST)."""

from __future__ import annotations

import torch
from torch import nn

from mfsearch.config import ModelConfig
from mfsearch.models._registry import BACKBONES, BackboneSpec


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


class SmallConvNet(nn.Module):
    """Three conv-BN-ReLU stages of ``width``, ``2 width`` and ``4 width`` channels.

    One 2x max pool after the second stage; inputs of 8x8 give a 4x4 feature map.
    """

    input_convention = "array"

    def __init__(self, in_channels: int, width: int = 32) -> None:
        super().__init__()
        if in_channels < 1 or width < 1:
            raise ValueError(f"in_channels and width must be >= 1, but got {in_channels=} {width=}")
        self.features = nn.Sequential(
            *_block(in_channels, width),
            *_block(width, 2 * width),
            nn.MaxPool2d(2),
            *_block(2 * width, 4 * width),
        )
        self.out_channels = 4 * width

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images)


def _create(cfg: ModelConfig, in_channels: int) -> nn.Module:
    return SmallConvNet(in_channels, cfg.width)


def _features(network: nn.Module) -> nn.Module:
    return network


#: No published weights: ``pretrained`` is ``none`` or a file saved from this network.
BACKBONES.add("small_convnet", BackboneSpec(create=_create, features=_features,
                                            input_convention="array"))


class PooledConvNet(nn.Module):
    """Three conv-BN-ReLU-maxpool stages of ``width``, ``2 width``, ``4 width`` channels.

    The final map is average-pooled to ``grid`` x ``grid`` cells and flattened, so the
    embedding head sees where in the image a feature is (useful for centred, aligned images
    such as Fashion-MNIST, where a global pool discards the layout). A 28x28 input costs
    about a fifteenth of :class:`SmallConvNet` at the same width.
    """

    input_convention = "array"

    def __init__(self, in_channels: int, width: int = 16, grid: int = 3) -> None:
        super().__init__()
        if in_channels < 1 or width < 1 or grid < 1:
            raise ValueError(
                f"in_channels, width and grid must be >= 1, but got {in_channels=} {width=} "
                f"{grid=}"
            )
        widths = [in_channels, width, 2 * width, 4 * width]
        layers: list[nn.Module] = []
        for cin, cout in zip(widths[:-1], widths[1:], strict=True):
            layers += [*_block(cin, cout), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(grid), nn.Flatten())
        self.out_channels = 4 * width * grid * grid

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images)


def _create_pooled(cfg: ModelConfig, in_channels: int) -> nn.Module:
    return PooledConvNet(in_channels, cfg.width)


#: No published weights either; inputs of 8x8 or more (digits, Fashion-MNIST).
BACKBONES.add("pooled_convnet", BackboneSpec(create=_create_pooled, features=_features,
                                             input_convention="array"))
