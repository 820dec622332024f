from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mfsearch.evaluation import extract_embeddings


class _Net(nn.Module):
    """BatchNorm and dropout (mode-dependent), float64 output, records each forward."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 5)
        self.bn = nn.BatchNorm1d(5)
        self.drop = nn.Dropout(0.5)
        self.fail = fail
        self.calls: list[tuple[int, bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((len(x), torch.is_inference_mode_enabled(), self.training))
        if self.fail:
            raise RuntimeError("boom")
        return self.drop(self.bn(self.lin(x))).double()


def _data(n: int = 10) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(n, 6, generator=g), torch.arange(n))


@pytest.mark.parametrize("training", [True, False])
def test_extract_matches_eval_forward_and_restores_modes(training):
    torch.manual_seed(0)
    net = _Net()
    net.bn.running_mean.uniform_(-1, 1)  # non-trivial eval-mode statistics
    net.train(training)
    net.bn.eval()  # a frozen BatchNorm inside a (maybe) training model
    before = {name: m.training for name, m in net.named_modules()}
    data = _data()
    got = extract_embeddings(net, data, batch_size=4, device=torch.device("cpu"),
                             progress=False)
    assert {name: m.training for name, m in net.named_modules()} == before
    assert [c[0] for c in net.calls] == [4, 4, 2]
    assert all(inference and not mode for _, inference, mode in net.calls)
    assert got.dtype == np.float32 and got.flags.c_contiguous and got.shape == (10, 5)
    ref = net.eval()(data.tensors[0]).detach().numpy()  # dense reference, eval mode
    np.testing.assert_allclose(got, ref.astype(np.float32), rtol=1e-6, atol=1e-6)


def test_extract_restores_modes_when_forward_fails():
    net = _Net(fail=True).train()
    net.bn.eval()
    with pytest.raises(RuntimeError, match="boom"):
        extract_embeddings(net, _data(), 4, torch.device("cpu"), progress=False)
    assert net.training and net.lin.training and not net.bn.training


def test_extract_rejects_empty_dataset_and_bad_batch_size():
    with pytest.raises(ValueError, match="empty dataset"):
        extract_embeddings(_Net(), _data(0), 4, torch.device("cpu"), progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        extract_embeddings(_Net(), _data(), 0, torch.device("cpu"), progress=False)
