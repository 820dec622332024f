"""Mean-field losses: samples against one learnable mean field per class."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from mfsearch.config import check
from mfsearch.losses._base import ConfiguredLoss, check_sizes
from mfsearch.losses._registry import register_loss
from mfsearch.losses._safe import (
    full_precision,
    pairwise_penalty,
    scaled_softplus,
    segment_logmeanexp,
    softplus,
    unit_columns,
)


@dataclass
class CWMSParams:
    """Hyperparameters of the pair-based class-wise multi-similarity loss.

    Attributes:
        alpha: Scale of the positive term (> 0).
        beta: Scale of the negative term (> 0).
        mrg: The margin lambda, in [0, 1].
    """

    alpha: float = 2.0
    beta: float = 50.0
    mrg: float = 0.5

    def __post_init__(self) -> None:
        check(self.alpha > 0, "loss.alpha", self.alpha, "must be > 0")
        check(self.beta > 0, "loss.beta", self.beta, "must be > 0")
        check(0 <= self.mrg <= 1, "loss.mrg", self.mrg, "must lie in [0, 1]")


@dataclass
class MFCWMSParams(CWMSParams):
    """Hyperparameters of MF-CWMS (published defaults); ``mf_reg`` weighs the regulariser."""

    alpha: float = 0.01
    beta: float = 80.0
    mrg: float = 0.8
    mf_reg: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.mf_reg >= 0, "loss.mf_reg", self.mf_reg, "must be >= 0")


@dataclass
class MFContrastiveParams:
    """Hyperparameters of MeanFieldContrastive, in cosine-distance units (``d = 1 - s``)."""

    pos_margin: float = 0.02
    neg_margin: float = 0.3
    mf_reg: float = 0.0

    def __post_init__(self) -> None:
        check(0 <= self.pos_margin <= 2, "loss.pos_margin", self.pos_margin,
              "must lie in [0, 2] (a cosine distance)")
        check(0 <= self.neg_margin <= 2, "loss.neg_margin", self.neg_margin,
              "must lie in [0, 2] (a cosine distance)")
        check(self.mf_reg >= 0, "loss.mf_reg", self.mf_reg, "must be >= 0")


def check_labels(labels: torch.Tensor, num_classes: int) -> None:
    """Raises ``ValueError`` unless ``labels`` is a non-empty 1-D batch of ids in range."""
    if labels.ndim != 1 or labels.numel() == 0:
        raise ValueError(f"labels must be a non-empty 1-D tensor, but got {labels.shape=}")
    low, high = (int(v) for v in torch.aminmax(labels))
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"labels must lie in [0, {num_classes}) (the training classes), but got "
            f"labels in [{low}, {high}]"
        )


class MeanFieldLoss(ConfiguredLoss):
    """Base class holding the learnable mean fields M (d x C), one column per class.

    Args:
        num_classes: C, the number of training classes.
        embedding_size: d.
        reg_chunk_elements: Entries of the class-pair matrix computed at once by the
            regulariser (bounds its peak memory).
        **params: The hyperparameters, validated by ``params_type``.
    """

    params_type: ClassVar[type] = MFCWMSParams

    def __init__(self, num_classes: int, embedding_size: int, *,
                 reg_chunk_elements: int = 1 << 22, **params: Any) -> None:
        super().__init__(self.params_type(**params))
        check_sizes(num_classes, embedding_size)
        if reg_chunk_elements < 1:
            raise ValueError(f"reg_chunk_elements must be >= 1, but got {reg_chunk_elements=}")
        self.num_classes = num_classes
        self.reg_chunk_elements = reg_chunk_elements
        self.mean_fields = nn.Parameter(torch.randn(embedding_size, num_classes))

    def normalized_mean_fields(self, dtype: torch.dtype) -> torch.Tensor:
        """Columns of M scaled to unit length, in ``dtype``."""
        return unit_columns(self.mean_fields.to(dtype))

    def similarities(self, embeddings: torch.Tensor,
                     labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit mean fields (d x C) and the sample-to-field similarities s (B x C)."""
        check_labels(labels, self.num_classes)
        fields = self.normalized_mean_fields(embeddings.dtype)
        return fields, embeddings @ fields

    def pair_penalty(self, gram: torch.Tensor) -> torch.Tensor:
        """The regulariser's penalty of a mean-field pair with similarity ``gram``."""
        raise NotImplementedError

    def regularizer(self, fields: torch.Tensor | None = None) -> torch.Tensor:
        """``mf_reg / C * sum_{c != c'} pair_penalty(m_c . m_c')``, computed in row chunks."""
        if fields is None:
            fields = self.normalized_mean_fields(torch.float32)
        penalty: Callable[[torch.Tensor], torch.Tensor] = self.pair_penalty
        total = pairwise_penalty(fields, penalty, self.reg_chunk_elements)
        return self.params.mf_reg * total / self.num_classes

    def with_regularizer(self, loss: torch.Tensor, fields: torch.Tensor) -> torch.Tensor:
        """Adds the regulariser, which is skipped entirely when ``mf_reg`` is 0."""
        if self.params.mf_reg > 0:
            loss = loss + self.regularizer(fields)
        return loss


@register_loss("mf_cwms", params=MFCWMSParams)
class MeanFieldClassWiseMultiSimilarity(MeanFieldLoss):
    """MF-CWMS: class-wise multi-similarity between samples and class mean fields.

    Only the K classes of the batch get their own rows: pairs of two absent classes
    contribute exactly zero, pairs with one present class reduce to a (K x C) term.
    Every exponential goes through a log-mean-exp shifted per group, so the value and
    its gradients are finite for any scale of the inputs.
    """

    params_type = MFCWMSParams

    def pair_penalty(self, gram: torch.Tensor) -> torch.Tensor:
        return scaled_softplus(gram - self.params.mrg, self.params.beta).square()

    @full_precision
    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        p = self.params
        fields, sims = self.similarities(embeddings, labels)
        classes, segment, counts = torch.unique(labels, return_inverse=True, return_counts=True)
        k, log_counts = len(classes), torch.log(counts.to(sims.dtype))

        pos_sims = sims.gather(1, labels.view(-1, 1)).squeeze(1)
        log_pos = segment_logmeanexp(-p.alpha * (pos_sims - p.mrg), segment, log_counts)
        positive = softplus(log_pos).sum() / (p.alpha * k)

        # log N[c, c'] for the K batch classes c and all C classes c'.
        log_n = segment_logmeanexp(p.beta * (sims - p.mrg), segment, log_counts)  # (K, C)
        in_batch = log_n.index_select(1, classes)  # [a, b] = log N[class a, class b]
        eye = torch.eye(k, dtype=torch.bool, device=sims.device)
        pair_sum = softplus(torch.logaddexp(in_batch, in_batch.T)).masked_fill(eye, 0.0).sum()
        present = torch.zeros(self.num_classes, dtype=torch.bool, device=sims.device)
        present[classes] = True
        one_sided = softplus(log_n).masked_fill(present, 0.0).sum()
        negative = (pair_sum + 2.0 * one_sided) / (2.0 * p.beta * k)
        return self.with_regularizer(positive + negative, fields)


@register_loss("mf_contrastive", params=MFContrastiveParams)
class MeanFieldContrastive(MeanFieldLoss):
    """Contrastive loss between samples and class mean fields, in cosine distance.

    The positive is picked by indexing and the own class is dropped from the negatives by a
    scatter, so no (B x C) one-hot product is formed.
    """

    params_type = MFContrastiveParams

    def pair_penalty(self, gram: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.params.neg_margin - (1.0 - gram)).square()

    @full_precision
    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        p = self.params
        fields, sims = self.similarities(embeddings, labels)
        dist = 1.0 - sims
        own = labels.view(-1, 1)
        positive = torch.relu(dist.gather(1, own) - p.pos_margin).sum()
        negative = torch.relu(p.neg_margin - dist).scatter(1, own, 0.0).sum()
        loss = (positive + negative) / len(labels)
        return self.with_regularizer(loss, fields)


@register_loss("cwms", params=CWMSParams)
class ClassWiseMultiSimilarity(ConfiguredLoss):
    """The pair-based class-wise multi-similarity loss (sample-to-sample similarities).

    Class-pair means of ``exp`` come from two grouped log-mean-exps over the (B x B)
    similarity matrix, so there is no one-hot product and no overflow.

    Args:
        num_classes: Unused (the loss has no per-class parameters); kept for the registry.
        embedding_size: Unused, as ``num_classes``.
        **params: The hyperparameters (:class:`CWMSParams`).
    """

    def __init__(self, num_classes: int, embedding_size: int, **params: Any) -> None:
        super().__init__(CWMSParams(**params))
        check_sizes(num_classes, embedding_size)
        self.num_classes = num_classes

    @full_precision
    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        p = self.params
        check_labels(labels, self.num_classes)
        sims = embeddings @ embeddings.T
        classes, segment, counts = torch.unique(labels, return_inverse=True, return_counts=True)
        k, log_counts = len(classes), torch.log(counts.to(sims.dtype))

        def class_pair_log_mean(values: torch.Tensor) -> torch.Tensor:
            rows = segment_logmeanexp(values, segment, log_counts)  # (K, B)
            return segment_logmeanexp(rows.T, segment, log_counts)  # (K, K)

        log_pos = class_pair_log_mean(-p.alpha * (sims - p.mrg)).diagonal()
        positive = softplus(log_pos - torch.log(sims.new_tensor(2.0))).sum() / (p.alpha * k)
        log_neg = class_pair_log_mean(p.beta * (sims - p.mrg))
        eye = torch.eye(k, dtype=torch.bool, device=sims.device)
        negative = softplus(log_neg).masked_fill(eye, 0.0).sum() / (2.0 * p.beta * k)
        return positive + negative
