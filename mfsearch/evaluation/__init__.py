"""Retrieval evaluation: embedding extraction, faiss k-NN and metrics as pure functions."""

from __future__ import annotations

from mfsearch.evaluation._clustering import (
    adjusted_mutual_info,
    clustering_metrics,
    kmeans_assign,
    normalized_mutual_info,
)
from mfsearch.evaluation._evaluator import (
    RetrievalEvaluator,
    check_embeddings,
    check_query_gallery,
    encode_labels,
    evaluate_retrieval,
)
from mfsearch.evaluation._extract import extract_embeddings
from mfsearch.evaluation._knn import (
    NeighbourBlock,
    faiss_has_gpu,
    iter_neighbour_blocks,
    knn_search,
    query_block_size,
    resolve_faiss_device,
)
from mfsearch.evaluation._metrics import (
    QueryStatistics,
    query_statistics,
    retrieval_metrics,
    summarize,
)

__all__ = [
    "NeighbourBlock",
    "QueryStatistics",
    "RetrievalEvaluator",
    "adjusted_mutual_info",
    "check_embeddings",
    "check_query_gallery",
    "clustering_metrics",
    "encode_labels",
    "evaluate_retrieval",
    "extract_embeddings",
    "faiss_has_gpu",
    "iter_neighbour_blocks",
    "kmeans_assign",
    "knn_search",
    "normalized_mutual_info",
    "query_block_size",
    "query_statistics",
    "resolve_faiss_device",
    "retrieval_metrics",
    "summarize",
]
