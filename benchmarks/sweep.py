"""Sweep benchmark: sweeper overhead per trial, and what Hyperband pruning saves.

- Overhead: per trial, the time a sweep spends outside training (sweeper, Hydra job set-up
  and config composition, study storage, per-epoch reports) over the training time of the same
  run (``overhead_fraction``), for a digits run whose epochs are calibrated to last about 30 s
  on this machine (the issue's reference trial); the sweep's Hydra start-up is included,
  spread over its trials.
- Pruning: the default digits study (``search=digits``: MF-CWMS, TPE with a fixed seed) with
  Hyperband and with no pruner, same sampler seed, run one after the other: total epochs
  trained, wall time and best validation MAP@R of each; one pair per ``--seeds`` entry
  (epochs summed, best values averaged). Then the same with the random sampler
  (``pruning_fixed_configs``), where both studies try the same configurations in the same
  order, so the difference is the pruner's alone.

Writes ``benchmarks/results/sweep.json``. Usage:
``python benchmarks/sweep.py [--trials N] [--repeats R] [--seeds S ...] [override ...]``,
e.g. ``trainer.patience=3`` to compare the two with the trainer's early stopping on.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "sweep.json"
STUDY = "bench"
OVERHEAD_ARGS = ["trainer.patience=100000", "trainer.progress=false"]
#: The issue's reference trial length: the overhead target is a fraction of a 30-second trial.
TRIAL_S = 30.0


def _study(storage: str):
    import optuna

    from mfsearch.search import open_storage

    return optuna.load_study(study_name=STUDY, storage=open_storage(storage))


def _direct_run(tmp: Path, tag: str, epochs: int) -> float:
    """Seconds of one training run of the overhead config, called without any sweep."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    import mfsearch.training
    from mfsearch.config import load_config

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[*OVERHEAD_ARGS, f"trainer.max_epochs={epochs}",
                                          f"run_dir={tmp / tag}"])
    GlobalHydra.instance().clear()
    config = load_config(cfg)
    started = time.perf_counter()
    mfsearch.training.run_training(config)
    return time.perf_counter() - started


def measure_overhead(tmp: Path, repeats: int, trial_s: float = TRIAL_S) -> dict:
    """Times the sweeper's own work per trial, against the training it wraps.

    The number of epochs is calibrated so that one training run lasts about ``trial_s``
    seconds on this machine now. Inside one sweep of ``repeats`` trials of that fixed config,
    ``run_training`` is timed, and so is the reporter (storage writes and pruner calls each
    epoch); the overhead is the sweep's wall time minus the training time, plus the reporter
    time. Measuring both in the same sweep keeps the ratio fair on a machine whose load
    changes. Direct calls of the same training run are timed too, for reference.
    """
    import mfsearch.training
    from mfsearch.search import TrialReporter
    from mfsearch.sweep import run_sweep

    _direct_run(tmp, "warm-up", 1)  # imports, faiss, caches
    probe_epochs = 5
    per_epoch = _direct_run(tmp, "probe", probe_epochs) / probe_epochs
    epochs = max(1, round(trial_s / per_epoch))
    direct = [_direct_run(tmp, f"direct{i}", epochs) for i in range(repeats)]

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
        run_sweep(["hydra/sweeper=mfsearch", *OVERHEAD_ARGS, f"trainer.max_epochs={epochs}",
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
        "epochs_per_trial": epochs,
        "trials": repeats,
        "sweep_total_s": sweep_total,
        "training_s_per_trial": train_s,
        "reporter_s_per_trial": sum(reporting) / repeats,
        "overhead_s_per_trial": overhead,
        "overhead_fraction": overhead / train_s,
        "direct_s": direct,
    }


def run_study(tmp: Path, name: str, pruner: str, trials: int, seed: int,
              extra: list[str]) -> dict:
    """The default digits study with ``pruner``; returns epochs, wall time and best value."""
    from optuna.trial import TrialState

    from mfsearch.sweep import run_sweep

    storage = f"sqlite:///{tmp / f'{name}.db'}"
    started = time.perf_counter()
    run_sweep(["search=digits", f"hydra/sweeper/pruner={pruner}",
               f"hydra.sweeper.storage={storage}", f"hydra.sweeper.study_name={STUDY}",
               f"hydra.sweeper.n_trials={trials}", f"hydra.sweeper.sampler.seed={seed}",
               f"hydra.sweep.dir={tmp / name}", *extra])
    wall = time.perf_counter() - started
    done = _study(storage).get_trials()
    states = {s.name: sum(t.state == s for t in done)
              for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    return {
        "pruner": pruner,
        "seed": seed,
        "trials": len(done),
        "states": states,
        "epochs": sum(int(t.user_attrs.get("epochs_run", 0)) for t in done),
        "wall_s": wall,
        "best": max(t.value for t in done if t.state == TrialState.COMPLETE),
    }


def study_settings(extra: list[str]) -> dict:
    """The trainer and pruner settings the compared studies ran with."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["search=digits", *extra], return_hydra_config=True)
    GlobalHydra.instance().clear()
    sweeper = cfg.hydra.sweeper
    return {"max_epochs": int(cfg.trainer.max_epochs), "patience": int(cfg.trainer.patience),
            "hyperband": {k: (int(v) if str(v).isdigit() else str(v))
                          for k, v in sweeper.pruner.items() if k != "_target_"},
            "sampler": str(sweeper.sampler._target_).rsplit(".", 1)[-1],
            "sampler_n_startup_trials": sweeper.sampler.get("n_startup_trials"),
            "overrides": extra}


def compare_pruning(tmp: Path, trials: int, seeds: list[int], extra: list[str],
                    tag: str = "") -> dict:
    """Hyperband against no pruner, one pair of studies per sampler seed (stored in
    ``tmp/<tag>hyperband<seed>.db`` and ``tmp/<tag>nop<seed>.db``)."""
    pairs = []
    for seed in seeds:
        with_pruning = run_study(tmp, f"{tag}hyperband{seed}", "hyperband", trials, seed, extra)
        without = run_study(tmp, f"{tag}nop{seed}", "nop", trials, seed, extra)
        pairs.append({"seed": seed, "with": with_pruning, "without": without})
    epochs_with = sum(p["with"]["epochs"] for p in pairs)
    epochs_without = sum(p["without"]["epochs"] for p in pairs)
    best_with = sum(p["with"]["best"] for p in pairs) / len(pairs)
    best_without = sum(p["without"]["best"] for p in pairs) / len(pairs)
    return {
        "trials": trials,
        "sampler_seeds": seeds,
        "study": study_settings(extra),
        "epochs_with": epochs_with,
        "epochs_without": epochs_without,
        "epochs_ratio": epochs_with / epochs_without,
        "best_with": best_with,
        "best_without": best_without,
        "best_difference": best_without - best_with,
        "wall_s_with": sum(p["with"]["wall_s"] for p in pairs),
        "wall_s_without": sum(p["without"]["wall_s"] for p in pairs),
        "pairs": pairs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="sampler seeds; one Hyperband/no-pruner pair of studies each")
    parser.add_argument("--workdir", default=None,
                        help="keep the studies and runs here (default: a temporary folder); "
                             "it must not hold an earlier run's studies, which would be "
                             "topped up rather than run again")
    parser.add_argument("--no-fixed-configs", action="store_true",
                        help="skip the second comparison, with the random sampler")
    parser.add_argument("overrides", nargs="*",
                        help="Hydra overrides for both studies, e.g. trainer.patience=3")
    args = parser.parse_args()
    if args.workdir and any(Path(args.workdir).glob("*.db")):
        parser.error(f"--workdir {args.workdir} already holds studies (*.db); their sweeps "
                     "would be topped up instead of run again. Give an empty folder.")
    with contextlib.ExitStack() as stack:
        tmp = Path(args.workdir) if args.workdir else Path(
            stack.enter_context(tempfile.TemporaryDirectory()))
        tmp.mkdir(parents=True, exist_ok=True)
        overhead = measure_overhead(tmp, args.repeats)
        pruning = compare_pruning(tmp, args.trials, args.seeds, args.overrides)
        # The same comparison with the random sampler: both studies then try the same
        # configurations in the same order, so the difference is the pruner's alone (TPE's
        # next point depends on what was pruned, and Optuna's Hyperband shows TPE only the
        # trials of the current trial's bracket).
        fixed = None if args.no_fixed_configs else compare_pruning(
            tmp, args.trials, args.seeds, ["hydra/sweeper/sampler=random", *args.overrides],
            tag="random-")
    seeds = " ".join(map(str, args.seeds))
    flags = ["--no-fixed-configs"] if args.no_fixed_configs else []
    result = {
        "overhead_fraction": overhead["overhead_fraction"],
        "overhead": overhead,
        "pruning": pruning,
        "pruning_fixed_configs": fixed,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average": os.getloadavg()},
        "command": " ".join(["python benchmarks/sweep.py", f"--trials {args.trials}",
                             f"--repeats {args.repeats}", f"--seeds {seeds}",
                             *flags, *args.overrides]),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    summary = {"overhead_fraction": result["overhead_fraction"]}
    for key in ("pruning", "pruning_fixed_configs"):
        if result[key] is not None:
            summary[key] = {k: v for k, v in result[key].items() if k != "pairs"}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
