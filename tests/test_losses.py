"""The losses against their dense references: values, gradients, edge batches, safety."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfsearch.losses import (
    ClassWiseMultiSimilarity,
    MeanFieldClassWiseMultiSimilarity,
    MeanFieldContrastive,
    pairwise_penalty,
    scaled_softplus,
)
from mfsearch.losses import _mean_field as mean_field_module
from tests.reference_losses import (
    dense_cwms,
    dense_mf_contrastive,
    dense_mf_cwms,
    loop_mf_cwms,
)

F64 = torch.float64


def _mean_field_loss(cls, fields: torch.Tensor, **params):
    loss = cls(fields.shape[1], fields.shape[0], **params).to(fields.dtype)
    with torch.no_grad():
        loss.mean_fields.copy_(fields)
    return loss


def _fast_and_dense(kind: str, x: torch.Tensor, labels: torch.Tensor, fields: torch.Tensor,
                    params: dict):
    """(value, grads) of the fast loss and of its dense reference, grads wrt x (and M)."""
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    if kind == "cwms":
        fast = ClassWiseMultiSimilarity(fields.shape[1], x.shape[1], **params)(x1, labels)
        dense = dense_cwms(x2, labels, **params)
        return (fast, torch.autograd.grad(fast, [x1])), (dense, torch.autograd.grad(dense, [x2]))
    cls, ref = {"mf_cwms": (MeanFieldClassWiseMultiSimilarity, dense_mf_cwms),
                "mf_contrastive": (MeanFieldContrastive, dense_mf_contrastive)}[kind]
    module = _mean_field_loss(cls, fields, **params)
    fast = module(x1, labels)
    m2 = fields.clone().requires_grad_(True)
    dense = ref(x2, labels, m2, **params)
    return ((fast, torch.autograd.grad(fast, [x1, module.mean_fields])),
            (dense, torch.autograd.grad(dense, [x2, m2])))


def _all_finite(value: torch.Tensor, grads) -> bool:
    return bool(torch.isfinite(value)) and all(bool(torch.isfinite(g).all()) for g in grads)


def _assert_close(fast, dense, rtol: float) -> None:
    (value, grads), (ref_value, ref_grads) = fast, dense
    value, ref_value = float(value.detach()), float(ref_value.detach())
    assert abs(value - ref_value) <= rtol * max(abs(ref_value), 1e-300)
    for g, r in zip(grads, ref_grads, strict=True):
        assert float((g - r).abs().max()) <= rtol * max(float(r.abs().max()), 1e-300)


def _batch(seed: int, batch: int, classes: int, dim: int, x_scale: float, m_scale: float,
           dtype: torch.dtype = F64, labels: torch.Tensor | None = None):
    g = torch.Generator().manual_seed(seed)
    x = F.normalize(torch.randn(batch, dim, generator=g, dtype=dtype), dim=1) * x_scale
    if labels is None:
        labels = torch.randint(0, classes, (batch,), generator=g)
    fields = torch.randn(dim, classes, generator=g, dtype=dtype) * m_scale
    return x, labels, fields


log_uniform = lambda lo, hi: st.floats(math.log10(lo), math.log10(hi)).map(lambda e: 10.0 ** e)  # noqa: E731
MF_REG = st.one_of(st.just(0.0), log_uniform(1e-4, 10.0))
CWMS_BOX = st.fixed_dictionaries({"alpha": log_uniform(1e-3, 10.0),
                                  "beta": st.floats(1.0, 200.0), "mrg": st.floats(0.0, 1.0)})
MF_CWMS_BOX = st.fixed_dictionaries({"alpha": log_uniform(1e-3, 10.0),
                                     "beta": st.floats(1.0, 200.0), "mrg": st.floats(0.0, 1.0),
                                     "mf_reg": MF_REG})
MF_CONTRASTIVE_BOX = st.fixed_dictionaries({"pos_margin": st.floats(0.0, 1.0),
                                            "neg_margin": st.floats(0.0, 1.0),
                                            "mf_reg": MF_REG})
BOXES = {"mf_cwms": MF_CWMS_BOX, "mf_contrastive": MF_CONTRASTIVE_BOX, "cwms": CWMS_BOX}
SCALES = {"x_scale": log_uniform(1e-3, 1e3), "m_scale": log_uniform(1e-6, 1e6)}
PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _property(kind: str, params, seed, batch, classes, x_scale, m_scale) -> None:
    x, labels, fields = _batch(seed, batch, classes, 5, x_scale, m_scale)
    fast, dense = _fast_and_dense(kind, x, labels, fields, params)
    assert _all_finite(*fast)
    if _all_finite(*dense):
        _assert_close(fast, dense, 1e-9)
    # float32 is finite over the whole box too, whatever the reference does.
    fast32, _ = _fast_and_dense(kind, x.float(), labels, fields.float(), params)
    assert _all_finite(*fast32)


@pytest.mark.parametrize("kind", sorted(BOXES))
def test_property_matches_dense_reference_or_stays_finite(kind):
    @PROPERTY
    @given(params=BOXES[kind], seed=st.integers(0, 2**31 - 1), batch=st.integers(1, 12),
           classes=st.integers(1, 9), **SCALES)
    def check(params, seed, batch, classes, x_scale, m_scale):
        _property(kind, params, seed, batch, classes, x_scale, m_scale)

    check()


def test_overflowing_settings_stay_finite_where_dense_overflows():
    x, labels, fields = _batch(0, 16, 6, 8, 1.0, 1.0, dtype=torch.float32)
    params = {"alpha": 10.0, "beta": 200.0, "mrg": 0.0, "mf_reg": 10.0}
    fast, dense = _fast_and_dense("mf_cwms", x * 10, labels, fields, params)
    assert not _all_finite(*dense)  # exp(200 * 10) overflows float32
    assert _all_finite(*fast)


EDGE_LABELS = {
    "single_sample_classes": torch.tensor([0, 1, 2, 3, 4, 5, 6, 6]),
    "unequal_class_sizes": torch.tensor([2] * 25 + [0, 5, 5, 7]),
    "one_class_only": torch.tensor([3] * 9),
    "one_sample": torch.tensor([4]),
}
EDGE_PARAMS = {
    "mf_cwms": {"alpha": 2.0, "beta": 10.0, "mrg": 0.1, "mf_reg": 0.3},
    "mf_contrastive": {"pos_margin": 0.02, "neg_margin": 0.9, "mf_reg": 0.3},
    "cwms": {"alpha": 2.0, "beta": 50.0, "mrg": 0.5},
}


@pytest.mark.parametrize("kind", sorted(EDGE_PARAMS))
@pytest.mark.parametrize("case", sorted(EDGE_LABELS))
def test_edge_batches_match_dense_to_1e10(kind, case):
    labels = EDGE_LABELS[case]
    x, _, fields = _batch(7, len(labels), 9, 6, 1.0, 1.0, labels=labels)
    fast, dense = _fast_and_dense(kind, x, labels, fields, EDGE_PARAMS[kind])
    _assert_close(fast, dense, 1e-10)


@pytest.mark.parametrize("case", sorted(EDGE_LABELS))
def test_mf_cwms_edge_batches_match_loop_transcription(case):
    labels = EDGE_LABELS[case]
    x, _, fields = _batch(3, len(labels), 9, 6, 1.0, 1.0, labels=labels)
    params = EDGE_PARAMS["mf_cwms"]
    fast = float(_mean_field_loss(MeanFieldClassWiseMultiSimilarity, fields, **params)(
        x, labels).detach())
    assert abs(fast - float(loop_mf_cwms(x, labels, fields, **params))) <= 1e-10 * fast


def test_float32_matches_dense_within_1e5():
    x, labels, fields = _batch(5, 60, 40, 32, 1.0, 1.0, dtype=torch.float32)
    for kind, params in EDGE_PARAMS.items():
        fast, dense = _fast_and_dense(kind, x, labels, fields, params)
        _assert_close(fast, dense, 1e-5)


@pytest.mark.parametrize("chunk", [1, 7, 50])
def test_chunked_regularizer_equals_unchunked(chunk):
    g = torch.Generator().manual_seed(1)
    fields = F.normalize(torch.randn(6, 23, generator=g, dtype=F64), dim=0)
    penalty = lambda gram: scaled_softplus(gram - 0.3, 40.0).square()  # noqa: E731
    a = fields.clone().requires_grad_(True)
    b = fields.clone().requires_grad_(True)
    chunked = pairwise_penalty(a, penalty, chunk_elements=chunk * 23)
    whole = penalty(b.T @ b).masked_fill(torch.eye(23, dtype=torch.bool), 0.0).sum()
    (ga,), (gb,) = torch.autograd.grad(chunked, [a]), torch.autograd.grad(whole, [b])
    assert torch.allclose(chunked, whole, rtol=1e-12)
    assert torch.allclose(ga, gb, rtol=1e-10, atol=1e-14)


def test_regularizer_is_skipped_when_mf_reg_is_zero(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the regulariser ran with mf_reg=0")

    monkeypatch.setattr(mean_field_module, "pairwise_penalty", fail)
    x, labels, fields = _batch(0, 8, 5, 4, 1.0, 1.0)
    for cls, params in [(MeanFieldClassWiseMultiSimilarity, {"mf_reg": 0.0}),
                        (MeanFieldContrastive, {"mf_reg": 0.0})]:
        _mean_field_loss(cls, fields, **params)(x, labels).backward()
    with pytest.raises(AssertionError, match="regulariser ran"):
        _mean_field_loss(MeanFieldClassWiseMultiSimilarity, fields, mf_reg=0.1)(x, labels)


@pytest.mark.parametrize("kind", sorted(EDGE_PARAMS))
def test_bfloat16_autocast_is_finite_at_beta_200(kind):
    params = dict(EDGE_PARAMS[kind])
    if "beta" in params:
        params.update(beta=200.0, mrg=0.0)
    g = torch.Generator().manual_seed(2)
    layer = torch.nn.Linear(16, 8)
    inputs = torch.randn(24, 16, generator=g) * 30
    labels = torch.randint(0, 6, (24,), generator=g)
    fields = torch.randn(8, 6, generator=g)
    loss = (ClassWiseMultiSimilarity(6, 8, **params) if kind == "cwms" else
            _mean_field_loss({"mf_cwms": MeanFieldClassWiseMultiSimilarity,
                              "mf_contrastive": MeanFieldContrastive}[kind], fields, **params))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        embeddings = F.normalize(layer(inputs), dim=1)
        value = loss(embeddings, labels)
    value.backward()
    assert embeddings.dtype == torch.bfloat16 and value.dtype == torch.float32
    assert torch.isfinite(value)
    assert all(torch.isfinite(p.grad).all() for p in [*layer.parameters(), *loss.parameters()])
    # The loss ran in float32 on the bf16 embeddings: it equals the float64 reference there.
    e64 = embeddings.detach().double()
    ref = (dense_cwms(e64, labels, **params) if kind == "cwms" else
           {"mf_cwms": dense_mf_cwms, "mf_contrastive": dense_mf_contrastive}[kind](
               e64, labels, fields.double(), **params))
    assert abs(float(value) - float(ref)) <= 1e-4 * abs(float(ref))


def test_labels_out_of_range_are_rejected():
    loss = MeanFieldClassWiseMultiSimilarity(3, 4)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        loss(torch.randn(2, 4), torch.tensor([0, 3]))


def test_regularizer_keeps_no_class_pair_chunk_for_backward():
    fields = F.normalize(torch.randn(4, 300, dtype=F64), dim=0).requires_grad_(True)
    saved: dict[int, int] = {}  # storage -> elements, of what autograd keeps for backward

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved[tensor.untyped_storage().data_ptr()] = tensor.numel()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        total = pairwise_penalty(fields, lambda gram: torch.relu(gram - 0.1).square(),
                                 chunk_elements=3000)
    total.backward()
    assert sum(saved.values()) <= 4 * 300  # the fields themselves, never a (rows x C) chunk
    assert fields.grad is not None and bool(fields.grad.abs().max() > 0)
