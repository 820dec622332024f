"""Numerically safe building blocks: segment log-mean-exp, softplus, chunked pair penalties."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
import torch.utils.checkpoint

_Forward = TypeVar("_Forward", bound=Callable[..., torch.Tensor])


def working_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype a loss computes in: float64 stays float64, anything narrower becomes float32."""
    return torch.promote_types(dtype, torch.float32)


def full_precision(forward: _Forward) -> _Forward:
    """Decorates a loss's ``forward(self, embeddings, labels, ...)``.

    Autocast is switched off inside, and floating-point embeddings are promoted to
    :func:`working_dtype`, so that a bfloat16 or float16 model still gets a float32 loss.
    """

    @functools.wraps(forward)
    def wrapper(self: Any, embeddings: torch.Tensor, labels: torch.Tensor, *args: Any,
                **kwargs: Any) -> torch.Tensor:
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            embeddings = embeddings.to(working_dtype(embeddings.dtype))
            return forward(self, embeddings, labels, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def softplus(z: torch.Tensor) -> torch.Tensor:
    """``log(1 + exp(z))`` exactly (no linear cut-off as in ``F.softplus``), never overflowing."""
    return torch.logaddexp(z, torch.zeros_like(z))


def segment_logsumexp(values: torch.Tensor, segments: torch.Tensor,
                      num_segments: int) -> torch.Tensor:
    """Log-sum-exp of the rows of ``values`` grouped by ``segments``.

    Args:
        values: (N, ...) tensor.
        segments: (N,) int64 ids in ``[0, num_segments)``; every id must occur.
        num_segments: Number of groups.

    Returns:
        (num_segments, ...) tensor; finite (with finite gradients) wherever the inputs are
        finite, since every group is shifted by its own maximum (so each sum is >= 1).
    """
    shape = (num_segments, *values.shape[1:])
    index = segments.view(-1, *([1] * (values.ndim - 1))).expand_as(values)
    with torch.no_grad():
        shift = torch.full(shape, -math.inf, dtype=values.dtype, device=values.device)
        shift = shift.scatter_reduce(0, index, values.detach(), reduce="amax", include_self=True)
    shifted = values - shift.index_select(0, segments)
    summed = torch.zeros(shape, dtype=values.dtype, device=values.device)
    summed = summed.index_add(0, segments, torch.exp(shifted))
    return torch.log(summed) + shift


def segment_logmeanexp(values: torch.Tensor, segments: torch.Tensor,
                       log_counts: torch.Tensor) -> torch.Tensor:
    """Log of the mean of ``exp(values)`` over each group of rows.

    Args:
        values: (N, ...) tensor.
        segments: (N,) group ids, as in :func:`segment_logsumexp`.
        log_counts: (num_segments,) log of the number of rows of each group.
    """
    log_sum = segment_logsumexp(values, segments, len(log_counts))
    return log_sum - log_counts.view(-1, *([1] * (values.ndim - 1)))


def scaled_softplus(z: torch.Tensor, beta: float) -> torch.Tensor:
    """``(1 / beta) * log(1 + exp(beta * z))`` without overflow."""
    return softplus(beta * z) / beta


def unit_columns(matrix: torch.Tensor) -> torch.Tensor:
    """Columns scaled to unit length, exactly for any scale (tiny or huge) of the input.

    When some column's norm is not comfortably inside the dtype's range, every column is
    first divided by its largest absolute entry (a constant for autograd), so that its norm
    lies in ``[1, sqrt(rows)]``. An all-zero column stays zero.
    """
    norm = torch.linalg.vector_norm(matrix, dim=0, keepdim=True)
    info = torch.finfo(matrix.dtype)
    low, high = (float(v) for v in torch.aminmax(norm.detach()))
    if info.tiny ** 0.25 < low and high < info.max ** 0.25:
        return matrix / norm
    with torch.no_grad():
        scale = matrix.abs().amax(dim=0, keepdim=True)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return F.normalize(matrix / scale, dim=0)


def _penalty_chunk(fields: torch.Tensor, start: int, stop: int,
                   penalty: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    gram = fields[:, start:stop].T @ fields  # (rows, C)
    values = penalty(gram)
    rows = torch.arange(start, stop, device=fields.device)
    return values.index_put((rows - start, rows), values.new_zeros(())).sum()


def pairwise_penalty(fields: torch.Tensor, penalty: Callable[[torch.Tensor], torch.Tensor],
                     chunk_elements: int = 1 << 22) -> torch.Tensor:
    """``sum_c sum_{c' != c} penalty(f_c . f_c')`` over the columns ``f`` of ``fields``.

    The (C x C) Gram matrix is never built: rows come in chunks of about
    ``chunk_elements`` entries, and under autograd each chunk is checkpointed (recomputed
    in the backward pass), so peak memory is that of one chunk whatever C is.
    """
    if chunk_elements < 1:
        raise ValueError(f"chunk_elements must be >= 1, but got {chunk_elements=}")
    num = fields.shape[1]
    rows = max(1, chunk_elements // max(num, 1))
    checkpoint = torch.is_grad_enabled() and fields.requires_grad
    total = fields.new_zeros(())
    for start in range(0, num, rows):
        stop = min(start + rows, num)
        if checkpoint:
            part = torch.utils.checkpoint.checkpoint(
                _penalty_chunk, fields, start, stop, penalty, use_reentrant=False)
        else:
            part = _penalty_chunk(fields, start, stop, penalty)
        total = total + part
    return total
