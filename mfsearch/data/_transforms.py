"""Sample transforms, keyed by the input convention a backbone declares.

Conventions:
    ``array``: in-memory arrays used as stored (small_convnet on digits, Fashion-MNIST).
    ``imagenet``: torchvision models; RGB in [0, 1], ImageNet mean and std.
    ``bn_inception``: BGR, 0-255 scale, mean [104, 117, 128], std 1.

Image pipelines take either a PIL image (decoded from a file) or a uint8 (C, H, W) tensor
(from the decoded-image cache); torchvision's v2 transforms run the PIL or the tensor kernel.
Training: RandomResizedCrop(crop_size) + horizontal flip. Evaluation: Resize(resize_size) +
CenterCrop(crop_size).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torchvision.transforms import v2

from mfsearch._registry import Registry
from mfsearch.config import DatasetConfig
from mfsearch.data._bundle import Transforms

TransformFactory = Callable[[DatasetConfig], Transforms]

#: Transform factories by input convention (``BACKBONES.get(name).input_convention``).
TRANSFORMS: Registry[TransformFactory] = Registry("input convention",
                                                   "model.name (its input_convention)")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BN_INCEPTION_MEAN = (104.0, 117.0, 128.0)


def rgb_to_bgr(image: torch.Tensor) -> torch.Tensor:
    """Reverses the channel order of a (C, H, W) or (B, C, H, W) tensor."""
    return image.flip(-3)


def _to_float(scale: bool, bgr: bool, mean: Sequence[float],
              std: Sequence[float]) -> list[Callable]:
    steps: list[Callable] = [v2.ToImage(), v2.ToDtype(torch.float32, scale=scale)]
    if bgr:
        steps.append(v2.Lambda(rgb_to_bgr))
    steps.append(v2.Normalize(list(mean), list(std)))
    return steps


def image_transforms(cfg: DatasetConfig, convention: str, *, scale: bool, bgr: bool,
                     mean: Sequence[float], std: Sequence[float]) -> Transforms:
    """The training and evaluation pipelines for one image convention."""
    tail = _to_float(scale, bgr, mean, std)
    train = v2.Compose([v2.RandomResizedCrop(cfg.crop_size, antialias=True),
                        v2.RandomHorizontalFlip(), *tail])
    evaluate = v2.Compose([v2.Resize(cfg.resize_size, antialias=True),
                           v2.CenterCrop(cfg.crop_size), *tail])
    return Transforms(train=train, eval=evaluate, convention=convention)


@TRANSFORMS.register("array")
def array_transforms(cfg: DatasetConfig) -> Transforms:
    """Samples used as stored."""
    return Transforms(convention="array")


@TRANSFORMS.register("imagenet")
def imagenet_transforms(cfg: DatasetConfig) -> Transforms:
    """torchvision backbones: RGB in [0, 1], ImageNet mean and std."""
    return image_transforms(cfg, "imagenet", scale=True, bgr=False, mean=IMAGENET_MEAN,
                            std=IMAGENET_STD)


@TRANSFORMS.register("bn_inception")
def bn_inception_transforms(cfg: DatasetConfig) -> Transforms:
    """BN-Inception: BGR, 0-255, mean [104, 117, 128] (BGR order), std 1."""
    return image_transforms(cfg, "bn_inception", scale=False, bgr=True,
                            mean=BN_INCEPTION_MEAN, std=(1.0, 1.0, 1.0))


def build_transforms(cfg: DatasetConfig, convention: str) -> Transforms:
    """Transforms for the dataset ``cfg`` and a backbone's input ``convention``."""
    return TRANSFORMS.get(convention)(cfg)
