"""torchvision's ResNets and GoogLeNet as feature extractors (maps before global pooling)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import PurePosixPath
from urllib.parse import urlparse

import torch
import torchvision.models as tvm
from torch import nn

from mfsearch.config import ModelConfig
from mfsearch.models._registry import BACKBONES, BackboneSpec, require_rgb
from mfsearch.models._weights import WeightFile

_RESNET_STAGES = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
_GOOGLENET_STAGES = (
    "conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
    "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
    "inception5a", "inception5b",
)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class FeatureStages(nn.Sequential):
    """Named stages of a classifier, run in order; state-dict keys stay the classifier's.

    Args:
        stages: (name, module) pairs.
        out_channels: Channels of the last stage's output.
        input_convention: The pixel convention the stages expect.
    """

    def __init__(self, stages: Sequence[tuple[str, nn.Module]], out_channels: int,
                 input_convention: str) -> None:
        if not stages or out_channels < 1:
            raise ValueError(f"need stages and out_channels >= 1, but got {len(stages)=} "
                             f"{out_channels=}")
        super().__init__(OrderedDict(stages))
        self.out_channels = out_channels
        self.input_convention = input_convention


class ImageNetToSymmetric(nn.Module):
    """Maps ImageNet-normalised RGB to ``(x - 0.5) / 0.5``, the scale GoogLeNet's ported
    weights were trained on (torchvision's ``transform_input``)."""

    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        std = torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1)
        mean = torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1)
        self.register_buffer("scale", std / 0.5, persistent=False)
        self.register_buffer("shift", (mean - 0.5) / 0.5, persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images * self.scale + self.shift


def _weight_file(url: str) -> WeightFile:
    return WeightFile(PurePosixPath(urlparse(url).path).name, url)


def _create(builder: Callable[..., nn.Module], name: str, cfg: ModelConfig, in_channels: int,
            **kwargs: object) -> nn.Module:
    require_rgb(name, in_channels)
    return builder(weights=None, **kwargs)


def _features(stage_names: Sequence[str], network: nn.Module,
              prepare: nn.Module | None = None) -> nn.Module:
    stages = [(name, getattr(network, name)) for name in stage_names]
    if prepare is not None:
        stages.insert(0, ("transform_input", prepare))
    fc = network.fc
    assert isinstance(fc, nn.Linear)
    return FeatureStages(stages, fc.in_features, "imagenet")


def _googlenet_features(network: nn.Module) -> nn.Module:
    return _features(_GOOGLENET_STAGES, network, ImageNetToSymmetric())


for _name, _weights in (
    ("resnet18", tvm.ResNet18_Weights.IMAGENET1K_V1),
    ("resnet34", tvm.ResNet34_Weights.IMAGENET1K_V1),
    ("resnet50", tvm.ResNet50_Weights.IMAGENET1K_V1),
    ("resnet101", tvm.ResNet101_Weights.IMAGENET1K_V1),
):
    BACKBONES.add(_name, BackboneSpec(
        create=partial(_create, getattr(tvm, _name), _name),
        features=partial(_features, _RESNET_STAGES),
        input_convention="imagenet",
        imagenet=_weight_file(_weights.url),
        classifier_prefixes=("fc.",),
    ))

BACKBONES.add("googlenet", BackboneSpec(
    create=partial(_create, tvm.googlenet, "googlenet", aux_logits=True, transform_input=False,
                   init_weights=True),
    features=_googlenet_features,
    input_convention="imagenet",
    imagenet=_weight_file(tvm.GoogLeNet_Weights.IMAGENET1K_V1.url),
    classifier_prefixes=("fc.", "aux1.", "aux2."),
))
