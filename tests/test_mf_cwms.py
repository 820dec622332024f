from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mfsearch.losses import MeanFieldClassWiseMultiSimilarity
from tests.reference_losses import dense_mf_cwms, loop_mf_cwms


def _inputs(batch: int, classes: int, dim: int, dtype: torch.dtype, seed: int = 0,
            labels: torch.Tensor | None = None):
    g = torch.Generator().manual_seed(seed)
    x = F.normalize(torch.randn(batch, dim, generator=g, dtype=dtype), dim=1)
    if labels is None:
        labels = torch.randint(0, classes, (batch,), generator=g)
    fields = torch.randn(dim, classes, generator=g, dtype=dtype)
    return x, labels, fields


def _fast(x, labels, fields, **params):
    loss = MeanFieldClassWiseMultiSimilarity(fields.shape[1], fields.shape[0], **params)
    loss = loss.to(fields.dtype)
    with torch.no_grad():
        loss.mean_fields.copy_(fields)
    return loss


PARAMS = [
    dict(alpha=0.01, beta=80.0, mrg=0.8, mf_reg=0.0),
    dict(alpha=2.0, beta=10.0, mrg=0.3, mf_reg=0.5),
    dict(alpha=10.0, beta=1.0, mrg=0.0, mf_reg=0.01),
]


@pytest.mark.parametrize("params", PARAMS)
def test_value_matches_loop_transcription(params):
    x, labels, fields = _inputs(12, 5, 6, torch.float64)
    labels[:3] = 0  # a class with several samples; classes 0..4 partly absent
    fast = _fast(x, labels, fields, **params)(x, labels)
    ref = loop_mf_cwms(x, labels, fields, **params)
    assert torch.allclose(fast, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("params", PARAMS)
def test_value_and_gradients_match_dense(dtype, rtol, params):
    x, labels, fields = _inputs(40, 17, 16, dtype, seed=3)
    x = x.clone().requires_grad_(True)
    fast_mod = _fast(x.detach(), labels, fields, **params)
    fast = fast_mod(x, labels)
    gx_fast, gm_fast = torch.autograd.grad(fast, [x, fast_mod.mean_fields])

    x2 = x.detach().clone().requires_grad_(True)
    m2 = fields.clone().requires_grad_(True)
    ref = dense_mf_cwms(x2, labels, m2, **params)
    gx_ref, gm_ref = torch.autograd.grad(ref, [x2, m2])

    assert torch.allclose(fast, ref, rtol=rtol)
    scale_x = gx_ref.abs().max()
    scale_m = gm_ref.abs().max()
    assert (gx_fast - gx_ref).abs().max() <= rtol * 10 * scale_x
    assert (gm_fast - gm_ref).abs().max() <= rtol * 10 * scale_m


def test_published_defaults_give_log2_over_alpha():
    x, labels, _ = _inputs(180, 100, 512, torch.float32)
    loss = MeanFieldClassWiseMultiSimilarity(100, 512)(x, labels)
    assert abs(float(loss.detach()) - 69.3) < 1.0


def test_invalid_hyperparameters_are_rejected():
    with pytest.raises(ValueError, match="loss.alpha"):
        MeanFieldClassWiseMultiSimilarity(3, 4, alpha=0.0)
    with pytest.raises(ValueError, match="loss.mrg"):
        MeanFieldClassWiseMultiSimilarity(3, 4, mrg=1.5)
