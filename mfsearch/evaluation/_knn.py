"""Exact inner-product k-nearest-neighbour search with faiss, in query blocks."""

from __future__ import annotations

import numpy as np


def _as_faiss_array(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def query_block_size(k: int, num_reference: int, memory_budget_mb: float) -> int:
    """Queries per block so that the block's results and scratch fit the budget.

    Per query the search keeps k (index, distance) pairs plus the labels derived from
    them, about ``k * 32`` bytes, and faiss's exhaustive search a row of distances per
    reference block.
    """
    per_query = 32 * k + 4 * min(num_reference, 1024) + 64
    return max(1, int(memory_budget_mb * 2**20 // per_query))


def knn_search(query: np.ndarray, reference: np.ndarray | None, k: int,
               memory_budget_mb: float = 512.0, use_gpu: bool = False) -> np.ndarray:
    """Indices of the ``k`` nearest references (by inner product) of each query.

    Args:
        query: (n, d) float32 embeddings.
        reference: (m, d) embeddings, or None to search ``query`` against itself. In that
            case each query is removed from its own list by index (not by rank), so exact
            duplicates of a query are kept as neighbours.
        k: Neighbours per query (without the query itself).
        memory_budget_mb: Bound on the memory of one block of results.
        use_gpu: Use a faiss GPU index (faiss must be built with GPU support).

    Returns:
        (n, k) int64 indices into the reference set, nearest first.
    """
    import faiss

    query = _as_faiss_array(query)
    exclude_self = reference is None
    reference = query if reference is None else _as_faiss_array(reference)
    index = faiss.IndexFlatIP(reference.shape[1])
    if use_gpu:
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(reference)
    search_k = k + 1 if exclude_self else k
    block = query_block_size(search_k, len(reference), memory_budget_mb)
    out = np.empty((len(query), k), dtype=np.int64)
    for start in range(0, len(query), block):
        stop = min(start + block, len(query))
        _, idx = index.search(query[start:stop], search_k)
        if exclude_self:
            own = np.arange(start, stop)[:, None]
            is_self = idx == own
            # Drop the query's own index where found, else drop the last (k+1-th) neighbour.
            drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), search_k - 1)
            keep = np.ones_like(idx, dtype=bool)
            keep[np.arange(stop - start), drop] = False
            idx = idx[keep].reshape(stop - start, k)
        out[start:stop] = idx
    return out
