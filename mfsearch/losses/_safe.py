"""Numerically safe building blocks: segment log-sum-exp and log(1 + mean(exp))."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def segment_logsumexp(values: torch.Tensor, segments: torch.Tensor,
                      num_segments: int) -> torch.Tensor:
    """Log-sum-exp of the rows of ``values`` grouped by ``segments``.

    Args:
        values: (N, ...) tensor.
        segments: (N,) int64 ids in ``[0, num_segments)``; every id must occur.
        num_segments: Number of groups.

    Returns:
        (num_segments, ...) tensor; finite wherever the inputs are finite.
    """
    shape = (num_segments, *values.shape[1:])
    index = segments.view(-1, *([1] * (values.ndim - 1))).expand_as(values)
    with torch.no_grad():
        shift = torch.full(shape, -math.inf, dtype=values.dtype, device=values.device)
        shift = shift.scatter_reduce(0, index, values.detach(), reduce="amax", include_self=True)
        shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
    summed = torch.zeros(shape, dtype=values.dtype, device=values.device)
    summed = summed.index_add(0, segments, torch.exp(values - shift.index_select(0, segments)))
    return torch.log(summed) + shift


def log1p_mean_exp(log_sum: torch.Tensor, count: torch.Tensor | float) -> torch.Tensor:
    """``log(1 + exp(log_sum) / count)`` computed as ``softplus(log_sum - log(count))``."""
    if not isinstance(count, torch.Tensor):
        count = torch.tensor(float(count), dtype=log_sum.dtype, device=log_sum.device)
    return F.softplus(log_sum - torch.log(count.to(log_sum.dtype)))


def scaled_softplus(z: torch.Tensor, beta: float) -> torch.Tensor:
    """``(1 / beta) * log(1 + exp(beta * z))`` without overflow."""
    return F.softplus(beta * z) / beta
