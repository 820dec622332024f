"""Every registered loss trains; the pml adapter matches pml; non-finite losses fail runs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners

from mfsearch.config import ConfigError, load_config
from mfsearch.losses import LOSSES, MetricLearningLoss, NonFiniteLossError, build_loss, loss_params
from mfsearch.training import build_optimizer, build_trainer, load_checkpoint, param_groups
from tests.conftest import compose_train

NUM_CLASSES, EMBEDDING = 5, 8


def _loss_config(name: str, tmp_path):
    return load_config(compose_train([f"loss={name}", f"run_dir={tmp_path}"]))


def _tiny_batch():
    g = torch.Generator().manual_seed(0)
    inputs = torch.randn(40, 12, generator=g)
    labels = torch.arange(NUM_CLASSES).repeat_interleave(8)
    return inputs, labels


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_runs_one_training_step(name, tmp_path):
    torch.manual_seed(0)
    config = _loss_config(name, tmp_path)
    loss = build_loss(config.loss, NUM_CLASSES, EMBEDDING)
    model = torch.nn.Linear(12, EMBEDDING)
    groups = param_groups([], model.parameters(), loss.parameters(), config.optimizer)
    optimizer = build_optimizer(groups, config.optimizer)
    inputs, labels = _tiny_batch()
    before = [p.detach().clone() for p in [*model.parameters(), *loss.parameters()]]

    value = loss(F.normalize(model(inputs), dim=1), labels)
    value.backward()
    assert math.isfinite(float(value.detach())) and float(value.detach()) > 0
    assert any(float(p.grad.abs().max()) > 0 for p in model.parameters())
    optimizer.step()
    after = [*model.parameters(), *loss.parameters()]
    assert all(not torch.equal(b, a) for b, a in zip(before, after, strict=True))
    loss_group = [g for g in optimizer.param_groups if g.get("name") == "loss"]
    if list(loss.parameters()):  # mean fields or proxies train at lr * lr_ratio
        assert loss_group[0]["lr"] == config.optimizer.lr * config.optimizer.lr_ratio
        assert {id(p) for p in loss_group[0]["params"]} == {id(p) for p in loss.parameters()}
    else:
        assert not loss_group


# The paper's settings, written out against pytorch-metric-learning directly.
PML_REFERENCE = {
    "proxy_anchor": lambda: (pml_losses.ProxyAnchorLoss(NUM_CLASSES, EMBEDDING, margin=0.1,
                                                        alpha=32), None),
    "proxy_nca": lambda: (pml_losses.ProxyNCALoss(NUM_CLASSES, EMBEDDING, softmax_scale=32),
                          None),
    "multi_similarity": lambda: (pml_losses.MultiSimilarityLoss(alpha=2, beta=50, base=0.5),
                                 pml_miners.MultiSimilarityMiner(epsilon=0.1)),
    "contrastive": lambda: (pml_losses.ContrastiveLoss(pos_margin=0.0, neg_margin=1.0), None),
    "triplet": lambda: (pml_losses.TripletMarginLoss(margin=0.1),
                        pml_miners.TripletMarginMiner(margin=0.1, type_of_triplets="semihard")),
    "npair": lambda: (pml_losses.NPairsLoss(), None),
}


@pytest.mark.parametrize("name", sorted(PML_REFERENCE))
def test_pml_baselines_equal_pml_with_the_paper_settings(name, tmp_path):
    loss = build_loss(_loss_config(name, tmp_path).loss, NUM_CLASSES, EMBEDDING)
    assert isinstance(loss, MetricLearningLoss)
    reference, miner = PML_REFERENCE[name]()
    reference.load_state_dict(loss.criterion.state_dict())  # the same proxies
    g = torch.Generator().manual_seed(1)
    embeddings = F.normalize(torch.randn(40, EMBEDDING, generator=g), dim=1)
    labels = _tiny_batch()[1]
    indices = None if miner is None else miner(embeddings, labels)
    expected = reference(embeddings, labels, indices)
    assert torch.allclose(loss(embeddings, labels), expected, rtol=1e-6)


def test_unknown_loss_setting_is_rejected_with_a_hint(tmp_path):
    config = _loss_config("proxy_anchor", tmp_path)
    config.loss.params["margn"] = 0.2
    with pytest.raises(ConfigError, match="Did you mean loss.margin"):
        loss_params(config.loss)


def _poison_after_first_epoch(trainer, snapshot: dict):
    class Poison:
        def on_epoch_end(self, epoch, metrics):
            if epoch == 1:
                snapshot.update({k: v.clone() for k, v in trainer.model.state_dict().items()})
                with torch.no_grad():
                    trainer.model.head.embedding.weight.fill_(math.nan)

    return Poison()


def test_non_finite_loss_fails_the_run_and_keeps_the_best_checkpoint(make_config):
    config = make_config("trainer.max_epochs=3", "model.width=8", "model.embedding_size=16",
                         "loss.alpha=0.05", "device=cpu", "eval.device=cpu")
    trainer = build_trainer(config)
    snapshot: dict = {}
    trainer.callbacks.append(_poison_after_first_epoch(trainer, snapshot))
    result = trainer.fit()

    assert result.status == "failed" and result.epochs_run == 1
    assert "'mf_cwms'" in result.reason and "alpha=0.05" in result.reason
    assert "beta=80.0" in result.reason and "mrg=0.8" in result.reason
    assert f"step {trainer.step}" in result.reason and trainer.step > 1
    best = load_checkpoint(result.checkpoint, torch.device("cpu"))
    assert best["epoch"] == 1
    for key, value in snapshot.items():
        assert torch.equal(best["model"][key], value), key
    assert torch.isfinite(best["model"]["head.embedding.weight"]).all()


def test_trainer_raises_non_finite_loss_error_naming_the_hyperparameters(make_config):
    config = make_config("trainer.max_epochs=1", "model.width=8", "model.embedding_size=16",
                         "loss=mf_contrastive", "loss.neg_margin=0.4", "device=cpu")
    trainer = build_trainer(config)
    with torch.no_grad():
        trainer.model.head.embedding.bias.fill_(math.inf)
    with pytest.raises(NonFiniteLossError) as info:
        trainer.train_epoch(1)
    message = str(info.value)
    assert "'mf_contrastive'" in message and "step 1" in message
    assert "pos_margin=0.02" in message and "neg_margin=0.4" in message
    assert info.value.hyperparameters == {"pos_margin": 0.02, "neg_margin": 0.4, "mf_reg": 0.0}
