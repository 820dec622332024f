from __future__ import annotations

from collections.abc import Callable

from torch import nn

from mfsearch._registry import Registry
from mfsearch.config import ModelConfig

BackboneFactory = Callable[[ModelConfig, int], nn.Module]

#: Backbone factories: ``factory(model_config, in_channels) -> module`` whose forward returns
#: a (B, C, H, W) feature map and which has an ``out_channels`` attribute.
BACKBONES: Registry[BackboneFactory] = Registry("model", "model.name")

#: The input convention each backbone expects (a key of ``mfsearch.data.TRANSFORMS``):
#: ``tensor`` (in-memory arrays, as stored), ``imagenet`` (torchvision models) or
#: ``bn_inception``. A backbone registers its own next to its factory; backbones that do not
#: take :data:`DEFAULT_INPUT_CONVENTION`.
INPUT_CONVENTIONS: Registry[str] = Registry("backbone input convention", "model.name")
DEFAULT_INPUT_CONVENTION = "imagenet"


def input_convention(name: str) -> str:
    """The input convention of backbone ``name`` (see :data:`INPUT_CONVENTIONS`)."""
    return INPUT_CONVENTIONS.get(name) if name in INPUT_CONVENTIONS else DEFAULT_INPUT_CONVENTION
