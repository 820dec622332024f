from __future__ import annotations

import faiss
import numpy as np
import pytest
import torch
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import FaissKNN
from sklearn.metrics import adjusted_mutual_info_score, normalized_mutual_info_score

from mfsearch.evaluation import (
    RetrievalEvaluator,
    adjusted_mutual_info,
    faiss_has_gpu,
    kmeans_assign,
    knn_search,
    normalized_mutual_info,
    query_block_size,
)
from tests.reference_metrics import brute_force_metrics

KS = [1, 2, 4, 8]
PML_METRICS = ("precision_at_1", "r_precision", "mean_average_precision_at_r")


def _clustered(n: int, classes: int, dim: int, seed: int, noise: float = 1.0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centers = rng.normal(size=(classes, dim))
    x = centers[labels] + noise * rng.normal(size=(n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels


def _integer_grid(n: int, classes: int, dim: int, seed: int):
    """Embeddings with coordinates in {0, 1, 2}: many exactly tied inner products, all
    exact in float32, so faiss and the float64 reference agree on every score."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 3, (n, dim)).astype(np.float32), rng.integers(0, classes, n)


def _assert_matches(got: dict[str, float], ref: dict[str, float]) -> None:
    for key, value in ref.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def _pml(query, query_labels, reference=None, reference_labels=None):
    calc = AccuracyCalculator(include=PML_METRICS, k="max_bin_count",
                              knn_func=FaissKNN(index_init_fn=faiss.IndexFlatIP))
    q, ql = torch.from_numpy(query), torch.from_numpy(query_labels)
    if reference is None:
        return calc.get_accuracy(q, ql, q, ql, ref_includes_query=True)
    return calc.get_accuracy(q, ql, torch.from_numpy(reference),
                             torch.from_numpy(reference_labels), ref_includes_query=False)


def _assert_matches_pml(got: dict[str, float], ref: dict[str, float]) -> None:
    assert got["precision_at_1"] == pytest.approx(ref["precision_at_1"], abs=1e-6)
    assert got["r_precision"] == pytest.approx(ref["r_precision"], abs=1e-6)
    assert got["map_at_r"] == pytest.approx(ref["mean_average_precision_at_r"], abs=1e-6)


# -- against the brute-force reference ------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_self_retrieval_matches_brute_force(seed):
    x, y = _clustered(300, 12, 16, seed)
    got = RetrievalEvaluator(KS).evaluate(x, y)
    _assert_matches(got, brute_force_metrics(x, y, None, None, KS))
    assert got["num_lone_queries"] == 0


def test_query_vs_reference_matches_brute_force():
    q, qy = _clustered(150, 10, 8, 5)
    r, ry = _clustered(220, 10, 8, 6)
    got = RetrievalEvaluator(KS).evaluate(q, qy, r, ry)
    _assert_matches(got, brute_force_metrics(q, qy, r, ry, KS))


@pytest.mark.parametrize("with_reference", [False, True])
def test_exact_ties_are_ranked_by_index(with_reference):
    # K = size of the reference set, so every tied candidate is returned and ranked.
    x, y = _integer_grid(80, 5, 3, 3)
    if with_reference:
        r, ry = _integer_grid(70, 5, 3, 4)
        ks = [1, 3, 70]
        got = RetrievalEvaluator(ks).evaluate(x, y, r, ry)
        ref = brute_force_metrics(x, y, r, ry, ks)
    else:
        ks = [1, 3, 79]
        got = RetrievalEvaluator(ks).evaluate(x, y)
        ref = brute_force_metrics(x, y, None, None, ks)
    _assert_matches(got, ref)


def test_exact_duplicates_keep_each_other_and_drop_only_self():
    x, y = _clustered(40, 4, 8, 9)
    # Every sample appears three times; duplicates of one sample share its label, and
    # one extra duplicate carries another label.
    x3, y3 = np.concatenate([x, x, x]), np.concatenate([y, y, y])
    x3 = np.concatenate([x3, x[:5]])
    y3 = np.concatenate([y3, (y[:5] + 1) % 4])
    got = RetrievalEvaluator(KS).evaluate(x3, y3)
    _assert_matches(got, brute_force_metrics(x3, y3, None, None, KS))
    idx = knn_search(x3, None, 4)
    assert not (idx == np.arange(len(x3))[:, None]).any()  # never its own neighbour
    # ...but its two exact copies are its two nearest neighbours.
    for i in range(len(x)):
        assert set(idx[i, :2].tolist()) == {i + len(x), i + 2 * len(x)}


def test_more_exact_duplicates_than_neighbours():
    # 12 identical rows and k + 1 = 3 searched: the query itself may not be returned, and
    # then the last candidate is dropped instead.
    x = np.ones((12, 4), dtype=np.float32)
    idx = knn_search(x, None, 2)
    assert idx.shape == (12, 2)
    assert not (idx == np.arange(12)[:, None]).any()
    assert (np.diff(idx, axis=1) > 0).all()  # exact ties ranked by index


def test_classes_of_one_are_left_out_and_counted():
    x, y = _clustered(80, 4, 8, 2)
    y = y.copy()
    y[[0, 5, 9]] = [97, 98, 99]  # three classes of one sample: lone queries
    got = RetrievalEvaluator([1, 2]).evaluate(x, y)
    _assert_matches(got, brute_force_metrics(x, y, None, None, [1, 2]))
    assert got["num_lone_queries"] == 3
    # pytorch-metric-learning leaves lone queries out of every average the same way.
    _assert_matches_pml(got, _pml(x, y))


def test_single_class():
    x, _ = _clustered(30, 3, 8, 4)
    y = np.zeros(30, dtype=np.int64)
    got = RetrievalEvaluator([1, 5]).evaluate(x, y)
    _assert_matches(got, brute_force_metrics(x, y, None, None, [1, 5]))
    assert got["map_at_r"] == 1.0 and got["recall_at_1"] == 1.0


def test_all_queries_lone_is_an_error_not_nan():
    x, _ = _clustered(10, 3, 4, 0)
    with pytest.raises(ValueError, match="All 10 queries are alone"):
        RetrievalEvaluator([1]).evaluate(x, np.arange(10))


def test_in_shop_style_query_and_gallery():
    rng = np.random.default_rng(11)
    centers = rng.normal(size=(30, 16))
    # Each item has 1-3 query images and 2-5 gallery images, as in In-Shop; 3 gallery-only
    # distractor items.
    q_labels = np.repeat(np.arange(27), rng.integers(1, 4, 27))
    g_labels = np.repeat(np.arange(30), rng.integers(2, 6, 30))

    def embed(labels):
        x = centers[labels] + 1.2 * rng.normal(size=(len(labels), 16))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    q, g = embed(q_labels), embed(g_labels)
    ks = [1, 10, 20, 30, 40, 50]
    got = RetrievalEvaluator(ks).evaluate(q, q_labels, g, g_labels)
    _assert_matches(got, brute_force_metrics(q, q_labels, g, g_labels, ks))
    assert got["num_lone_queries"] == 0
    _assert_matches_pml(got, _pml(q, q_labels, g, g_labels))


def test_block_size_does_not_change_results():
    x, y = _clustered(400, 15, 16, 8)
    y[:3] = [100, 101, 102]
    tiny = 0.002  # MB: a few queries per block
    assert query_block_size(41, 400, tiny) < 5
    a = RetrievalEvaluator([1, 10, 40], memory_budget_mb=tiny).evaluate(x, y)
    b = RetrievalEvaluator([1, 10, 40], memory_budget_mb=4096).evaluate(x, y)
    assert a == b
    q, qy = x[:150], y[:150]
    a = RetrievalEvaluator([1, 10], memory_budget_mb=tiny).evaluate(q, qy, x[150:], y[150:])
    b = RetrievalEvaluator([1, 10], memory_budget_mb=4096).evaluate(q, qy, x[150:], y[150:])
    assert a == b


# -- against pytorch-metric-learning ----------------------------------------------------------
@pytest.mark.parametrize("seed", [7, 8])
def test_matches_pytorch_metric_learning(seed):
    x, y = _clustered(500, 20, 32, seed, noise=1.5)
    _assert_matches_pml(RetrievalEvaluator([1]).evaluate(x, y), _pml(x, y))


def test_matches_pytorch_metric_learning_with_reference():
    q, qy = _clustered(200, 15, 16, 12, noise=1.5)
    r, ry = _clustered(300, 15, 16, 13, noise=1.5)
    _assert_matches_pml(RetrievalEvaluator([1]).evaluate(q, qy, r, ry), _pml(q, qy, r, ry))


# -- clustering ------------------------------------------------------------------------------
def test_nmi_and_ami_match_scikit_learn_on_the_kmeans_assignment():
    x, y = _clustered(600, 12, 16, 21, noise=1.2)
    clusters = kmeans_assign(x, 12, seed=3)
    assert len(np.unique(clusters)) > 1
    assert normalized_mutual_info(y, clusters) == pytest.approx(
        normalized_mutual_info_score(y, clusters), abs=1e-12)
    assert adjusted_mutual_info(y, clusters) == pytest.approx(
        adjusted_mutual_info_score(y, clusters), abs=1e-10)
    got = RetrievalEvaluator([1], nmi=True, seed=3).evaluate(x, y)
    assert got["nmi"] == pytest.approx(normalized_mutual_info_score(y, clusters), abs=1e-12)
    assert got["ami"] == pytest.approx(adjusted_mutual_info_score(y, clusters), abs=1e-10)


@pytest.mark.parametrize("case", ["random", "identical", "one_vs_many", "both_one", "singletons"])
def test_nmi_and_ami_edge_cases_match_scikit_learn(case):
    rng = np.random.default_rng(5)
    a = rng.integers(0, 7, 300)
    b = {"random": rng.integers(0, 9, 300), "identical": a.copy(),
         "one_vs_many": np.zeros(300, int), "both_one": np.zeros(300, int),
         "singletons": np.arange(300)}[case]
    if case == "both_one":
        a = np.zeros(300, int)
    assert normalized_mutual_info(a, b) == pytest.approx(
        normalized_mutual_info_score(a, b), abs=1e-12)
    assert adjusted_mutual_info(a, b) == pytest.approx(
        adjusted_mutual_info_score(a, b), abs=1e-10)


# -- bad input and devices -------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    x, y = _clustered(20, 3, 4, 0)
    ev = RetrievalEvaluator([1, 2])
    bad = x.copy()
    bad[3, 0] = np.nan
    bad[7, 1] = np.inf
    with pytest.raises(ValueError, match="query embeddings contain NaN or Inf in 2 of 20 rows"):
        ev.evaluate(bad, y)
    with pytest.raises(ValueError, match="reference embeddings contain NaN or Inf in 2 of"):
        ev.evaluate(x, y, bad, y)
    with pytest.raises(ValueError, match="query embeddings and labels differ in length"):
        ev.evaluate(x, y[:-1])
    with pytest.raises(ValueError, match="reference embeddings and labels differ in length"):
        ev.evaluate(x, y, x, y[:-1])
    with pytest.raises(ValueError, match="Recall@50 needs 50 neighbours.*only 19"):
        RetrievalEvaluator([50]).evaluate(x, y)
    with pytest.raises(ValueError, match="Recall@8 needs 8 neighbours.*only 5"):
        RetrievalEvaluator([8]).evaluate(x, y, x[:5], y[:5])
    with pytest.raises(ValueError, match="differ in dimension: 4 vs 2"):
        ev.evaluate(x, y, x[:, :2].copy(), y)
    with pytest.raises(ValueError, match="query set must be a non-empty"):
        ev.evaluate(x[:0], y[:0])
    with pytest.raises(ValueError, match="reference set must be a non-empty"):
        ev.evaluate(x, y, x[:0], y[:0])
    with pytest.raises(ValueError, match="both reference embeddings and reference labels"):
        ev.evaluate(x, y, x)
    with pytest.raises(ValueError, match="recall_ks"):
        RetrievalEvaluator([0, 1])
    with pytest.raises(ValueError, match="device"):
        RetrievalEvaluator([1], device="tpu")


@pytest.mark.skipif(faiss_has_gpu(), reason="this faiss has a GPU")
def test_forcing_cuda_without_gpu_faiss_is_a_clear_error():
    x, y = _clustered(20, 3, 4, 0)
    with pytest.raises(ValueError, match="eval.device=cuda.*eval.device=cpu"):
        RetrievalEvaluator([1], device="cuda").evaluate(x, y)
    cpu = RetrievalEvaluator([1], device="cpu").evaluate(x, y)
    assert RetrievalEvaluator([1], device="auto").evaluate(x, y) == cpu


def test_metric_set_comes_from_the_dataset_config(make_config):
    cfg = make_config("dataset.recall_ks=[1,3,5]", "eval.memory_budget_mb=1", "eval.nmi=true")
    from mfsearch.training import build_evaluator

    ev = RetrievalEvaluator.from_config(cfg.dataset, cfg.eval)
    assert (ev.recall_ks, ev.memory_budget_mb, ev.nmi) == ([1, 3, 5], 1.0, True)
    trainer_ev = build_evaluator(cfg)  # what the trainer and the evaluate command use
    assert (trainer_ev.recall_ks, trainer_ev.memory_budget_mb, trainer_ev.nmi) == (
        [1, 3, 5], 1.0, True)
    x, y = _clustered(60, 4, 8, 1)
    got = ev.evaluate(x, y)
    assert {k for k in got if k.startswith("recall_at_")} == {
        "recall_at_1", "recall_at_3", "recall_at_5"}
    assert {"nmi", "ami"} <= set(got)


def test_query_gallery_setting_must_match_the_data(make_config):
    from mfsearch.config import ConfigError
    from mfsearch.training import build_trainer

    with pytest.raises(ConfigError, match="dataset.query_gallery=True is invalid.*digits"):
        build_trainer(make_config("dataset.query_gallery=true"))
