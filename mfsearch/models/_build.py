from __future__ import annotations

from pathlib import Path

from torch import nn

from mfsearch.config import ModelConfig
from mfsearch.models._head import EmbeddingModel
from mfsearch.models._registry import BACKBONES
from mfsearch.models._weights import (
    adapt_published,
    load_state_dict_checked,
    read_state_dict,
    resolve_pretrained,
)


def pretrained_path(cfg: ModelConfig) -> Path | None:
    """The weight file ``model.pretrained`` selects (None for ``none``), checked to exist.

    Cheap; run it with the other config checks so that a missing file fails before any
    data is read.
    """
    spec = BACKBONES.get(cfg.name)
    return resolve_pretrained(cfg.pretrained, cfg.name, spec.imagenet)


def build_backbone(cfg: ModelConfig, in_channels: int) -> nn.Module:
    """The configured backbone with its pretrained weights, as a feature extractor.

    The weights load into the whole published network (classifier included, leading
    dimensions of 1 squeezed) strictly; then the classifier is discarded.
    """
    spec = BACKBONES.get(cfg.name)
    path = pretrained_path(cfg)
    network = spec.create(cfg, in_channels)
    if path is not None:
        state = adapt_published(read_state_dict(path), network)
        load_state_dict_checked(network, state, f"Weight file {path} (model.pretrained)",
                                f"{cfg.name} network", spec.classifier_prefixes)
    backbone = spec.features(network)
    convention = getattr(backbone, "input_convention", None)
    if convention != spec.input_convention:
        raise ValueError(f"backbone {cfg.name!r} expects {convention=}, but its registry entry "
                         f"says {spec.input_convention!r}")
    return backbone


def build_model(cfg: ModelConfig, in_channels: int) -> EmbeddingModel:
    """The configured backbone with the embedding head on top."""
    return EmbeddingModel(build_backbone(cfg, in_channels), cfg.embedding_size)
