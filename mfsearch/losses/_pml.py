"""Baseline losses from pytorch-metric-learning, behind one adapter module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from pytorch_metric_learning import losses, miners
from torch import nn

from mfsearch.config import check
from mfsearch.losses._base import ConfiguredLoss, check_sizes
from mfsearch.losses._registry import LOSSES, LossSpec
from mfsearch.losses._safe import full_precision

Built = tuple[nn.Module, "nn.Module | None"]


@dataclass
class ProxyAnchorParams:
    """Proxy-Anchor (Kim et al., 2020): one proxy per class."""

    margin: float = 0.1
    alpha: float = 32.0

    def __post_init__(self) -> None:
        check(self.margin >= 0, "loss.margin", self.margin, "must be >= 0")
        check(self.alpha > 0, "loss.alpha", self.alpha, "must be > 0")

    def build(self, num_classes: int, embedding_size: int) -> Built:
        return losses.ProxyAnchorLoss(num_classes, embedding_size, margin=self.margin,
                                      alpha=self.alpha), None


@dataclass
class ProxyNCAParams:
    """Proxy-NCA with a softmax scale."""

    scale: float = 32.0

    def __post_init__(self) -> None:
        check(self.scale > 0, "loss.scale", self.scale, "must be > 0")

    def build(self, num_classes: int, embedding_size: int) -> Built:
        return losses.ProxyNCALoss(num_classes, embedding_size, softmax_scale=self.scale), None


@dataclass
class MultiSimilarityParams:
    """Multi-similarity loss (Wang et al., 2019) with its pair miner."""

    alpha: float = 2.0
    beta: float = 50.0
    base: float = 0.5
    epsilon: float = 0.1

    def __post_init__(self) -> None:
        check(self.alpha > 0, "loss.alpha", self.alpha, "must be > 0")
        check(self.beta > 0, "loss.beta", self.beta, "must be > 0")
        check(-1 <= self.base <= 1, "loss.base", self.base, "must lie in [-1, 1]")
        check(self.epsilon >= 0, "loss.epsilon", self.epsilon, "must be >= 0")

    def build(self, num_classes: int, embedding_size: int) -> Built:
        return (losses.MultiSimilarityLoss(alpha=self.alpha, beta=self.beta, base=self.base),
                miners.MultiSimilarityMiner(epsilon=self.epsilon))


@dataclass
class ContrastiveParams:
    """Contrastive loss on Euclidean distances of L2-normalised embeddings."""

    pos_margin: float = 0.0
    neg_margin: float = 1.0

    def __post_init__(self) -> None:
        check(self.pos_margin >= 0, "loss.pos_margin", self.pos_margin, "must be >= 0")
        check(self.neg_margin > self.pos_margin, "loss.neg_margin", self.neg_margin,
              "must be greater than loss.pos_margin")

    def build(self, num_classes: int, embedding_size: int) -> Built:
        return losses.ContrastiveLoss(pos_margin=self.pos_margin,
                                      neg_margin=self.neg_margin), None


TRIPLET_TYPES = ("all", "hard", "semihard", "easy")


@dataclass
class TripletParams:
    """Triplet margin loss with a triplet miner (semi-hard by default)."""

    margin: float = 0.1
    triplets: str = "semihard"

    def __post_init__(self) -> None:
        check(self.margin > 0, "loss.margin", self.margin, "must be > 0")
        check(self.triplets in TRIPLET_TYPES, "loss.triplets", self.triplets,
              f"must be one of {', '.join(TRIPLET_TYPES)}")

    def build(self, num_classes: int, embedding_size: int) -> Built:
        return (losses.TripletMarginLoss(margin=self.margin),
                miners.TripletMarginMiner(margin=self.margin, type_of_triplets=self.triplets))


@dataclass
class NPairParams:
    """N-pair loss (no hyperparameters)."""

    def build(self, num_classes: int, embedding_size: int) -> Built:
        return losses.NPairsLoss(), None


class MetricLearningLoss(ConfiguredLoss):
    """Adapter running a pytorch-metric-learning loss, mining first when it has a miner.

    Its proxies, if any, are parameters of this module, so the trainer puts them in the
    ``lr * lr_ratio`` group.

    Args:
        params: A params dataclass whose ``build(num_classes, embedding_size)`` returns the
            loss and its miner (or None).
        num_classes: Training classes.
        embedding_size: Embedding dimension.
    """

    def __init__(self, params: Any, num_classes: int, embedding_size: int) -> None:
        super().__init__(params)
        check_sizes(num_classes, embedding_size)
        self.criterion, self.miner = params.build(num_classes, embedding_size)

    @full_precision
    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        indices = None if self.miner is None else self.miner(embeddings, labels)
        return self.criterion(embeddings, labels, indices)


def register_pml_loss(name: str, params: type) -> None:
    """Registers ``name`` as :class:`MetricLearningLoss` configured by ``params``."""

    def factory(num_classes: int, embedding_size: int, **values: Any) -> MetricLearningLoss:
        return MetricLearningLoss(params(**values), num_classes, embedding_size)

    LOSSES.add(name, LossSpec(factory, params))


for _name, _params in {
    "proxy_anchor": ProxyAnchorParams,
    "proxy_nca": ProxyNCAParams,
    "multi_similarity": MultiSimilarityParams,
    "contrastive": ContrastiveParams,
    "triplet": TripletParams,
    "npair": NPairParams,
}.items():
    register_pml_loss(_name, _params)
