"""The sweeper's logic: check everything, then loop ask -> launch -> tell until the budget is met.

The loop (one small function per step, so that other sweepers can reuse them)::

    plan = prepare(arguments)        # every bad input raises here, before any trial
    study = open_study(plan.study)   # create or load; record attrs; enqueue first trials
    while count_finished(study) < n_trials:
        fail_stale(study)            # stale trials (old heartbeat) -> FAIL + retry enqueued
        (wait while the others' running trials would fill the budget)
        trials = [ask_next(...)]     # up to n_jobs at a time, enqueued ones (retries) first
        results = launch(trials)     # params + trial identity; heartbeats meanwhile
        tell(...) for each result    # COMPLETE / PRUNED / FAIL

Many such loops (workers, see :mod:`mfsearch.search._workers`) may share one study.

The protocol with the jobs is described in :mod:`mfsearch.search._protocol`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus, configure_log
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from optuna.trial import TrialState

import mfsearch
from mfsearch.config import config_to_dict, load_config
from mfsearch.search import (
    INTERRUPTED_REASON,
    Heartbeat,
    Outcome,
    SearchSpace,
    StudySpec,
    ask_next,
    build_pruner,
    check_keys,
    check_params,
    check_stop,
    check_sweepable,
    count_finished,
    count_states,
    defer_signals,
    enqueue_entries,
    fail_stale,
    grid_of,
    heartbeat,
    heartbeat_enabled,
    hide_password,
    job_outcome,
    open_study,
    parse_overrides,
    parse_search_space,
    resolve_storage_url,
    retry_trial,
    stop_on_signals,
    stop_requested,
    tell,
    trial_overrides,
    worker_index,
)

log = logging.getLogger(__name__)

RESULTS_FILE = "optimization_results.yaml"


@dataclass
class SweepPlan:
    """A checked sweep: the study to open, its space, budget and per-trial overrides."""

    study: StudySpec
    space: SearchSpace
    n_trials: int
    n_jobs: int
    max_failure_rate: float
    custom: Callable[[Any, optuna.Trial], Any] | None = None
    stale: dict[str, Any] = field(default_factory=dict)


def _direction(value: Any) -> str:
    values = list(value) if isinstance(value, (list, tuple)) or OmegaConf.is_list(value) \
        else [value]
    if len(values) != 1:
        raise ValueError(f"hydra.sweeper.direction={values!r} is invalid: mfsearch studies have "
                         "one objective; give maximize or minimize.")
    name = str(getattr(values[0], "name", values[0])).lower()
    if name not in ("maximize", "minimize"):
        raise ValueError(f"hydra.sweeper.direction={values[0]!r} is invalid: it must be "
                         "maximize or minimize.")
    return name


def _build(kind: str, spec: Any, **kwargs: Any) -> Any:
    try:
        return instantiate(spec, **kwargs)
    except Exception as exc:
        target = spec.get("_target_") if hasattr(spec, "get") else spec
        raise ValueError(f"hydra.sweeper.{kind} cannot be built from _target_={target!r}: "
                         f"{exc}. Pick one of the hydra/sweeper/{kind} options.") from None


def _remove_key(data: dict[str, Any], dotted: str) -> None:
    *parents, last = dotted.lstrip("+").split(".")
    node: Any = data
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(last, None)


class SweeperImpl:
    """Implements :class:`~hydra_plugins.mfsearch_sweeper.mfsearch_sweeper.MfsearchSweeper`."""

    def __init__(self, sampler: Any, pruner: Any, direction: Any = "maximize",
                 storage: Any = None, study_name: str | None = None, n_trials: int = 20,
                 n_jobs: int = 1, max_failure_rate: float = 0.5,
                 params: Any = None, custom_search_space: str | None = None,
                 enqueue: Any = (), paper_config: Any = None, stale: Any = None,
                 allow_space_change: bool = False) -> None:
        self.sampler_cfg = sampler
        self.pruner_cfg = pruner
        self.direction = direction
        self.storage = storage
        self.study_name = study_name
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.max_failure_rate = max_failure_rate
        self.params = params
        self.custom_search_space = custom_search_space
        self.enqueue = enqueue or []
        self.paper_config = paper_config
        self.stale = stale
        self.allow_space_change = allow_space_change
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Launcher | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        """Keeps the composed config and builds the launcher."""
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    # -- checks ---------------------------------------------------------------------------
    def _check_budget(self) -> None:
        if not isinstance(self.n_trials, int) or self.n_trials < 1:
            raise ValueError(f"hydra.sweeper.n_trials must be at least 1, but got "
                             f"{self.n_trials=}")
        if not isinstance(self.n_jobs, int) or self.n_jobs < 1:
            raise ValueError(f"hydra.sweeper.n_jobs must be at least 1, but got {self.n_jobs=}")
        if not 0.0 <= float(self.max_failure_rate) <= 1.0:
            raise ValueError(f"hydra.sweeper.max_failure_rate must lie in [0, 1], but got "
                             f"{self.max_failure_rate=}")

    def _base_config(self, space: SearchSpace) -> tuple[Any, dict[str, Any]]:
        """Validates the composed task config; returns it and its plain form minus searched keys."""
        assert self.config is not None
        task = OmegaConf.masked_copy(self.config, [k for k in self.config if k != "hydra"])
        with open_dict(task):
            task.run_dir = "(per trial)"
        config = load_config(task)
        check_sweepable(config)
        from mfsearch.training import check_config

        check_config(config)
        plain = config_to_dict(config)
        for key in ("run_dir", "trial"):
            plain.pop(key, None)
        for key in space.distributions:
            _remove_key(plain, key)
        return config, plain

    def _custom(self) -> Callable[[Any, optuna.Trial], Any] | None:
        if not self.custom_search_space:
            return None
        try:
            return get_method(self.custom_search_space)
        except Exception as exc:
            raise ValueError(f"hydra.sweeper.custom_search_space={self.custom_search_space!r} "
                             f"is not an importable function: {exc}") from None

    def prepare(self, arguments: Sequence[str]) -> SweepPlan:
        """Checks every setting and builds the plan; raises before any trial on bad input."""
        assert self.config is not None
        self._check_budget()
        direction = _direction(self.direction)
        params = OmegaConf.to_container(self.params, resolve=True) \
            if OmegaConf.is_config(self.params) else dict(self.params or {})
        space = parse_search_space(params, arguments)
        param_keys = [o.get_key_element() for o in parse_overrides(
            [f"{k}={v}" for k, v in params.items()])]
        check_keys(self.config, [*space.distributions, *param_keys])
        config, base = self._base_config(space)

        paper = dict(self.paper_config or {})
        unsearched = [k for k in paper if k not in space.distributions]
        if unsearched:
            log.info("paper_config: %s not searched in this sweep; left out", unsearched)
            paper = {k: v for k, v in paper.items() if k in space.distributions}
        check_params(space, paper, "hydra.sweeper.paper_config")
        extra = [dict(e) for e in self.enqueue]
        for i, entry in enumerate(extra):
            check_params(space, entry, f"hydra.sweeper.enqueue[{i}]")

        sampler_kwargs = {}
        if "search_space" in self.sampler_cfg and self.sampler_cfg.search_space is None:
            sampler_kwargs["search_space"] = grid_of(space)
        sampler = _build("sampler", self.sampler_cfg, **sampler_kwargs)
        if not isinstance(sampler, optuna.samplers.BaseSampler):
            raise ValueError(f"hydra.sweeper.sampler built a {type(sampler).__name__}, not an "
                             "Optuna sampler.")
        pruner_spec = OmegaConf.to_container(self.pruner_cfg, resolve=True)
        assert isinstance(pruner_spec, dict)
        try:
            build_pruner(pruner_spec)
        except Exception as exc:
            raise ValueError(f"hydra.sweeper.pruner cannot be built from {pruner_spec}: "
                             f"{exc}. Pick one of the hydra/sweeper/pruner options.") from None

        storage = resolve_storage_url(self.storage)
        name = self.study_name or f"{config.dataset.name}-{config.loss.name}-{config.model.name}"
        attrs = {
            "dataset": config.dataset.name,
            "loss": config.loss.name,
            "model": config.model.name,
            "optimized_metric": config.optimized_metric,
            "direction": direction,
            "base_config": base,
            "search_space": dict(space.expressions),
            "mfsearch_version": mfsearch.__version__,
        }
        stale = OmegaConf.to_container(self.stale, resolve=True) \
            if OmegaConf.is_config(self.stale) else dict(self.stale or {})
        beat = None
        if stale.get("heartbeat_interval") is not None:
            beat = Heartbeat(interval=int(stale["heartbeat_interval"]),
                             grace_period=stale.get("grace_period"),
                             max_retry=int(stale.get("max_retry") or 0))
        study = StudySpec(name=name, storage=storage, direction=direction, sampler=sampler,
                          pruner=pruner_spec, heartbeat=beat, attrs=attrs,
                          enqueue=enqueue_entries(paper, extra),
                          allow_space_change=bool(self.allow_space_change),
                          enqueues=worker_index() in (None, 0))
        return SweepPlan(study=study, space=space, n_trials=self.n_trials, n_jobs=self.n_jobs,
                         max_failure_rate=float(self.max_failure_rate),
                         custom=self._custom(), stale=stale)

    # -- the loop -------------------------------------------------------------------------
    def launch(self, study: optuna.Study, plan: SweepPlan,
               trials: Sequence[optuna.Trial]) -> list[Outcome]:
        """Launches one job per trial and returns each trial's outcome (not yet told)."""
        assert self.launcher is not None
        jobs = []
        for trial in trials:
            params, job = trial_overrides(trial, plan.study.storage, plan.study.name,
                                          plan.space.fixed)
            log.info("\t#%d : %s", trial.number, " ".join(params))
            jobs.append(job)
        try:
            with heartbeat(study._storage, [t._trial_id for t in trials]):
                returns: Sequence[JobReturn] = self.launcher.launch(
                    jobs, initial_job_idx=trials[0].number)
        except Exception as exc:  # e.g. a param value that does not compose
            reason = f"the job could not be launched: {type(exc).__name__}: {exc}"
            return [Outcome(TrialState.FAIL, reason=reason) for _ in trials]
        outcomes = []
        for trial, ret in zip(trials, returns, strict=True):
            succeeded = ret.status == JobStatus.COMPLETED
            attrs = study._storage.get_trial_user_attrs(trial._trial_id)
            outcomes.append(job_outcome(succeeded, ret._return_value, attrs))
        return outcomes

    def _report(self, study: optuna.Study, plan: SweepPlan, sweep_dir: Path) -> Any:
        assert self.config is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        where = f"study {plan.study.name!r} in {hide_password(plan.study.storage)}"
        states = {s.name: len(study.get_trials(deepcopy=False, states=(s,)))
                  for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
        log.info("Finished trials: %s", ", ".join(f"{k} {v}" for k, v in states.items()))
        try:
            best = study.best_trial
        except ValueError:
            log.warning("No trial completed; %s", where)
            return None
        log.info("Best trial: #%d, %s=%.4f", best.number,
                 plan.study.attrs["optimized_metric"], best.value)
        log.info("Best parameters: %s", best.params)
        log.info("Study stored as %s", where)
        results = {"name": "mfsearch", "study_name": plan.study.name,
                   "storage": hide_password(plan.study.storage), "best_trial": best.number,
                   "best_value": best.value, "best_params": best.params}
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.create(results), sweep_dir / RESULTS_FILE)
        return best

    def sweep(self, arguments: list[str]) -> Any:
        """Runs the study until it holds ``n_trials`` finished trials; returns the best one."""
        assert self.config is not None
        plan = self.prepare(arguments)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        study = open_study(plan.study)
        beat = plan.study.heartbeat if heartbeat_enabled(study) else None
        if plan.study.heartbeat is not None and beat is None:
            log.warning("%s has no heartbeats: trials of workers that die stay RUNNING",
                        hide_password(plan.study.storage))
        # Without heartbeats a RUNNING trial at start was left by a dead sweep, unless other
        # workers share the study.
        fail_stale(study, legacy=plan.study.heartbeat is None and worker_index() is None)
        log.info("Study %r in %s: %d of %d trials finished; sampler %s, pruner %s",
                 plan.study.name, hide_password(plan.study.storage), count_finished(study),
                 plan.n_trials, type(plan.study.sampler).__name__,
                 type(build_pruner(plan.study.pruner)).__name__)
        outcomes: list[Outcome] = []
        with stop_on_signals():
            while (remaining := plan.n_trials - count_finished(study)) > 0:
                check_stop()
                if beat is not None:
                    with defer_signals():
                        fail_stale(study)
                    remaining = plan.n_trials - count_finished(study)
                    # Others' running trials fill the budget: wait for them to end (or go
                    # stale and be retried) rather than overshoot n_trials.
                    if remaining <= count_states(study, TrialState.RUNNING) \
                            and not count_states(study, TrialState.WAITING):
                        time.sleep(min(beat.interval, 5))
                        continue
                # A signal while asking must not leave a trial RUNNING that nobody runs.
                with defer_signals():
                    trials = [ask_next(study, plan.space, plan.custom, self.config)
                              for _ in range(max(1, min(plan.n_jobs, remaining)))]
                outcomes += self._run_batch(study, plan, trials)
                self._check_failure_rate(outcomes, plan.max_failure_rate)
        return self._report(study, plan, sweep_dir)

    def _run_batch(self, study: optuna.Study, plan: SweepPlan,
                   trials: Sequence[optuna.Trial]) -> list[Outcome]:
        """Launches and tells one batch; on Ctrl-C/SIGTERM fails it as interrupted (retried).

        Only the jobs are interruptible; telling the study is done with signals deferred.
        """
        try:
            check_stop()  # a signal that came while the trials were asked
            results = self.launch(study, plan, trials)
        except BaseException:  # leave no trial RUNNING behind
            with defer_signals():
                for trial in trials:
                    self._interrupted(study, trial)
            raise
        with defer_signals():
            # A signal whose KeyboardInterrupt a library swallowed: its job came back failed.
            stopped = stop_requested()
            for trial, outcome in zip(trials, results, strict=True):
                if stopped and outcome.state == TrialState.FAIL:
                    self._interrupted(study, trial)
                    continue
                tell(study, trial, outcome)
                if outcome.state == TrialState.FAIL:
                    log.warning("trial #%d failed: %s", trial.number, outcome.reason)
        check_stop()
        return results

    @staticmethod
    def _interrupted(study: optuna.Study, trial: optuna.Trial) -> None:
        """Fails ``trial`` as interrupted and enqueues its retry."""
        tell(study, trial, Outcome(TrialState.FAIL, reason=INTERRUPTED_REASON))
        retry_trial(study, trial.number)

    @staticmethod
    def _check_failure_rate(outcomes: Sequence[Outcome], limit: float) -> None:
        failed = sum(o.state == TrialState.FAIL for o in outcomes)
        if outcomes and failed / len(outcomes) > limit:
            raise RuntimeError(
                f"{failed} of the {len(outcomes)} trials of this sweep failed, more than "
                f"hydra.sweeper.max_failure_rate={limit}; see the trials' fail_reason. Last: "
                f"{next(o.reason for o in reversed(outcomes) if o.state == TrialState.FAIL)}")


__all__ = ["SweepPlan", "SweeperImpl"]
