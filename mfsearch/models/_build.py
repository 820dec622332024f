from __future__ import annotations

from mfsearch.config import ModelConfig
from mfsearch.models._head import EmbeddingModel
from mfsearch.models._registry import BACKBONES


def build_model(cfg: ModelConfig, in_channels: int) -> EmbeddingModel:
    """The configured backbone with the embedding head on top."""
    backbone = BACKBONES.get(cfg.name)(cfg, in_channels)
    return EmbeddingModel(backbone, cfg.embedding_size)
