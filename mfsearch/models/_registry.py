from __future__ import annotations

from collections.abc import Callable

from torch import nn

from mfsearch._registry import Registry
from mfsearch.config import ModelConfig

BackboneFactory = Callable[[ModelConfig, int], nn.Module]

#: Backbone factories: ``factory(model_config, in_channels) -> module`` whose forward returns
#: a (B, C, H, W) feature map and which has an ``out_channels`` attribute.
BACKBONES: Registry[BackboneFactory] = Registry("model", "model.name")
