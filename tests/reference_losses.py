"""Naive dense transcriptions of the loss formulas: the reference for tests and benchmarks.

They follow ../shared/specs/mean_field_losses.md literally, building every (C x C) matrix.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dense_mf_cwms(x: torch.Tensor, labels: torch.Tensor, mean_fields: torch.Tensor,
                  alpha: float, beta: float, mrg: float, mf_reg: float) -> torch.Tensor:
    """MF-CWMS over all C x C class pairs with one-hot mask products, as written."""
    num_classes = mean_fields.shape[1]
    m = mean_fields / mean_fields.norm(dim=0, keepdim=True)
    s = x @ m  # (B, C)
    onehot = F.one_hot(labels, num_classes).to(s.dtype)  # (B, C)
    counts = onehot.sum(0)  # (C,)
    present = counts > 0
    k = int(present.sum())
    safe = counts.clamp(min=1)
    pos_mean = (onehot * torch.exp(-alpha * (s - mrg))).sum(0) / safe
    positive = torch.log1p(pos_mean)[present].sum() / (alpha * k)
    n = (onehot.T @ torch.exp(beta * (s - mrg))) / safe[:, None]  # (C, C), zero rows if absent
    pair = torch.log1p(n + n.T)
    off = ~torch.eye(num_classes, dtype=torch.bool)
    negative = pair[off].sum() / (2 * beta * k)
    gram = m.T @ m
    soft = torch.log1p(torch.exp(beta * (gram - mrg))) / beta
    reg = mf_reg * (soft.square()[off]).sum() / num_classes
    return positive + negative + reg


def loop_mf_cwms(x: torch.Tensor, labels: torch.Tensor, mean_fields: torch.Tensor,
                 alpha: float, beta: float, mrg: float, mf_reg: float) -> torch.Tensor:
    """The same loss as plain Python loops over classes and pairs (small C only)."""
    num_classes = mean_fields.shape[1]
    m = mean_fields / mean_fields.norm(dim=0, keepdim=True)
    s = x @ m
    classes = sorted(set(labels.tolist()))
    members = {c: [i for i in range(len(labels)) if int(labels[i]) == c] for c in classes}
    total_pos = x.new_zeros(())
    for c in classes:
        vals = torch.stack([torch.exp(-alpha * (s[i, c] - mrg)) for i in members[c]])
        total_pos = total_pos + torch.log(1 + vals.mean())

    def n(c: int, c2: int) -> torch.Tensor:
        if c not in members:
            return x.new_zeros(())
        return torch.stack([torch.exp(beta * (s[i, c2] - mrg)) for i in members[c]]).mean()

    total_neg = x.new_zeros(())
    for c in range(num_classes):
        for c2 in range(num_classes):
            if c != c2 and (c in members or c2 in members):
                total_neg = total_neg + torch.log(1 + n(c, c2) + n(c2, c))
    reg = x.new_zeros(())
    for c in range(num_classes):
        for c2 in range(num_classes):
            if c != c2:
                z = m[:, c] @ m[:, c2] - mrg
                reg = reg + (torch.log(1 + torch.exp(beta * z)) / beta) ** 2
    k = len(classes)
    return total_pos / (alpha * k) + total_neg / (2 * beta * k) + mf_reg * reg / num_classes


def dense_mf_contrastive(x: torch.Tensor, labels: torch.Tensor, mean_fields: torch.Tensor,
                         pos_margin: float, neg_margin: float, mf_reg: float) -> torch.Tensor:
    """MeanFieldContrastive with (B x C) one-hot masks and the full (C x C) regulariser."""
    num_classes = mean_fields.shape[1]
    m = mean_fields / mean_fields.norm(dim=0, keepdim=True)
    d = 1 - x @ m  # (B, C)
    onehot = F.one_hot(labels, num_classes).to(d.dtype)
    positive = (onehot * torch.relu(d - pos_margin)).sum()
    negative = ((1 - onehot) * torch.relu(neg_margin - d)).sum()
    off = ~torch.eye(num_classes, dtype=torch.bool)
    reg = torch.relu(neg_margin - (1 - m.T @ m)).square()[off].sum()
    return (positive + negative) / len(labels) + mf_reg * reg / num_classes


def dense_cwms(x: torch.Tensor, labels: torch.Tensor, alpha: float, beta: float,
               mrg: float) -> torch.Tensor:
    """Pair-based class-wise multi-similarity with (B x K) one-hot mask products."""
    classes = torch.unique(labels)
    onehot = (labels[:, None] == classes[None, :]).to(x.dtype)  # (B, K)
    counts = onehot.sum(0)
    k = len(classes)
    s = x @ x.T
    pos = (onehot.T @ torch.exp(-alpha * (s - mrg)) @ onehot) / (counts[:, None] * counts)
    neg = (onehot.T @ torch.exp(beta * (s - mrg)) @ onehot) / (counts[:, None] * counts)
    off = ~torch.eye(k, dtype=torch.bool)
    positive = torch.log1p(pos.diagonal() / 2).sum() / (alpha * k)
    negative = torch.log1p(neg[off]).sum() / (2 * beta * k)
    return positive + negative
