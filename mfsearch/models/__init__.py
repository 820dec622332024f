"""Backbones (a registry), the shared embedding head and the embedding model."""

from __future__ import annotations

from mfsearch.models import _bn_inception, _small, _torchvision  # noqa: F401  (register)
from mfsearch.models._bn_inception import BNInception
from mfsearch.models._build import build_backbone, build_model, pretrained_path
from mfsearch.models._head import EmbeddingHead, EmbeddingModel
from mfsearch.models._registry import BACKBONES, INPUT_CONVENTIONS, BackboneSpec
from mfsearch.models._small import SmallConvNet
from mfsearch.models._torchvision import FeatureStages, ImageNetToSymmetric
from mfsearch.models._weights import (
    StateDictMismatchError,
    WeightFile,
    adapt_published,
    hub_checkpoint_dir,
    load_state_dict_checked,
    read_state_dict,
    resolve_pretrained,
    state_dict_mismatches,
)

__all__ = [
    "BACKBONES",
    "INPUT_CONVENTIONS",
    "BNInception",
    "BackboneSpec",
    "EmbeddingHead",
    "EmbeddingModel",
    "FeatureStages",
    "ImageNetToSymmetric",
    "SmallConvNet",
    "StateDictMismatchError",
    "WeightFile",
    "adapt_published",
    "build_backbone",
    "build_model",
    "hub_checkpoint_dir",
    "load_state_dict_checked",
    "pretrained_path",
    "read_state_dict",
    "resolve_pretrained",
    "state_dict_mismatches",
]
