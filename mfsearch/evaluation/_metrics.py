"""Retrieval metrics as pure functions of the k-nearest-neighbour labels.

Definitions follow "A Metric Learning Reality Check" (Musgrave et al., 2020). For a query,
R is the number of *other* reference samples of its class. Queries with R = 0 ("lone"
queries) have no correct answer; as in pytorch-metric-learning they are left out of every
metric and counted in ``num_lone_queries``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def metric_name(k: int) -> str:
    return f"recall_at_{k}"


def retrieval_metrics(neighbor_labels: np.ndarray, query_labels: np.ndarray,
                      relevant_counts: np.ndarray, recall_ks: Sequence[int]) -> dict[str, float]:
    """Recall@K, Precision@1, R-Precision and MAP@R from a k-NN result.

    Args:
        neighbor_labels: (n, k) labels of each query's neighbours, nearest first, self excluded.
            ``k`` must be at least ``max(recall_ks)`` and ``max(relevant_counts)``.
        query_labels: (n,) labels of the queries.
        relevant_counts: (n,) R of each query.
        recall_ks: The K of each Recall@K.

    Returns:
        A dict of metric name to value (floats in [0, 1]) plus ``num_lone_queries``.
    """
    neighbor_labels = np.asarray(neighbor_labels)
    query_labels = np.asarray(query_labels)
    relevant_counts = np.asarray(relevant_counts, dtype=np.int64)
    n, k = neighbor_labels.shape
    if len(query_labels) != n or len(relevant_counts) != n:
        raise ValueError(
            f"Lengths differ: {neighbor_labels.shape=} {query_labels.shape=} "
            f"{relevant_counts.shape=}"
        )
    keep = relevant_counts > 0
    out: dict[str, float] = {"num_lone_queries": float(n - keep.sum())}
    if n and relevant_counts.max(initial=0) > k:
        raise ValueError(f"k={k} neighbours cannot cover R={relevant_counts.max()}")
    if max(recall_ks) > k:
        raise ValueError(f"k={k} neighbours cannot give Recall@{max(recall_ks)}")
    rel = neighbor_labels[keep] == query_labels[keep, None]
    r = relevant_counts[keep]
    if len(r) == 0:
        raise ValueError("Every query is alone in its class: no metric is defined.")
    first_hit = np.where(rel.any(axis=1), rel.argmax(axis=1), k)
    for kk in sorted(set(int(x) for x in recall_ks)):
        out[metric_name(kk)] = float(np.mean(first_hit < kk))
    out["precision_at_1"] = float(np.mean(rel[:, 0]))
    within_r = np.arange(k)[None, :] < r[:, None]
    rel_r = rel & within_r
    out["r_precision"] = float(np.mean(rel_r.sum(axis=1) / r))
    precision_at_j = np.cumsum(rel_r, axis=1) / np.arange(1, k + 1)[None, :]
    out["map_at_r"] = float(np.mean((precision_at_j * rel_r).sum(axis=1) / r))
    return out
