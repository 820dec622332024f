"""Sweep benchmark: sweeper overhead per trial, and what Hyperband pruning saves.

- Overhead: per trial, the time a sweep spends outside training (sweeper, Hydra job set-up
  and config composition, study storage, per-epoch reports) over the training time of the same
  run (``overhead_fraction``); the first sweep's Hydra start-up is included, spread over its
  trials.
- Pruning: the default digits study (``search=digits``: MF-CWMS, TPE with a fixed seed) with
  Hyperband and with no pruner, same seed, run one after the other: total epochs trained, wall
  time and best validation MAP@R of each.

Writes ``benchmarks/results/sweep.json``. Usage: ``python benchmarks/sweep.py [--trials N]``
(the issue's figure is 30 trials; the default here is 12 to keep ``make bench`` short on two
shared CPU cores).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "sweep.json"
STUDY = "bench"
OVERHEAD_ARGS = ["trainer.max_epochs=6", "trainer.patience=100", "trainer.progress=false"]


def _study(storage: str):
    import optuna

    from mfsearch.search import open_storage

    return optuna.load_study(study_name=STUDY, storage=open_storage(storage))


def measure_overhead(tmp: Path, repeats: int) -> dict:
    """Times the sweeper's own work per trial, against the training it wraps.

    Inside one sweep of ``repeats`` trials of a fixed config, ``run_training`` is timed, and
    so is the reporter (storage writes and pruner calls each epoch); the overhead is the
    sweep's wall time minus the training time, plus the reporter time. Measuring both in the
    same sweep keeps the ratio fair on a machine whose load changes. Direct calls of the same
    training run are timed too, for reference.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    import mfsearch.training
    from mfsearch.config import load_config
    from mfsearch.search import TrialReporter
    from mfsearch.sweep import run_sweep

    direct = []
    for i in range(-1, repeats):  # run -1 warms up (imports, faiss, caches) and is dropped
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            warm_up = ["trainer.max_epochs=1"] if i < 0 else []
            cfg = compose("train", overrides=[*OVERHEAD_ARGS, *warm_up,
                                              f"run_dir={tmp / f'direct{i}'}"])
        config = load_config(cfg)
        started = time.perf_counter()
        mfsearch.training.run_training(config)
        if i >= 0:
            direct.append(time.perf_counter() - started)
    GlobalHydra.instance().clear()

    training, reporting = [], []
    real_run, real_report = mfsearch.training.run_training, TrialReporter.on_epoch_end

    def timed_run(*args, **kwargs):
        started = time.perf_counter()
        try:
            return real_run(*args, **kwargs)
        finally:
            training.append(time.perf_counter() - started)

    def timed_report(self, epoch, metrics):
        started = time.perf_counter()
        try:
            return real_report(self, epoch, metrics)
        finally:
            reporting.append(time.perf_counter() - started)

    storage = f"sqlite:///{tmp / 'overhead.db'}"
    mfsearch.training.run_training = timed_run
    TrialReporter.on_epoch_end = timed_report
    try:
        started = time.perf_counter()
        # A one-point space: every trial trains exactly the direct runs' config.
        run_sweep(["hydra/sweeper=mfsearch", *OVERHEAD_ARGS,
                   f"hydra.sweeper.storage={storage}", f"hydra.sweeper.study_name={STUDY}",
                   f"hydra.sweeper.n_trials={repeats}", "loss.alpha=choice(0.01)",
                   f"hydra.sweep.dir={tmp / 'overhead'}"])
        sweep_total = time.perf_counter() - started
    finally:
        mfsearch.training.run_training = real_run
        TrialReporter.on_epoch_end = real_report
    trials = _study(storage).get_trials()
    assert len(trials) == repeats == len(training) and all(t.value is not None for t in trials)
    overhead = (sweep_total - sum(training) + sum(reporting)) / repeats
    train_s = (sum(training) - sum(reporting)) / repeats
    return {
        "epochs_per_trial": 6,
        "sweep_total_s": sweep_total,
        "training_s_per_trial": train_s,
        "reporter_s_per_trial": sum(reporting) / repeats,
        "overhead_s_per_trial": overhead,
        "overhead_fraction": overhead / train_s,
        "overhead_fraction_of_30s_trial": overhead / 30.0,
        "direct_s": direct,
    }


def run_study(tmp: Path, name: str, pruner: str, trials: int, seed: int) -> dict:
    """The default digits study with ``pruner``; returns epochs, wall time and best value."""
    from optuna.trial import TrialState

    from mfsearch.sweep import run_sweep

    storage = f"sqlite:///{tmp / f'{name}.db'}"
    started = time.perf_counter()
    run_sweep(["search=digits", f"hydra/sweeper/pruner={pruner}",
               f"hydra.sweeper.storage={storage}", f"hydra.sweeper.study_name={STUDY}",
               f"hydra.sweeper.n_trials={trials}", f"hydra.sweeper.sampler.seed={seed}",
               f"hydra.sweep.dir={tmp / name}"])
    wall = time.perf_counter() - started
    done = _study(storage).get_trials()
    states = {s.name: sum(t.state == s for t in done)
              for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    return {
        "pruner": pruner,
        "trials": len(done),
        "states": states,
        "epochs": sum(int(t.user_attrs.get("epochs_run", 0)) for t in done),
        "wall_s": wall,
        "best": max(t.value for t in done if t.state == TrialState.COMPLETE),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        overhead = measure_overhead(tmp, args.repeats)
        with_pruning = run_study(tmp, "hyperband", "hyperband", args.trials, args.seed)
        without = run_study(tmp, "nop", "nop", args.trials, args.seed)
    result = {
        "overhead_fraction": overhead["overhead_fraction"],
        "overhead": overhead,
        "pruning": {
            "trials": args.trials,
            "sampler_seed": args.seed,
            "epochs_with": with_pruning["epochs"],
            "epochs_without": without["epochs"],
            "epochs_ratio": with_pruning["epochs"] / without["epochs"],
            "best_with": with_pruning["best"],
            "best_without": without["best"],
            "wall_s_with": with_pruning["wall_s"],
            "wall_s_without": without["wall_s"],
            "with": with_pruning,
            "without": without,
        },
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "command": f"python benchmarks/sweep.py --trials {args.trials} --repeats {args.repeats}",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("overhead_fraction",)} |
                     {"pruning": {k: v for k, v in result["pruning"].items()
                                  if k not in ("with", "without")}}, indent=2))


if __name__ == "__main__":
    main()
