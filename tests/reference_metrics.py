"""Brute-force retrieval metrics: full similarity matrix, full sort, per-query loops."""

from __future__ import annotations

import numpy as np


def brute_force_metrics(query: np.ndarray, query_labels: np.ndarray,
                        reference: np.ndarray | None, reference_labels: np.ndarray | None,
                        ks: list[int]) -> dict[str, float]:
    self_search = reference is None
    if self_search:
        reference, reference_labels = query, query_labels
    sims = query.astype(np.float64) @ reference.astype(np.float64).T
    recalls = {k: [] for k in ks}
    p1, rp, mapr = [], [], []
    for i in range(len(query)):
        order = [j for j in np.argsort(-sims[i], kind="stable") if not (self_search and j == i)]
        rel = np.array([reference_labels[j] == query_labels[i] for j in order])
        r = int(rel.sum())
        if r == 0:
            continue  # lone query: left out, as in pytorch-metric-learning
        for k in ks:
            recalls[k].append(rel[:k].any())
        p1.append(rel[0])
        rp.append(rel[:r].sum() / r)
        ap = 0.0
        hits = 0
        for j in range(r):
            if rel[j]:
                hits += 1
                ap += hits / (j + 1)
        mapr.append(ap / r)
    out = {f"recall_at_{k}": float(np.mean(v)) for k, v in recalls.items()}
    out.update(precision_at_1=float(np.mean(p1)), r_precision=float(np.mean(rp)),
               map_at_r=float(np.mean(mapr)))
    return out
