"""The paper's embedding head, shared by every backbone."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class EmbeddingHead(nn.Module):
    """Global average pool + global max pool (added), Linear, then L2 normalisation.

    Args:
        in_channels: Channels of the backbone's feature map.
        embedding_size: Output dimension.
    """

    def __init__(self, in_channels: int, embedding_size: int) -> None:
        super().__init__()
        if in_channels < 1 or embedding_size < 1:
            raise ValueError(
                f"in_channels and embedding_size must be >= 1, but got {in_channels=} "
                f"{embedding_size=}"
            )
        self.embedding = nn.Linear(in_channels, embedding_size)
        nn.init.kaiming_normal_(self.embedding.weight, mode="fan_out")
        nn.init.zeros_(self.embedding.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim == 4:
            features = features.mean(dim=(2, 3)) + features.amax(dim=(2, 3))
        return F.normalize(self.embedding(features), dim=1)


class EmbeddingModel(nn.Module):
    """A backbone producing (B, C, H, W) features followed by :class:`EmbeddingHead`."""

    def __init__(self, backbone: nn.Module, embedding_size: int) -> None:
        super().__init__()
        out_channels = getattr(backbone, "out_channels", None)
        if not isinstance(out_channels, int):
            raise ValueError(f"A backbone must define an int out_channels, but got {out_channels=}")
        self.backbone = backbone
        self.head = EmbeddingHead(out_channels, embedding_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))
