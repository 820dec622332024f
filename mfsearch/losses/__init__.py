"""Losses (a registry): mean-field losses, class-wise multi-similarity, pml baselines."""

from __future__ import annotations

from mfsearch.losses._base import ConfiguredLoss
from mfsearch.losses._errors import NonFiniteLossError
from mfsearch.losses._mean_field import (
    ClassWiseMultiSimilarity,
    CWMSParams,
    MeanFieldClassWiseMultiSimilarity,
    MeanFieldContrastive,
    MeanFieldLoss,
    MFContrastiveParams,
    MFCWMSParams,
)
from mfsearch.losses._pml import (
    ContrastiveParams,
    MetricLearningLoss,
    MultiSimilarityParams,
    NPairParams,
    ProxyAnchorParams,
    ProxyNCAParams,
    TripletParams,
    register_pml_loss,
)
from mfsearch.losses._registry import LOSSES, LossSpec, build_loss, loss_params, register_loss
from mfsearch.losses._safe import (
    full_precision,
    pairwise_penalty,
    scaled_softplus,
    segment_logmeanexp,
    segment_logsumexp,
    softplus,
    unit_columns,
)

__all__ = [
    "LOSSES",
    "CWMSParams",
    "ClassWiseMultiSimilarity",
    "ConfiguredLoss",
    "ContrastiveParams",
    "LossSpec",
    "MFCWMSParams",
    "MFContrastiveParams",
    "MeanFieldClassWiseMultiSimilarity",
    "MeanFieldContrastive",
    "MeanFieldLoss",
    "MetricLearningLoss",
    "MultiSimilarityParams",
    "NPairParams",
    "NonFiniteLossError",
    "ProxyAnchorParams",
    "ProxyNCAParams",
    "TripletParams",
    "build_loss",
    "full_precision",
    "loss_params",
    "pairwise_penalty",
    "register_loss",
    "register_pml_loss",
    "scaled_softplus",
    "segment_logmeanexp",
    "segment_logsumexp",
    "softplus",
    "unit_columns",
]
