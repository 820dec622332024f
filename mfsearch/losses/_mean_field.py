"""Mean-field losses: the class-wise multi-similarity loss against learnable mean fields."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mfsearch.config import check
from mfsearch.losses._registry import register_loss
from mfsearch.losses._safe import log1p_mean_exp, scaled_softplus, segment_logsumexp


def _working_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; half precisions are promoted to float32."""
    return torch.promote_types(dtype, torch.float32)


@dataclass
class MFCWMSParams:
    """Hyperparameters of MF-CWMS (published defaults)."""

    alpha: float = 0.01
    beta: float = 80.0
    mrg: float = 0.8
    mf_reg: float = 0.0

    def __post_init__(self) -> None:
        check(self.alpha > 0, "loss.alpha", self.alpha, "must be > 0")
        check(self.beta > 0, "loss.beta", self.beta, "must be > 0")
        check(0 <= self.mrg <= 1, "loss.mrg", self.mrg, "must lie in [0, 1]")
        check(self.mf_reg >= 0, "loss.mf_reg", self.mf_reg, "must be >= 0")


class MeanFieldLoss(nn.Module):
    """Base class holding the learnable mean fields M (d x C), one column per class."""

    def __init__(self, num_classes: int, embedding_size: int) -> None:
        super().__init__()
        if num_classes < 1 or embedding_size < 1:
            raise ValueError(
                f"num_classes and embedding_size must be >= 1, but got {num_classes=} "
                f"{embedding_size=}"
            )
        self.num_classes = num_classes
        self.mean_fields = nn.Parameter(torch.randn(embedding_size, num_classes))

    def normalized_mean_fields(self, dtype: torch.dtype) -> torch.Tensor:
        """Columns of M scaled to unit length, in ``dtype``."""
        return F.normalize(self.mean_fields.to(dtype), dim=0)

    def hyperparameters(self) -> dict[str, float]:
        raise NotImplementedError


def pairwise_mean_field_penalty(fields: torch.Tensor, penalty, chunk_rows: int) -> torch.Tensor:
    """``sum_c sum_{c' != c} penalty(m_c . m_c')`` over normalised fields, in row chunks."""
    num = fields.shape[1]
    total = fields.new_zeros(())
    for start in range(0, num, chunk_rows):
        stop = min(start + chunk_rows, num)
        gram = fields[:, start:stop].T @ fields  # (rows, C)
        values = penalty(gram)
        rows = torch.arange(start, stop, device=fields.device)
        values = values.index_put((rows - start, rows), values.new_zeros(()))
        total = total + values.sum()
    return total


@register_loss("mf_cwms", params=MFCWMSParams)
class MeanFieldClassWiseMultiSimilarity(MeanFieldLoss):
    """MF-CWMS: class-wise multi-similarity between samples and class mean fields.

    Only the K classes of the batch get their own rows: pairs of two absent classes
    contribute exactly zero, pairs with one present class reduce to a (K x C) term.
    Every exponential goes through a log-sum-exp, so the value is finite for any
    scale of the inputs.
    """

    def __init__(self, num_classes: int, embedding_size: int, alpha: float = 0.01,
                 beta: float = 80.0, mrg: float = 0.8, mf_reg: float = 0.0,
                 reg_chunk_rows: int = 1024) -> None:
        super().__init__(num_classes, embedding_size)
        MFCWMSParams(alpha, beta, mrg, mf_reg)
        self.alpha, self.beta, self.mrg, self.mf_reg = alpha, beta, mrg, mf_reg
        self.reg_chunk_rows = reg_chunk_rows

    def hyperparameters(self) -> dict[str, float]:
        return {"alpha": self.alpha, "beta": self.beta, "mrg": self.mrg, "mf_reg": self.mf_reg}

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        dtype = _working_dtype(embeddings.dtype)
        fields = self.normalized_mean_fields(dtype)
        sims = (embeddings.to(dtype) @ fields).to(dtype)  # (B, C)
        classes, segment = torch.unique(labels, return_inverse=True)
        k = len(classes)
        counts = torch.bincount(segment, minlength=k).to(dtype)

        pos_sims = sims.gather(1, labels.view(-1, 1)).squeeze(1)
        pos_lse = segment_logsumexp(-self.alpha * (pos_sims - self.mrg), segment, k)
        positive = log1p_mean_exp(pos_lse, counts).sum() / (self.alpha * k)

        # log N[c, c'] for the K batch classes c and all C classes c'.
        log_n = segment_logsumexp(self.beta * (sims - self.mrg), segment, k)
        log_n = log_n - torch.log(counts).unsqueeze(1)
        in_batch = log_n.index_select(1, classes)  # (K, K): [a, b] = log N[class a, class b]
        both = torch.logsumexp(torch.stack([torch.zeros_like(in_batch), in_batch, in_batch.T]), 0)
        off_diagonal = ~torch.eye(k, dtype=torch.bool, device=both.device)
        pair_sum = both[off_diagonal].sum()
        absent = torch.ones(self.num_classes, dtype=torch.bool, device=log_n.device)
        absent[classes] = False
        one_sided = F.softplus(log_n).masked_fill(~absent, 0.0).sum()
        negative = (pair_sum + 2.0 * one_sided) / (2.0 * self.beta * k)

        loss = positive + negative
        if self.mf_reg > 0:
            loss = loss + self.regularizer(fields)
        return loss

    def regularizer(self, fields: torch.Tensor | None = None) -> torch.Tensor:
        """``mf_reg / C * sum_{c != c'} softplus_beta(m_c . m_c' - mrg)^2``."""
        if fields is None:
            fields = self.normalized_mean_fields(_working_dtype(self.mean_fields.dtype))
        penalty = pairwise_mean_field_penalty(
            fields, lambda g: scaled_softplus(g - self.mrg, self.beta).square(),
            self.reg_chunk_rows)
        return self.mf_reg * penalty / self.num_classes


