from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from mfsearch._registry import Registry
from mfsearch.config import ModelConfig
from mfsearch.models._weights import WeightFile

#: The pixel conventions a backbone can expect; the data side builds its transforms from them.
INPUT_CONVENTIONS = ("imagenet", "bn_inception", "array")


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and what it expects.

    A backbone is built in two steps so that published weights load into it unchanged:
    ``create`` makes the whole network in its weight file's layout (classifier included),
    then ``features`` turns it into the feature extractor used under the embedding head.

    Attributes:
        create: ``create(model_config, in_channels) -> network``.
        features: ``features(network) -> module`` returning (B, C, H, W) feature maps and
            having an int ``out_channels``.
        input_convention: ``imagenet`` (RGB in [0, 1], ImageNet mean and std),
            ``bn_inception`` (BGR in [0, 255] minus [104, 117, 128]) or ``array`` (samples
            as the dataset stores them).
        imagenet: The published ImageNet weight file, if any.
        classifier_prefixes: State-dict keys of the parts ``features`` discards; a weight
            file may lack them.
    """

    create: Callable[[ModelConfig, int], nn.Module]
    features: Callable[[nn.Module], nn.Module]
    input_convention: str
    imagenet: WeightFile | None = None
    classifier_prefixes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.input_convention not in INPUT_CONVENTIONS:
            raise ValueError(
                f"input_convention must be one of {INPUT_CONVENTIONS}, but got "
                f"{self.input_convention=}"
            )


#: Backbone specs by name (``model.name``).
BACKBONES: Registry[BackboneSpec] = Registry("model", "model.name")


def require_rgb(name: str, in_channels: int) -> None:
    """Raises unless the data has the 3 colour channels an ImageNet backbone needs."""
    if in_channels != 3:
        from mfsearch.config import ConfigError

        raise ConfigError(
            f"model.name={name!r} is invalid for this dataset: it needs 3-channel images, but "
            f"the dataset gives {in_channels}. Use model.name=small_convnet for grey images."
        )
