"""Bad input is rejected before training, with the key, the value and the valid choices."""

from __future__ import annotations

import pytest
from hydra.errors import MissingConfigException

from mfsearch.config import ConfigError
from mfsearch.training import build_trainer, check_config
from tests.conftest import compose_train


def test_defaults_compose_and_validate(make_config):
    config = make_config()
    check_config(config)
    assert config.dataset.name == "digits"
    assert config.loss.name == "mf_cwms"
    assert config.loss.params["alpha"] == 0.01
    assert config.optimized_metric == "val/map_at_r"


@pytest.mark.parametrize("override,choice", [
    ("dataset.name=nope", "digits"),
    ("model.name=nope", "small_convnet"),
    ("loss.name=nope", "mf_cwms"),
    ("optimizer.name=nope", "adamw"),
    ("scheduler.name=nope", "step"),
    ("dataset.sampler=nope", "class_balanced"),
])
def test_unknown_names_list_valid_choices(make_config, override, choice):
    config = make_config(override)
    with pytest.raises(ValueError, match=rf"Unknown .*'nope'.*Valid choices: .*{choice}"):
        check_config(config)


def test_unknown_config_group_option_lists_choices():
    with pytest.raises(MissingConfigException, match="digits"):
        compose_train(["dataset=nope"])


@pytest.mark.parametrize("override,key", [
    ("optimizer.lr=0", "optimizer.lr"),
    ("optimizer.lr=-0.1", "optimizer.lr"),
    ("model.embedding_size=0", "model.embedding_size"),
    ("trainer.patience=-1", "trainer.patience"),
    ("dataset.batch_size=1", "dataset.batch_size"),
    ("dataset.split.protocol=train", "dataset.split.protocol"),
    ("optimized_metric=test/map_at_r", "optimized_metric"),
    ("trainer.max_epochs=0", "trainer.max_epochs"),
    ("device=tpu", "device"),
    ("trainer.patience=abc", "trainer.patience"),
])
def test_invalid_values_name_key_and_value(make_config, override, key):
    value = override.split("=", 1)[1]
    with pytest.raises(ConfigError, match=rf"{key}=.*{value}.*invalid"):
        make_config(override)


@pytest.mark.parametrize("override,key", [
    ("loss.alpha=0", "loss.alpha"),
    ("loss.beta=-1", "loss.beta"),
    ("loss.mrg=1.5", "loss.mrg"),
    ("loss.mrg=-0.1", "loss.mrg"),
    ("loss.mf_reg=-1", "loss.mf_reg"),
])
def test_invalid_loss_hyperparameters(make_config, override, key):
    config = make_config(override)
    with pytest.raises(ConfigError, match=rf"{key}="):
        check_config(config)


def test_unknown_keys_suggest_the_closest(make_config):
    with pytest.raises(ConfigError, match="Did you mean optimizer.lr_ratio"):
        make_config("+optimizer.lr_ration=3")
    config = make_config("+loss.alpah=3")
    with pytest.raises(ConfigError, match="Did you mean loss.alpha"):
        check_config(config)


def test_batch_larger_than_training_set(make_config):
    config = make_config("dataset.batch_size=100000")
    with pytest.raises(ConfigError, match=r"dataset.batch_size=100000.*larger than the training"):
        build_trainer(config)
