"""Exact inner-product k-nearest-neighbour search with faiss, in query blocks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

DEVICES = ("auto", "cpu", "cuda")

#: Bytes per query and neighbour held while a block is processed: the faiss result
#: (float32 score + int64 index), the neighbours' int32 labels and two boolean masks.
BYTES_PER_NEIGHBOUR = 4 + 8 + 4 + 1 + 1
#: faiss's exhaustive search scores queries against references in tiles this wide.
_FAISS_TILE = 1024


def as_faiss_array(x: np.ndarray) -> np.ndarray:
    """``x`` as a C-contiguous float32 array (no copy when it already is one)."""
    return np.ascontiguousarray(x, dtype=np.float32)


def faiss_has_gpu() -> bool:
    """Whether faiss was built with GPU support and sees at least one GPU."""
    import faiss

    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def resolve_faiss_device(device: str) -> bool:
    """Whether to use a faiss GPU index for ``device`` (``auto``, ``cpu`` or ``cuda``).

    Raises:
        ValueError: For an unknown device, or ``cuda`` when faiss has no GPU here.
    """
    if device not in DEVICES:
        raise ValueError(f"eval.device must be one of {', '.join(DEVICES)}, but got {device=}")
    if device == "cpu":
        return False
    has_gpu = faiss_has_gpu()
    if device == "cuda" and not has_gpu:
        raise ValueError(
            "eval.device=cuda, but faiss here was built without GPU support or sees no GPU. "
            "Install faiss-gpu on a machine with a GPU, or set eval.device=cpu (or auto)."
        )
    return has_gpu


def build_index(reference: np.ndarray, use_gpu: bool) -> Any:
    """An exact inner-product faiss index holding ``reference`` (on the GPU if asked)."""
    import faiss

    index: Any = faiss.IndexFlatIP(reference.shape[1])
    if use_gpu:
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(as_faiss_array(reference))
    return index


def query_block_size(k: int, num_reference: int, memory_budget_mb: float) -> int:
    """Queries per block so that one block's search results and scratch fit the budget.

    Per query, a block holds ``k`` neighbours of ``BYTES_PER_NEIGHBOUR`` bytes each, plus
    the row of scores faiss keeps for one tile of references.
    """
    if k < 1 or memory_budget_mb <= 0:
        raise ValueError(f"k and memory_budget_mb must be positive, but got {k=}, "
                         f"{memory_budget_mb=}")
    per_query = BYTES_PER_NEIGHBOUR * k + 4 * min(num_reference, _FAISS_TILE) + 64
    return max(1, int(memory_budget_mb * 2**20 // per_query))


@dataclass(frozen=True)
class NeighbourBlock:
    """The neighbours of the queries ``start:stop``.

    Attributes:
        start: First query of the block.
        stop: One past the last query of the block.
        indices: (b, k') int64 reference indices, nearest first; exact ties by index.
        self_pos: (b,) int64 column of each query's own index in ``indices`` when the
            query set is the reference set (``k' - 1`` when it was not returned, so that
            the last column is dropped instead); None for a separate reference set.
    """

    start: int
    stop: int
    indices: np.ndarray
    self_pos: np.ndarray | None


def _order_ties_by_index(scores: np.ndarray, indices: np.ndarray) -> None:
    """Within each row, reorders runs of equal scores by ascending index (in place)."""
    tied = (scores[:, 1:] == scores[:, :-1]).any(axis=1)
    if not tied.any():
        return
    rows = np.flatnonzero(tied)
    order = np.lexsort((indices[rows], -scores[rows]), axis=-1)
    indices[rows] = np.take_along_axis(indices[rows], order, axis=1)
    scores[rows] = np.take_along_axis(scores[rows], order, axis=1)


def iter_neighbour_blocks(query: np.ndarray, reference: np.ndarray | None, k: int,
                          memory_budget_mb: float = 512.0,
                          use_gpu: bool = False) -> Iterator[NeighbourBlock]:
    """Exact k-NN by inner product, one block of queries at a time.

    Args:
        query: (n, d) float32 embeddings.
        reference: (m, d) embeddings, or None to search ``query`` against itself. Then
            ``k + 1`` neighbours are searched and each block says where the query itself
            is, so it can be removed by index (not by rank: an exact duplicate may come
            first).
        k: Neighbours per query, not counting the query itself.
        memory_budget_mb: Bound on the memory of one block; sets the block size.
        use_gpu: Use a faiss GPU index.

    Yields:
        :class:`NeighbourBlock` for consecutive query blocks. The arrays are reused by the
        next block; copy what you keep.
    """
    query = as_faiss_array(query)
    exclude_self = reference is None
    index = build_index(query if reference is None else reference, use_gpu)
    search_k = k + 1 if exclude_self else k
    if search_k > index.ntotal:
        raise ValueError(f"Cannot search {search_k} neighbours among {index.ntotal} references")
    block = min(len(query), query_block_size(search_k, index.ntotal, memory_budget_mb))
    scores = np.empty((block, search_k), dtype=np.float32)
    indices = np.empty((block, search_k), dtype=np.int64)
    for start in range(0, len(query), block):
        stop = min(start + block, len(query))
        b = stop - start
        s, idx = scores[:b], indices[:b]
        index.search(query[start:stop], search_k, D=s, I=idx)
        _order_ties_by_index(s, idx)
        self_pos = None
        if exclude_self:
            is_self = idx == np.arange(start, stop)[:, None]
            found = is_self.argmax(axis=1)
            self_pos = np.where(is_self[np.arange(b), found], found, search_k - 1)
        yield NeighbourBlock(start, stop, idx, self_pos)


def without_self(indices: np.ndarray, self_pos: np.ndarray | None,
                 columns: int | None = None) -> np.ndarray:
    """The first ``columns`` neighbours of each row after removing column ``self_pos``."""
    if self_pos is None:
        return indices[:, :columns]
    width = indices.shape[1] - 1 if columns is None else columns
    cols = np.arange(width)[None, :]
    return np.take_along_axis(indices, cols + (cols >= self_pos[:, None]), axis=1)


def knn_search(query: np.ndarray, reference: np.ndarray | None, k: int,
               memory_budget_mb: float = 512.0, use_gpu: bool = False) -> np.ndarray:
    """Indices of the ``k`` nearest references of each query, self excluded by index.

    Holds the whole (n, k) result; the evaluator never does, it reduces block by block.

    Returns:
        (n, k) int64 indices into the reference set (``query`` itself if ``reference`` is
        None), nearest first.
    """
    out = np.empty((len(query), k), dtype=np.int64)
    for blk in iter_neighbour_blocks(query, reference, k, memory_budget_mb, use_gpu):
        out[blk.start:blk.stop] = without_self(blk.indices, blk.self_pos, k)
    return out
