"""Retrieval evaluation: embedding extraction, faiss k-NN and metrics as pure functions."""

from __future__ import annotations

from mfsearch.evaluation._evaluator import RetrievalEvaluator, relevant_counts
from mfsearch.evaluation._extract import extract_embeddings
from mfsearch.evaluation._knn import knn_search, query_block_size
from mfsearch.evaluation._metrics import retrieval_metrics

__all__ = [
    "RetrievalEvaluator",
    "extract_embeddings",
    "knn_search",
    "query_block_size",
    "relevant_counts",
    "retrieval_metrics",
]
