"""The retrieval evaluator: one exact k-NN pass, then every configured metric."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mfsearch.evaluation._knn import knn_search
from mfsearch.evaluation._metrics import retrieval_metrics


def _check_embeddings(name: str, emb: np.ndarray, labels: np.ndarray) -> None:
    if emb.ndim != 2 or len(emb) == 0:
        raise ValueError(f"{name} embeddings must be a non-empty (n, d) array, got {emb.shape}")
    if len(emb) != len(labels):
        raise ValueError(
            f"{name} embeddings and labels differ in length: {len(emb)} vs {len(labels)}"
        )
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{name} embeddings contain NaN or Inf in {int(bad.sum())} of {len(emb)} rows; "
            "the model has probably diverged."
        )


def relevant_counts(query_labels: np.ndarray, reference_labels: np.ndarray,
                    exclude_self: bool) -> np.ndarray:
    """R per query: reference samples of the query's class, minus itself if shared."""
    classes, counts = np.unique(reference_labels, return_counts=True)
    pos = np.searchsorted(classes, query_labels)
    pos = np.clip(pos, 0, len(classes) - 1)
    r = np.where(classes[pos] == query_labels, counts[pos], 0)
    return r - 1 if exclude_self else r


class RetrievalEvaluator:
    """Computes Recall@K, Precision@1, R-Precision and MAP@R from one exact k-NN pass.

    Args:
        recall_ks: The K of each Recall@K.
        memory_budget_mb: Bound on one block of the k-NN search.
        device: ``auto``, ``cpu`` or ``cuda`` for the faiss index.
    """

    def __init__(self, recall_ks: Sequence[int], memory_budget_mb: float = 512.0,
                 device: str = "auto") -> None:
        if not recall_ks or min(recall_ks) < 1:
            raise ValueError(f"recall_ks must be positive integers, but got {recall_ks=}")
        if memory_budget_mb <= 0:
            raise ValueError(f"memory_budget_mb must be > 0, but got {memory_budget_mb=}")
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, but got {device=}")
        self.recall_ks = [int(k) for k in recall_ks]
        self.memory_budget_mb = memory_budget_mb
        self.device = device

    def _use_gpu(self) -> bool:
        import faiss

        has_gpu = hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0
        if self.device == "cuda" and not has_gpu:
            raise RuntimeError(
                "eval.device=cuda, but faiss has no GPU support here. Install faiss-gpu or "
                "set eval.device=cpu."
            )
        return self.device == "cuda" or (self.device == "auto" and has_gpu)

    def evaluate(self, query: np.ndarray, query_labels: np.ndarray,
                 reference: np.ndarray | None = None,
                 reference_labels: np.ndarray | None = None) -> dict[str, float]:
        """Metrics of ``query`` against ``reference`` (or against itself, self excluded)."""
        query_labels = np.asarray(query_labels)
        _check_embeddings("query", query, query_labels)
        exclude_self = reference is None
        if exclude_self:
            reference, reference_labels = query, query_labels
        else:
            if reference_labels is None:
                raise ValueError("reference_labels are required with a reference set")
            reference_labels = np.asarray(reference_labels)
            _check_embeddings("reference", reference, reference_labels)
            if reference.shape[1] != query.shape[1]:
                raise ValueError(
                    f"query and reference dimensions differ: {query.shape[1]} vs "
                    f"{reference.shape[1]}"
                )
        assert reference is not None and reference_labels is not None
        available = len(reference) - int(exclude_self)
        if max(self.recall_ks) > available:
            raise ValueError(
                f"Recall@{max(self.recall_ks)} needs {max(self.recall_ks)} neighbours, but the "
                f"reference set offers {available}. Lower the largest K in dataset.recall_ks."
            )
        r = relevant_counts(query_labels, reference_labels, exclude_self)
        k = min(max(max(self.recall_ks), int(r.max(initial=0))), available)
        idx = knn_search(query, None if exclude_self else reference, k,
                         self.memory_budget_mb, self._use_gpu())
        return retrieval_metrics(reference_labels[idx], query_labels, r, self.recall_ks)
