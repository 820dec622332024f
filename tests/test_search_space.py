"""Search spaces: sweep expressions -> Optuna distributions, param values -> overrides."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from mfsearch.search import (
    SearchSpaceError,
    check_keys,
    check_params,
    format_value,
    grid_of,
    parse_search_space,
)
from tests.conftest import CONF_DIR, compose_train
from tests.sweep_helpers import compose_with_hydra


@pytest.mark.parametrize("expression,expected", [
    ("interval(0.1, 0.9)", FloatDistribution(0.1, 0.9)),
    ("interval(1, 5)", FloatDistribution(1.0, 5.0)),
    ("int(interval(1, 5))", IntDistribution(1, 5)),
    ("tag(log, interval(1e-4, 1e-2))", FloatDistribution(1e-4, 1e-2, log=True)),
    ("tag(log, int(interval(1, 64)))", IntDistribution(1, 64, log=True)),
    ("range(1, 10)", IntDistribution(1, 9)),
    ("range(1, 10, 2)", IntDistribution(1, 9, step=2)),
    ("range(10, 1, -3)", IntDistribution(4, 10, step=3)),
    ("range(0.5, 1.0, 0.1)", FloatDistribution(0.5, 0.9, step=0.1)),
    ("range(-5.5, 5.5, step=0.5)", FloatDistribution(-5.5, 5.0, step=0.5)),
    ("shuffle(range(1, 4))", CategoricalDistribution([1, 2, 3])),
    ("choice(0.0, 1e-3, 1e-2)", CategoricalDistribution([0.0, 1e-3, 1e-2])),
    ("choice(adamw, sgd)", CategoricalDistribution(["adamw", "sgd"])),
    ("1e-3,1e-2", CategoricalDistribution([1e-3, 1e-2])),
    ("choice(true, false)", CategoricalDistribution([True, False])),
])
def test_expression_to_distribution(expression, expected):
    space = parse_search_space({"loss.alpha": expression})
    assert space.distributions == {"loss.alpha": expected}
    assert space.expressions == {"loss.alpha": expression}
    assert space.fixed == []


def test_fixed_values_and_command_line_precedence():
    space = parse_search_space(
        {"loss.alpha": "interval(0.1, 0.2)", "loss.beta": "interval(1, 2)", "seed": 3},
        ["loss.alpha=0.5", "loss.beta=choice(1, 2)", "trainer.max_epochs=2"])
    assert space.distributions == {"loss.beta": CategoricalDistribution([1, 2])}
    assert sorted(space.fixed) == ["loss.alpha=0.5", "seed=3", "trainer.max_epochs=2"]


@pytest.mark.parametrize("expression,message", [
    ("interval(0.9, 0.1)", "low bound 0.9 is greater than its high bound 0.1"),
    ("tag(log, interval(0, 1))", "log scale needs a low bound > 0"),
    ("tag(log, interval(-1.0, 1.0))", "log scale needs a low bound > 0"),
    ("range(5, 1)", "range is empty"),
    ("tag(log, range(0.1, 1.0, 0.1))", "cannot be on a log scale"),
])
def test_bad_expressions(expression, message):
    with pytest.raises(SearchSpaceError, match=rf"loss\.alpha=.*{message}"):
        parse_search_space({"loss.alpha": expression})


@pytest.mark.parametrize("value", [
    0.0, 1e-5, 0.1 + 0.2, 80.0, -3.5, 7, 0, -2, True, False, None, "adamw", "a b",
    "it's", "1.5", "true", "x=y", "sqlite:////tmp/studies/a.db", math.inf,
])
def test_format_value_round_trips_through_hydra(value):
    parsed = OverridesParser.create().parse_overrides([f"k={format_value(value)}"])[0].value()
    assert parsed == value and type(parsed) is type(value)


def test_unknown_key_names_the_closest():
    cfg = compose_train([])
    check_keys(cfg, ["loss.alpha", "optimizer.lr", "dataset", "+loss.new_key"])
    with pytest.raises(SearchSpaceError, match=r"'loss\.alhpa'.*closest valid key is "
                                               r"'loss\.alpha'"):
        check_keys(cfg, ["loss.alhpa"])
    with pytest.raises(SearchSpaceError, match=r"'optimizer\.lr_ration'.*'optimizer\.lr_ratio'"):
        check_keys(cfg, ["optimizer.lr_ration"])


def test_enqueued_params_must_lie_in_the_space():
    space = parse_search_space({"loss.alpha": "interval(0.1, 0.2)",
                                "loss.mf_reg": "choice(0.0, 0.1)"})
    check_params(space, {"loss.alpha": 0.15, "loss.mf_reg": 0.0}, "enqueue[0]")
    with pytest.raises(SearchSpaceError, match=r"enqueue\[0\] sets loss.alpha=0.5, outside"):
        check_params(space, {"loss.alpha": 0.5}, "enqueue[0]")
    with pytest.raises(SearchSpaceError, match=r"not a searched param. Did you mean "
                                               r"'loss.mf_reg'"):
        check_params(space, {"loss.mf_rg": 0.1}, "enqueue[0]")


def test_grid_of_discrete_space():
    space = parse_search_space({"a": "choice(x, y)", "b": "range(1, 7, 2)",
                                "c": "range(0.5, 1.0, 0.25)"})
    assert grid_of(space) == {"a": ["x", "y"], "b": [1, 3, 5], "c": [0.5, 0.75]}
    with pytest.raises(SearchSpaceError, match="continuous"):
        grid_of(parse_search_space({"a": "interval(0, 1)"}))


def _has_dataset(name: str) -> bool:
    return (CONF_DIR / "dataset" / f"{name}.yaml").exists()


@pytest.mark.parametrize("path", sorted((CONF_DIR / "search").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_dataset_search_spaces(path: Path):
    if not _has_dataset(path.stem):
        pytest.skip(f"conf/dataset/{path.stem}.yaml is not on this branch yet")
    cfg = compose_with_hydra([f"search={path.stem}"])
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("MfsearchSweeper")
    assert sweeper.pruner._target_ == "optuna.pruners.HyperbandPruner"
    space = parse_search_space(dict(sweeper.params))
    wanted = {"loss.alpha", "loss.beta", "loss.mrg", "loss.mf_reg", "optimizer.lr",
              "optimizer.lr_ratio", "scheduler.step_size", "scheduler.gamma"}
    assert wanted <= set(space.distributions)
    assert space.distributions["loss.mf_reg"].choices[0] == 0.0
    check_keys(cfg, space.distributions)
    assert set(sweeper.paper_config) == set(space.distributions)
    check_params(space, dict(sweeper.paper_config), "paper_config")
    assert cfg.dataset.name == path.stem


@pytest.mark.parametrize("loss", ["mf_cwms", "mf_contrastive", "proxy_anchor",
                                  "multi_similarity"])
def test_loss_search_spaces(loss):
    from mfsearch.losses import LOSSES

    if loss not in LOSSES or not (CONF_DIR / "loss" / f"{loss}.yaml").exists():
        pytest.skip(f"loss {loss!r} is not registered on this branch yet")
    cfg = compose_with_hydra(["search=digits", f"loss={loss}", f"search/loss={loss}"])
    space = parse_search_space(dict(cfg.hydra.sweeper.params))
    check_keys(cfg, space.distributions)
    check_params(space, dict(cfg.hydra.sweeper.paper_config), "paper_config")
    loss_keys = {k for k in space.distributions if k.startswith("loss.")}
    assert loss_keys and loss_keys == {k for k in cfg.hydra.sweeper.paper_config
                                       if k.startswith("loss.")}
    # The published loss setting is the loss config's own default.
    for key in loss_keys:
        assert cfg.hydra.sweeper.paper_config[key] == pytest.approx(cfg.loss[key.split(".")[1]])


def test_ask_next_enqueued_first_then_custom_search_space():
    import optuna

    from mfsearch.search import StudySpec, ask_next, open_study, trial_overrides

    space = parse_search_space({"loss.alpha": "interval(0.01, 0.1)"})

    def custom(cfg, trial):  # hydra-optuna-sweeper's define-by-run hook
        trial.suggest_float("+w", 0.0, 1.0)
        trial.suggest_float("loss.beta", trial.params["loss.alpha"] * 1000, 200.0)

    spec = StudySpec(name="s", storage="sqlite:///:memory:",
                     sampler=optuna.samplers.RandomSampler(seed=0),
                     enqueue=[({"loss.alpha": 0.05}, {"paper_config": True})])
    study = open_study(spec)
    first = ask_next(study, space, custom, config=None)
    assert first.params["loss.alpha"] == 0.05
    assert first.user_attrs["paper_config"] is True
    assert 50.0 <= first.params["loss.beta"] <= 200.0
    params, job = trial_overrides(first, "sqlite:////x.db", "s", ["seed=2"])
    assert params == [f"+w={first.params['+w']!r}", "loss.alpha=0.05",
                      f"loss.beta={first.params['loss.beta']!r}"]
    assert job == ["seed=2", *params, "trial.storage='sqlite:////x.db'", "trial.study_name=s",
                   f"trial.trial_id={first._trial_id}", "trial.number=0"]
    second = ask_next(study, space, custom, config=None)
    assert "paper_config" not in second.user_attrs and second.number == 1
