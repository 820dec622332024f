from __future__ import annotations

import faiss
import numpy as np
import pytest
import torch
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import FaissKNN

from mfsearch.evaluation import RetrievalEvaluator
from tests.reference_metrics import brute_force_metrics

KS = [1, 2, 4, 8]


def _clustered(n: int, classes: int, dim: int, seed: int, noise: float = 1.0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centers = rng.normal(size=(classes, dim))
    x = centers[labels] + noise * rng.normal(size=(n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels


@pytest.mark.parametrize("seed", [0, 1])
def test_self_retrieval_matches_brute_force(seed):
    x, y = _clustered(300, 12, 16, seed)
    got = RetrievalEvaluator(KS).evaluate(x, y)
    ref = brute_force_metrics(x, y, None, None, KS)
    for key, value in ref.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def test_query_vs_reference_matches_brute_force():
    q, qy = _clustered(150, 10, 8, 5)
    r, ry = _clustered(220, 10, 8, 6)
    got = RetrievalEvaluator(KS).evaluate(q, qy, r, ry)
    ref = brute_force_metrics(q, qy, r, ry, KS)
    for key, value in ref.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def test_matches_pytorch_metric_learning():
    x, y = _clustered(500, 20, 32, 7, noise=1.5)
    got = RetrievalEvaluator([1]).evaluate(x, y)
    # Same exact inner-product search as ours, so near-ties are ordered the same way.
    knn = FaissKNN(index_init_fn=faiss.IndexFlatIP)
    calc = AccuracyCalculator(include=("precision_at_1", "r_precision",
                                       "mean_average_precision_at_r"), k="max_bin_count",
                              knn_func=knn)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    ref = calc.get_accuracy(xt, yt, xt, yt, ref_includes_query=True)
    assert got["precision_at_1"] == pytest.approx(ref["precision_at_1"], abs=1e-6)
    assert got["r_precision"] == pytest.approx(ref["r_precision"], abs=1e-6)
    assert got["map_at_r"] == pytest.approx(ref["mean_average_precision_at_r"], abs=1e-6)


def test_lone_queries_are_left_out_and_counted():
    x, y = _clustered(60, 4, 8, 2)
    y = y.copy()
    y[0] = 99  # a class of one sample
    got = RetrievalEvaluator([1, 2]).evaluate(x, y)
    ref = brute_force_metrics(x, y, None, None, [1, 2])
    assert got["num_lone_queries"] == 1
    assert got["map_at_r"] == pytest.approx(ref["map_at_r"], abs=1e-12)


def test_bad_inputs_raise_clear_errors():
    x, y = _clustered(20, 3, 4, 0)
    ev = RetrievalEvaluator([1, 2])
    bad = x.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf in 1 of 20 rows"):
        ev.evaluate(bad, y)
    with pytest.raises(ValueError, match="differ in length"):
        ev.evaluate(x, y[:-1])
    with pytest.raises(ValueError, match="Recall@50"):
        RetrievalEvaluator([50]).evaluate(x, y)
    with pytest.raises(ValueError, match="dimensions differ"):
        ev.evaluate(x, y, x[:, :2].copy(), y)
