"""The retrieval evaluator: one exact, blocked k-NN pass, then every configured metric."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from mfsearch.evaluation._clustering import clustering_metrics
from mfsearch.evaluation._knn import DEVICES, iter_neighbour_blocks, resolve_faiss_device
from mfsearch.evaluation._metrics import QueryStatistics, query_statistics, summarize

if TYPE_CHECKING:
    from mfsearch.config import DatasetConfig, EvalConfig


def check_embeddings(name: str, emb: np.ndarray, labels: np.ndarray) -> None:
    """Raises ValueError unless ``emb`` is a finite, non-empty (n, d) array with n labels."""
    if emb.ndim != 2 or emb.shape[0] == 0 or emb.shape[1] == 0:
        raise ValueError(f"The {name} set must be a non-empty (n, d) array of embeddings, "
                         f"but got shape {emb.shape}")
    if labels.ndim != 1 or len(emb) != len(labels):
        raise ValueError(
            f"The {name} embeddings and labels differ in length: {len(emb)} embeddings vs "
            f"labels of shape {labels.shape}; pass one label per embedding."
        )
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        raise ValueError(
            f"The {name} embeddings contain NaN or Inf in {int(bad.sum())} of {len(emb)} "
            "rows; the model has probably diverged (lower the learning rate or check the loss)."
        )


def encode_labels(query_labels: np.ndarray,
                  reference_labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Query and reference labels as int32 codes of one shared vocabulary."""
    if reference_labels is None:
        _, codes = np.unique(query_labels, return_inverse=True)
        codes = codes.ravel().astype(np.int32)
        return codes, codes
    _, codes = np.unique(np.concatenate([query_labels, reference_labels]), return_inverse=True)
    codes = codes.ravel().astype(np.int32)
    return codes[:len(query_labels)], codes[len(query_labels):]


def evaluate_retrieval(query: np.ndarray, query_labels: np.ndarray,
                       reference: np.ndarray | None = None,
                       reference_labels: np.ndarray | None = None, *,
                       recall_ks: Sequence[int] = (1,), memory_budget_mb: float = 512.0,
                       use_gpu: bool = False) -> dict[str, float]:
    """Recall@K, Precision@1, R-Precision and MAP@R from one exact k-NN pass.

    Searches k = max(max(recall_ks), largest R) neighbours (plus the query itself when
    there is no separate reference set, removed by index) in query blocks sized to
    ``memory_budget_mb``, and reduces each block to per-query numbers at once, so memory
    stays O(block * k + n), never O(n * k) or O(n^2).

    Args:
        query: (n, d) embeddings.
        query_labels: (n,) class labels.
        reference: (m, d) reference (gallery) embeddings, or None to retrieve among the
            queries themselves.
        reference_labels: (m,) labels of the reference set.
        recall_ks: The K of each Recall@K.
        memory_budget_mb: Bound on the memory of one query block.
        use_gpu: Use a faiss GPU index.

    Returns:
        See :func:`mfsearch.evaluation.summarize`.
    """
    query, query_labels, reference, reference_labels = _validated(
        query, query_labels, reference, reference_labels)
    exclude_self = reference is None
    q_codes, r_codes = encode_labels(query_labels, reference_labels)
    available = (len(query) - 1) if exclude_self else len(r_codes)
    largest_k = max(recall_ks)
    if largest_k > available:
        raise ValueError(
            f"Recall@{largest_k} needs {largest_k} neighbours, but the reference set offers "
            f"only {available}{' (the query itself excluded)' if exclude_self else ''}. "
            "Lower the largest K in dataset.recall_ks."
        )
    class_sizes = np.bincount(r_codes, minlength=int(q_codes.max()) + 1)
    r = class_sizes[q_codes].astype(np.int64) - int(exclude_self)
    k = max(largest_k, int(r.max(initial=0)))
    stats = QueryStatistics.empty(len(query))
    for blk in iter_neighbour_blocks(query, reference, k, memory_budget_mb, use_gpu):
        q = q_codes[blk.start:blk.stop]
        relevant = r_codes[blk.indices] == q[:, None]
        stats.fill(blk.start, query_statistics(relevant, r[blk.start:blk.stop], blk.self_pos))
    return summarize(stats, r, recall_ks)


def _validated(query: np.ndarray, query_labels: np.ndarray, reference: np.ndarray | None,
               reference_labels: np.ndarray | None) -> tuple:
    query, query_labels = np.asarray(query), np.asarray(query_labels)
    check_embeddings("query", query, query_labels)
    if (reference is None) != (reference_labels is None):
        raise ValueError("Pass both reference embeddings and reference labels, or neither "
                         "(to retrieve among the queries themselves).")
    if reference is not None:
        reference, reference_labels = np.asarray(reference), np.asarray(reference_labels)
        check_embeddings("reference", reference, reference_labels)
        if reference.shape[1] != query.shape[1]:
            raise ValueError(
                f"The query and reference embeddings differ in dimension: {query.shape[1]} "
                f"vs {reference.shape[1]}; embed both with the same model."
            )
    return query, query_labels, reference, reference_labels


def check_query_gallery(query_gallery: bool, has_gallery: bool, dataset: str) -> None:
    """Raises ConfigError unless ``dataset.query_gallery`` matches the test split's data.

    Args:
        query_gallery: The setting ``dataset.query_gallery``.
        has_gallery: Whether the dataset's test split has a separate gallery.
        dataset: The dataset's name, for the message.
    """
    if query_gallery != has_gallery:
        from mfsearch.config import ConfigError

        found = "a query set and a gallery" if has_gallery else "a single set"
        raise ConfigError(
            f"dataset.query_gallery={query_gallery} is invalid: the test split of dataset "
            f"{dataset!r} has {found}. Set dataset.query_gallery={has_gallery} in its config."
        )


class RetrievalEvaluator:
    """Computes a dataset's metric set from embeddings: one exact k-NN pass (+ optional NMI).

    Args:
        recall_ks: The K of each Recall@K.
        memory_budget_mb: Bound on the memory of one block of the k-NN search.
        device: ``auto``, ``cpu`` or ``cuda`` for the faiss index (``auto``: the GPU when
            faiss has GPU support and sees a GPU).
        nmi: Also compute NMI and AMI of seeded faiss k-means (k = number of classes).
        seed: Seed of the k-means.
    """

    def __init__(self, recall_ks: Sequence[int], memory_budget_mb: float = 512.0,
                 device: str = "auto", nmi: bool = False, seed: int = 0) -> None:
        if len(recall_ks) == 0 or min(int(k) for k in recall_ks) < 1:
            raise ValueError(f"recall_ks must be positive integers, but got {recall_ks=}")
        if memory_budget_mb <= 0:
            raise ValueError(f"memory_budget_mb must be > 0, but got {memory_budget_mb=}")
        if device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, but got {device=}")
        self.recall_ks = sorted({int(k) for k in recall_ks})
        self.memory_budget_mb = float(memory_budget_mb)
        self.device = device
        self.nmi = bool(nmi)
        self.seed = int(seed)

    @classmethod
    def from_config(cls, dataset: DatasetConfig, eval_cfg: EvalConfig) -> RetrievalEvaluator:
        """The evaluator of a dataset's metric set (``dataset.recall_ks``) and ``eval.*``."""
        return cls(dataset.recall_ks, eval_cfg.memory_budget_mb, eval_cfg.device,
                   eval_cfg.nmi, eval_cfg.seed)

    def evaluate(self, query: np.ndarray, query_labels: np.ndarray,
                 reference: np.ndarray | None = None,
                 reference_labels: np.ndarray | None = None) -> dict[str, float]:
        """Metrics of ``query`` against ``reference`` (or against itself, self excluded)."""
        use_gpu = resolve_faiss_device(self.device)
        out = evaluate_retrieval(query, query_labels, reference, reference_labels,
                                 recall_ks=self.recall_ks,
                                 memory_budget_mb=self.memory_budget_mb, use_gpu=use_gpu)
        if self.nmi:
            out.update(clustering_metrics(query, np.asarray(query_labels), self.seed, use_gpu))
        return out
