"""Configs of the mfsearch sweeper, registered in Hydra's ConfigStore.

``hydra/sweeper=mfsearch`` selects the sweeper; ``hydra/sweeper/sampler=<name>`` and
``hydra/sweeper/pruner=<name>`` pick an Optuna sampler and pruner. The fields are those of
``hydra-optuna-sweeper`` (same meaning), plus ``pruner``, ``enqueue``, ``paper_config`` and
``stale``.
"""

# ruff: noqa: UP006, UP007, UP035, UP045
# No `from __future__ import annotations` here: Hydra runs this module before it is in
# sys.modules, where dataclasses cannot resolve string annotations, and OmegaConf needs
# typing-module annotations (Optional, Dict, List).
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

_PROVIDER = "mfsearch_sweeper"


# -- samplers ------------------------------------------------------------------------------
@dataclass
class TPESamplerConf:
    """optuna.samplers.TPESampler (the default)."""

    _target_: str = "optuna.samplers.TPESampler"
    seed: Optional[int] = None
    n_startup_trials: int = 10
    n_ei_candidates: int = 24
    multivariate: Optional[bool] = None
    group: bool = False
    constant_liar: bool = True
    consider_prior: Optional[bool] = None
    prior_weight: Optional[float] = None
    consider_magic_clip: Optional[bool] = None
    consider_endpoints: Optional[bool] = None
    warn_independent_sampling: Optional[bool] = None


@dataclass
class RandomSamplerConf:
    """optuna.samplers.RandomSampler."""

    _target_: str = "optuna.samplers.RandomSampler"
    seed: Optional[int] = None


@dataclass
class CmaEsSamplerConf:
    """optuna.samplers.CmaEsSampler (continuous params; others are sampled at random)."""

    _target_: str = "optuna.samplers.CmaEsSampler"
    seed: Optional[int] = None
    sigma0: Optional[float] = None
    n_startup_trials: int = 1
    restart_strategy: Optional[str] = None
    popsize: Optional[int] = None
    use_separable_cma: bool = False
    with_margin: bool = False
    lr_adapt: bool = False
    consider_pruned_trials: bool = False
    warn_independent_sampling: bool = True


@dataclass
class QMCSamplerConf:
    """optuna.samplers.QMCSampler (quasi-Monte Carlo)."""

    _target_: str = "optuna.samplers.QMCSampler"
    seed: Optional[int] = None
    qmc_type: str = "sobol"
    scramble: bool = False
    warn_independent_sampling: bool = True


@dataclass
class GPSamplerConf:
    """optuna.samplers.GPSampler (Gaussian-process Bayesian optimisation)."""

    _target_: str = "optuna.samplers.GPSampler"
    seed: Optional[int] = None
    n_startup_trials: int = 10
    deterministic_objective: bool = False
    warn_independent_sampling: bool = True


@dataclass
class GridSamplerConf:
    """optuna.samplers.GridSampler; ``search_space: null`` takes the grid from ``params``."""

    _target_: str = "optuna.samplers.GridSampler"
    search_space: Optional[Dict[str, Any]] = None
    seed: Optional[int] = None


# -- pruners -------------------------------------------------------------------------------
@dataclass
class MedianPrunerConf:
    """optuna.pruners.MedianPruner."""

    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class PercentilePrunerConf(MedianPrunerConf):
    """optuna.pruners.PercentilePruner (the median pruner's settings plus ``percentile``)."""

    _target_: str = "optuna.pruners.PercentilePruner"
    percentile: float = 25.0


@dataclass
class SuccessiveHalvingPrunerConf:
    """optuna.pruners.SuccessiveHalvingPruner (asynchronous successive halving)."""

    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = "auto"
    reduction_factor: int = 4
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0


@dataclass
class HyperbandPrunerConf:
    """optuna.pruners.HyperbandPruner; resources are epochs (up to ``trainer.max_epochs``)."""

    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1
    max_resource: Any = "${oc.select:trainer.max_epochs,auto}"
    reduction_factor: int = 3
    bootstrap_count: int = 0


@dataclass
class PatientPrunerConf:
    """optuna.pruners.PatientPruner wrapping another pruner (median by default)."""

    _target_: str = "optuna.pruners.PatientPruner"
    wrapped_pruner: Any = field(
        default_factory=lambda: {"_target_": "optuna.pruners.MedianPruner"})
    patience: int = 3
    min_delta: float = 0.0


@dataclass
class ThresholdPrunerConf:
    """optuna.pruners.ThresholdPruner: stops trials whose metric leaves [lower, upper]."""

    _target_: str = "optuna.pruners.ThresholdPruner"
    lower: Optional[float] = 0.0
    upper: Optional[float] = None
    n_warmup_steps: int = 0
    interval_steps: int = 1


@dataclass
class NopPrunerConf:
    """optuna.pruners.NopPruner: never prunes."""

    _target_: str = "optuna.pruners.NopPruner"


# -- the sweeper ---------------------------------------------------------------------------
@dataclass
class StaleTrialConf:
    """How trials abandoned by a dead job or sweeper are detected and retried.

    Heartbeats need an RDB storage (SQLite, PostgreSQL, ...); Optuna's journal storage has none.

    Attributes:
        heartbeat_interval: Seconds between a running trial's heartbeats; null: no heartbeats,
            one worker per study, and every RUNNING trial found when a sweeper starts counts as
            interrupted.
        grace_period: Seconds without a heartbeat after which a trial is stale (null: twice
            the interval).
        max_retry: How many times a stale or interrupted trial is re-run with the same params
            (resuming from its ``last.pt``).
    """

    heartbeat_interval: Optional[int] = 10
    grace_period: Optional[int] = None
    max_retry: int = 3


@dataclass
class MfsearchSweeperConf:
    """The mfsearch sweeper (``hydra/sweeper=mfsearch``).

    Attributes:
        sampler: Optuna sampler config (group ``hydra/sweeper/sampler``).
        pruner: Optuna pruner config (group ``hydra/sweeper/pruner``).
        direction: ``maximize`` (right for ``val/map_at_r``) or ``minimize``.
        storage: Storage URL; null means ``sqlite:///studies/mfsearch.db``. ``journal:///path``
            selects a journal file; any SQLAlchemy URL works.
        study_name: Null means ``<dataset>-<loss>-<model>``.
        n_trials: Total finished trials (COMPLETE, PRUNED, FAIL) the study should reach; a
            re-run tops it up.
        n_jobs: Trials launched together per batch (the launcher may run them in parallel).
        max_failure_rate: Stop the sweep when the fraction of FAIL among the trials this sweep
            ran exceeds it (PRUNED trials are not failures).
        params: Param key -> Hydra sweep expression (``interval``, ``range``, ``choice``,
            ``tag(log, ...)``) or fixed value.
        custom_search_space: Dotted path to a ``(cfg, trial) -> None`` function suggesting more.
        enqueue: Param sets to try first, in order.
        paper_config: The published setting, enqueued before ``enqueue`` and flagged with the
            trial user attr ``paper_config``; keys not searched are ignored.
        stale: Stale-trial settings.
        allow_space_change: Continue an existing study whose stored search space differs from
            ``params`` (otherwise an error lists the differences).
    """

    _target_: str = "hydra_plugins.mfsearch_sweeper.mfsearch_sweeper.MfsearchSweeper"
    # Sampler and pruner arrive as configs: the sweeper builds them with clear errors.
    _recursive_: bool = False
    defaults: List[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "nop"}])
    sampler: Any = MISSING
    pruner: Any = MISSING
    direction: Any = "maximize"
    storage: Any = None
    study_name: Optional[str] = None
    n_trials: int = 20
    n_jobs: int = 1
    max_failure_rate: float = 0.5
    params: Optional[Dict[str, Any]] = None
    custom_search_space: Optional[str] = None
    enqueue: List[Any] = field(default_factory=list)
    paper_config: Dict[str, Any] = field(default_factory=dict)
    stale: StaleTrialConf = field(default_factory=StaleTrialConf)
    allow_space_change: bool = False


SAMPLERS: dict[str, type] = {
    "tpe": TPESamplerConf,
    "random": RandomSamplerConf,
    "cmaes": CmaEsSamplerConf,
    "qmc": QMCSamplerConf,
    "gp": GPSamplerConf,
    "grid": GridSamplerConf,
}
PRUNERS: dict[str, type] = {
    "median": MedianPrunerConf,
    "percentile": PercentilePrunerConf,
    "successive_halving": SuccessiveHalvingPrunerConf,
    "hyperband": HyperbandPrunerConf,
    "patient": PatientPrunerConf,
    "threshold": ThresholdPrunerConf,
    "nop": NopPrunerConf,
}

_store = ConfigStore.instance()
_store.store(group="hydra/sweeper", name="mfsearch", node=MfsearchSweeperConf, provider=_PROVIDER)
for _name, _node in SAMPLERS.items():
    _store.store(group="hydra/sweeper/sampler", name=_name, node=_node, provider=_PROVIDER)
for _name, _node in PRUNERS.items():
    _store.store(group="hydra/sweeper/pruner", name=_name, node=_node, provider=_PROVIDER)
