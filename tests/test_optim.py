"""Optimizers and StepLR against torch's own, and BatchNorm freezing through warm-up."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mfsearch.config import OptimizerConfig, SchedulerConfig
from mfsearch.training import build_optimizer, build_scheduler, build_trainer, param_groups

# name -> the optimizer the paper's code builds, written out independently of mfsearch
REFERENCES = {
    "adamw": lambda groups, lr, wd: torch.optim.AdamW(groups, lr=lr, weight_decay=wd),
    "adam": lambda groups, lr, wd: torch.optim.Adam(groups, lr=lr, weight_decay=wd),
    "sgd": lambda groups, lr, wd: torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True,
                                                  weight_decay=wd),
    "rmsprop": lambda groups, lr, wd: torch.optim.RMSprop(groups, lr=lr, alpha=0.9, eps=1.0,
                                                          momentum=0.9, weight_decay=wd),
}


def _three_modules(seed: int) -> list[nn.Module]:
    torch.manual_seed(seed)
    return [nn.Linear(4, 3), nn.Linear(3, 2), nn.Linear(2, 2, bias=False)]


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_optimizer_matches_torch_reference(make_config, name):
    cfg = make_config(f"optimizer={name}", "optimizer.lr=0.01", "optimizer.lr_ratio=10",
                      "optimizer.weight_decay=0.001").optimizer
    assert cfg.name == name and cfg.momentum == 0.9
    ours, ref = _three_modules(0), _three_modules(0)
    optimizer = build_optimizer(param_groups(*(m.parameters() for m in ours), cfg), cfg)
    reference = REFERENCES[name]([
        {"params": list(ref[0].parameters()), "lr": 0.01},
        {"params": list(ref[1].parameters()), "lr": 0.01},
        {"params": list(ref[2].parameters()), "lr": 0.1},
    ], 0.01, 0.001)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.01, 0.01, 0.1])
    x = torch.randn(5, 4)
    for _ in range(3):
        for modules, opt in ((ours, optimizer), (ref, reference)):
            opt.zero_grad()
            modules[2](modules[1](modules[0](x))).square().sum().backward()
            opt.step()
    for a, b in zip(ours, ref, strict=True):
        for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
            torch.testing.assert_close(pa, pb)


def test_step_lr_decays_every_step_size_epochs():
    param = nn.Parameter(torch.zeros(1))
    optimizer = build_optimizer([{"params": [param], "lr": 1.0}], OptimizerConfig(lr=1.0))
    scheduler = build_scheduler(optimizer, SchedulerConfig(name="step", step_size=3, gamma=0.25))
    seen = []
    for _ in range(8):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([0.25 ** (epoch // 3) for epoch in range(8)])


def _bn_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {f"{name}.{key}": value.detach().clone()
            for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)
            for key, value in m.state_dict().items()}


def _conv_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: m.weight.detach().clone() for name, m in model.named_modules()
            if isinstance(m, nn.Conv2d)}


def _changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


@pytest.mark.parametrize("bn_freeze", [True, False])
def test_bn_freeze_holds_after_warmup(make_config, bn_freeze):
    config = make_config("trainer.warmup_epochs=1", "trainer.max_epochs=3", "trainer.patience=5",
                         f"trainer.bn_freeze={str(bn_freeze).lower()}", "trainer.save_last=false")
    trainer = build_trainer(config)
    backbone = trainer.model.backbone
    bns = [m for m in backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns
    bn_start, conv_start = _bn_state(backbone), _conv_state(backbone)
    modes: list[tuple[int, bool]] = []  # (epoch, BatchNorm.training) at training forwards
    epoch = [1]
    for m in bns:
        m.register_forward_pre_hook(
            lambda mod, args: modes.append((epoch[0], mod.training))
            if torch.is_grad_enabled() else None)
    snapshots = {}

    class Snapshot:
        def on_epoch_end(self, e, metrics):
            snapshots[e] = (_bn_state(backbone), _conv_state(backbone),
                            {n: p.requires_grad for n, p in backbone.named_parameters()})
            epoch[0] = e + 1

    trainer.callbacks.append(Snapshot())
    trainer.fit()
    assert sorted(snapshots) == [1, 2, 3]
    # warm-up: the backbone's convolutions do not move
    assert _changed(conv_start, snapshots[1][1]) == set()
    # after warm-up the backbone trains
    assert _changed(conv_start, snapshots[3][1]) == set(conv_start)
    bn_params = {f"{n}.{k}" for n, m in backbone.named_modules()
                 if isinstance(m, nn.BatchNorm2d) for k, _ in m.named_parameters()}
    assert {e for e, _ in modes} == {1, 2, 3}
    if bn_freeze:
        for e in (1, 2, 3):
            assert _changed(bn_start, snapshots[e][0]) == set(), f"epoch {e}"
            assert not any(snapshots[e][2][k] for k in bn_params)
        assert all(not training for _, training in modes)
    else:  # the control: without bn_freeze the same run moves BatchNorm
        changed = _changed(bn_start, snapshots[3][0])
        assert bn_params <= changed
        assert any(k.endswith("running_mean") for k in changed)
        assert all(training for _, training in modes)
