"""Retrieval metrics as pure functions of the k-nearest-neighbour labels.

Definitions follow "A Metric Learning Reality Check" (Musgrave et al., 2020). For a query,
R is the number of *other* reference samples of its class. With the neighbours ranked
nearest first (the query itself removed):

- Recall@K: 1 if a same-class sample is among the first K neighbours, else 0;
- Precision@1: 1 if the first neighbour is of the query's class;
- R-Precision: the fraction of the first R neighbours of the query's class;
- MAP@R: (1 / R) * sum over the first R ranks i holding a same-class sample of
  Precision@i;

each averaged over the queries. Queries with R = 0 ("lone" queries, e.g. a class of one
image in a single set) have no correct answer; as in pytorch-metric-learning they are left
out of every metric and counted in ``num_lone_queries``.

The work is split so that it can run block by block: :func:`query_statistics` turns one
block of neighbours into per-query numbers (O(block size) memory beyond its input), and
:func:`summarize` averages them over all queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def metric_name(k: int) -> str:
    """The key of Recall@``k`` in a metrics dict."""
    return f"recall_at_{k}"


@dataclass
class QueryStatistics:
    """Per-query results from which every metric is an average.

    Attributes:
        first_hit: Rank (from 0) of the first same-class neighbour; the number of
            searched neighbours when there is none.
        r_precision: R-Precision of the query (0 for lone queries).
        average_precision: AP@R of the query (0 for lone queries).
    """

    first_hit: np.ndarray
    r_precision: np.ndarray
    average_precision: np.ndarray

    @classmethod
    def empty(cls, n: int) -> QueryStatistics:
        return cls(np.zeros(n, dtype=np.int64), np.zeros(n), np.zeros(n))

    def fill(self, start: int, block: QueryStatistics) -> None:
        """Writes ``block``'s statistics at queries ``start:start + len(block)``."""
        stop = start + len(block.first_hit)
        self.first_hit[start:stop] = block.first_hit
        self.r_precision[start:stop] = block.r_precision
        self.average_precision[start:stop] = block.average_precision


def query_statistics(relevant: np.ndarray, relevant_counts: np.ndarray,
                     self_pos: np.ndarray | None = None) -> QueryStatistics:
    """Per-query statistics of one block of neighbours.

    Args:
        relevant: (b, k') bool, whether each neighbour (nearest first) shares the query's
            class. Modified in place when ``self_pos`` is given.
        relevant_counts: (b,) R of each query; ``k'`` (minus one with ``self_pos``) must
            be at least the largest of them.
        self_pos: (b,) column of each query itself in ``relevant``, which is skipped; None
            when the queries are not among the references.

    Returns:
        The block's :class:`QueryStatistics`.
    """
    b, width = relevant.shape
    r = np.asarray(relevant_counts, dtype=np.int64)
    k = width - (self_pos is not None)
    rows = np.arange(b)
    if len(r) != b:
        raise ValueError(f"{relevant.shape=} does not match {r.shape=}")
    r_max = int(r.max(initial=0))
    if r_max > k:
        raise ValueError(f"{k} neighbours cannot cover R={r_max}; search more neighbours")
    if self_pos is not None:
        relevant[rows, self_pos] = False
    first = relevant.argmax(axis=1)
    found = relevant[rows, first]
    if self_pos is not None:
        first = first - (first > self_pos)
    first_hit = np.where(found, first, k)

    top = max(r_max, 1)
    if self_pos is None:
        head = relevant[:, :top]
    else:
        cols = np.arange(top)[None, :]
        head = np.take_along_axis(relevant, cols + (cols >= self_pos[:, None]), axis=1)
    head &= np.arange(top)[None, :] < r[:, None]
    hits = np.cumsum(head, axis=1, dtype=np.int32)
    hit_rows, hit_cols = np.nonzero(head)
    precision_at_hits = hits[hit_rows, hit_cols] / (hit_cols + 1.0)
    ap_sum = np.bincount(hit_rows, weights=precision_at_hits, minlength=b)
    denom = np.maximum(r, 1).astype(np.float64)
    return QueryStatistics(first_hit=first_hit, r_precision=hits[:, -1] / denom,
                           average_precision=ap_sum / denom)


def summarize(stats: QueryStatistics, relevant_counts: np.ndarray,
              recall_ks: Sequence[int]) -> dict[str, float]:
    """Averages per-query statistics over the non-lone queries.

    Returns:
        ``recall_at_K`` for each K, ``precision_at_1``, ``r_precision``, ``map_at_r`` (all
        in [0, 1]) and ``num_lone_queries``.

    Raises:
        ValueError: When every query is lone, so that no metric is defined.
    """
    keep = np.asarray(relevant_counts) > 0
    count = int(keep.sum())
    if count == 0:
        raise ValueError(
            f"All {len(keep)} queries are alone in their class (no other sample of their "
            "class in the reference set), so no retrieval metric is defined. Check the "
            "labels and the query/reference split."
        )
    first_hit = stats.first_hit[keep]
    out: dict[str, float] = {}
    for k in sorted({int(k) for k in recall_ks}):
        out[metric_name(k)] = float(np.count_nonzero(first_hit < k) / count)
    out["precision_at_1"] = float(np.count_nonzero(first_hit == 0) / count)
    out["r_precision"] = float(stats.r_precision[keep].sum() / count)
    out["map_at_r"] = float(stats.average_precision[keep].sum() / count)
    out["num_lone_queries"] = float(len(keep) - count)
    return out


def retrieval_metrics(neighbor_labels: np.ndarray, query_labels: np.ndarray,
                      relevant_counts: np.ndarray, recall_ks: Sequence[int]) -> dict[str, float]:
    """Recall@K, Precision@1, R-Precision and MAP@R from a whole k-NN result.

    Args:
        neighbor_labels: (n, k) labels of each query's neighbours, nearest first, self
            excluded. ``k`` must be at least ``max(recall_ks)`` and ``max(relevant_counts)``.
        query_labels: (n,) labels of the queries.
        relevant_counts: (n,) R of each query.
        recall_ks: The K of each Recall@K.

    Returns:
        See :func:`summarize`.
    """
    neighbor_labels = np.asarray(neighbor_labels)
    query_labels = np.asarray(query_labels)
    n, k = neighbor_labels.shape
    if len(query_labels) != n or len(relevant_counts) != n:
        raise ValueError(
            f"Lengths differ: {neighbor_labels.shape=} {query_labels.shape=} "
            f"{np.shape(relevant_counts)=}"
        )
    if max(recall_ks) > k:
        raise ValueError(f"k={k} neighbours cannot give Recall@{max(recall_ks)}")
    stats = query_statistics(neighbor_labels == query_labels[:, None], relevant_counts)
    return summarize(stats, relevant_counts, recall_ks)
