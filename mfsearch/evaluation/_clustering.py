"""Clustering quality: faiss k-means, then NMI and AMI of the clusters against the classes.

NMI and AMI use the arithmetic mean of the two entropies as normaliser (scikit-learn's
default). Two trivial labellings (one class and one cluster) score 1; for AMI, one
trivial labelling against a non-trivial one scores 0.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from mfsearch.evaluation._knn import as_faiss_array

_EPS = np.finfo(np.float64).eps


def kmeans_assign(x: np.ndarray, num_clusters: int, seed: int = 0, use_gpu: bool = False,
                  niter: int = 20) -> np.ndarray:
    """Cluster ids (n,) of ``x`` from seeded faiss k-means with ``num_clusters`` centroids."""
    import faiss

    x = as_faiss_array(x)
    if not 1 <= num_clusters <= len(x):
        raise ValueError(f"k-means needs 1 <= num_clusters <= {len(x)} points, but got "
                         f"{num_clusters=}")
    if num_clusters == 1:
        return np.zeros(len(x), dtype=np.int64)
    kmeans = faiss.Kmeans(x.shape[1], num_clusters, niter=niter, seed=seed, gpu=use_gpu,
                          verbose=False)
    kmeans.train(x)
    _, assignment = kmeans.index.search(x, 1)
    return assignment[:, 0].astype(np.int64)


def _entropy(counts: np.ndarray, n: int) -> float:
    p = counts[counts > 0] / n
    return float(-(p * np.log(p)).sum())


def _cells_with_marginals(labels_a: np.ndarray,
                          labels_b: np.ndarray) -> tuple[np.ndarray, ...]:
    """Non-zero contingency cells (counts, row, column) and the two marginals."""
    _, a = np.unique(np.asarray(labels_a), return_inverse=True)
    _, b = np.unique(np.asarray(labels_b), return_inverse=True)
    a, b = a.ravel(), b.ravel()
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"Need two non-empty labellings of equal length, but got "
                         f"{len(a)=} and {len(b)=}")
    size_a, size_b = np.bincount(a), np.bincount(b)
    keys, cells = np.unique(a * len(size_b) + b, return_counts=True)
    row, col = keys // len(size_b), keys % len(size_b)
    return cells.astype(np.float64), size_a, size_b, row, col


def mutual_information(labels_a: np.ndarray, labels_b: np.ndarray) -> float:
    """Mutual information (natural log) of two labellings of the same samples."""
    return _mutual_information(*_cells_with_marginals(labels_a, labels_b))


def _mutual_information(cells: np.ndarray, size_a: np.ndarray, size_b: np.ndarray,
                        row: np.ndarray, col: np.ndarray) -> float:
    n = float(size_a.sum())
    return float((cells / n * np.log(n * cells / (size_a[row] * size_b[col]))).sum())


def expected_mutual_information(size_a: np.ndarray, size_b: np.ndarray) -> float:
    """E[MI] of two random labellings with the given cluster sizes (hypergeometric model).

    The expectation depends only on the pair of sizes, so it is computed once per pair of
    distinct sizes and weighted by how often the pair occurs.
    """
    n = int(size_a.sum())
    ua, ma = np.unique(size_a, return_counts=True)
    ub, mb = np.unique(size_b, return_counts=True)
    lg_n = gammaln(n + 1)
    total = 0.0
    for a, count_a in zip(ua.tolist(), ma.tolist(), strict=True):
        nij = np.arange(1, min(a, int(ub.max())) + 1, dtype=np.float64)[None, :]
        b = ub.astype(np.float64)[:, None]
        valid = (nij <= b) & (nij >= a + b - n)
        nij_v = np.where(valid, nij, 1.0)
        rest = np.where(valid, n - a - b + nij, 1.0)
        log_p = (gammaln(a + 1) + gammaln(b + 1) + gammaln(n - a + 1) + gammaln(n - b + 1)
                 - lg_n - gammaln(nij_v + 1) - gammaln(a - nij_v + 1)
                 - gammaln(np.where(valid, b - nij, 0.0) + 1) - gammaln(rest + 1))
        prob = np.exp(np.where(valid, log_p, -np.inf))
        per_b = (nij_v / n * np.log(n * nij_v / (a * b)) * prob).sum(axis=1)
        total += count_a * float((per_b * mb).sum())
    return total


def _trivial(size_a: np.ndarray, size_b: np.ndarray) -> bool:
    return len(size_a) == len(size_b) == 1


def normalized_mutual_info(labels_a: np.ndarray, labels_b: np.ndarray) -> float:
    """NMI = MI / mean(H(a), H(b)); 1 for two single-cluster labellings."""
    table = _cells_with_marginals(labels_a, labels_b)
    size_a, size_b = table[1], table[2]
    if _trivial(size_a, size_b):
        return 1.0
    mi = _mutual_information(*table)
    if mi == 0:
        return 0.0
    n = int(size_a.sum())
    return mi / ((_entropy(size_a, n) + _entropy(size_b, n)) / 2)


def adjusted_mutual_info(labels_a: np.ndarray, labels_b: np.ndarray) -> float:
    """AMI = (MI - E[MI]) / (mean(H(a), H(b)) - E[MI]), corrected for chance."""
    table = _cells_with_marginals(labels_a, labels_b)
    size_a, size_b = table[1], table[2]
    if _trivial(size_a, size_b):
        return 1.0
    if len(size_a) == 1 or len(size_b) == 1:
        return 0.0
    n = int(size_a.sum())
    mi = _mutual_information(*table)
    emi = expected_mutual_information(size_a, size_b)
    denominator = (_entropy(size_a, n) + _entropy(size_b, n)) / 2 - emi
    numerator = mi - emi
    # Keep the sign but avoid 0 / 0 when a perfect match equals its expectation.
    denominator = min(denominator, -_EPS) if denominator < 0 else max(denominator, _EPS)
    numerator = min(numerator, -_EPS) if numerator < 0 else max(numerator, _EPS)
    return numerator / denominator


def clustering_metrics(embeddings: np.ndarray, labels: np.ndarray, seed: int = 0,
                       use_gpu: bool = False) -> dict[str, float]:
    """``nmi`` and ``ami`` of k-means clusters (k = number of classes) against ``labels``."""
    num_classes = len(np.unique(labels))
    clusters = kmeans_assign(embeddings, num_classes, seed, use_gpu)
    return {"nmi": normalized_mutual_info(labels, clusters),
            "ami": adjusted_mutual_info(labels, clusters)}
