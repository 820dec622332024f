"""Backbones (a registry), the shared embedding head and the embedding model."""

from __future__ import annotations

from mfsearch.models import _small  # noqa: F401  (registers small_convnet)
from mfsearch.models._build import build_model
from mfsearch.models._head import EmbeddingHead, EmbeddingModel
from mfsearch.models._registry import (
    BACKBONES,
    DEFAULT_INPUT_CONVENTION,
    INPUT_CONVENTIONS,
    input_convention,
)
from mfsearch.models._small import SmallConvNet

__all__ = [
    "BACKBONES",
    "DEFAULT_INPUT_CONVENTION",
    "INPUT_CONVENTIONS",
    "EmbeddingHead",
    "EmbeddingModel",
    "SmallConvNet",
    "build_model",
    "input_convention",
]
