"""Losses (a registry): mean-field losses with numerically safe helpers."""

from __future__ import annotations

from mfsearch.losses._errors import NonFiniteLossError
from mfsearch.losses._mean_field import (
    MeanFieldClassWiseMultiSimilarity,
    MeanFieldLoss,
    MFCWMSParams,
)
from mfsearch.losses._registry import LOSSES, LossSpec, build_loss, loss_params, register_loss
from mfsearch.losses._safe import log1p_mean_exp, scaled_softplus, segment_logsumexp

__all__ = [
    "LOSSES",
    "LossSpec",
    "MFCWMSParams",
    "MeanFieldClassWiseMultiSimilarity",
    "MeanFieldLoss",
    "NonFiniteLossError",
    "build_loss",
    "log1p_mean_exp",
    "loss_params",
    "register_loss",
    "scaled_softplus",
    "segment_logsumexp",
]
