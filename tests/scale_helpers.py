"""Sweeper worker processes for the scale-out tests and the fault drill (``make chaos``)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from mfsearch.search import (
    FAIL_REASON_ATTR,
    RESUMED_FROM_ATTR,
    RETRY_OF_ATTR,
    WORKER_ATTR,
    count_finished,
    open_storage,
    superseded,
)

REPO = Path(__file__).resolve().parents[1]
#: A seconds-long digits trial with a one-parameter space; heartbeats every second.
WORKER_ARGS = ["hydra/sweeper=mfsearch", "hydra/sweeper/pruner=nop", "trainer.progress=false",
               "trainer.max_epochs=1", "trainer.patience=1", "eval.batch_size=512",
               "loss.alpha=interval(0.005, 0.02)", "hydra.sweeper.stale.heartbeat_interval=1",
               "hydra.sweeper.stale.grace_period=3", "hydra.sweeper.max_failure_rate=1.0",
               "hydra.sweeper.sampler.n_startup_trials=100"]


def worker_args(tmp_path: Path, storage: str, study: str, n_trials: int, *extra: str,
                tag: str = "w") -> list[str]:
    """Hydra overrides of one worker (its own sweep dir under ``tmp_path``)."""
    return [*WORKER_ARGS, f"hydra.sweeper.storage={storage}", f"hydra.sweeper.study_name={study}",
            f"hydra.sweeper.n_trials={n_trials}", f"hydra.sweep.dir={tmp_path / 'multirun' / tag}",
            *extra]


def start_worker(args: Sequence[str], log: Path, index: int = 0,
                 workers: int | None = None) -> subprocess.Popen:
    """Starts ``python -m mfsearch.sweep [--workers N] args`` with output to ``log``."""
    env = {**os.environ, "MFSEARCH_WORKER": str(index), "HYDRA_FULL_ERROR": "1"}
    command = [sys.executable, "-m", "mfsearch.sweep", *args]
    if workers is not None:
        env.pop("MFSEARCH_WORKER")
        command[3:3] = ["--workers", str(workers)]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def load(storage: str, study: str) -> optuna.Study:
    """Loads a study without heartbeats."""
    return optuna.load_study(study_name=study, storage=open_storage(storage))


def wait_for(predicate, timeout_s: float, poll_s: float = 0.2) -> Any:
    """Polls ``predicate`` until it returns something truthy; raises after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise TimeoutError(f"gave up after {timeout_s} s")


def running_with_checkpoint(storage: str, study: str) -> optuna.trial.FrozenTrial | None:
    """A RUNNING trial whose run already wrote ``last.pt`` (a study not yet created: None)."""
    try:
        trials = load(storage, study).get_trials(states=(TrialState.RUNNING,))
    except KeyError:
        return None
    for trial in trials:
        run_dir = trial.user_attrs.get("run_dir")
        if run_dir and (Path(run_dir) / "last.pt").exists():
            return trial
    return None


def figures(storage: str, study: str) -> dict[str, Any]:
    """The drill's figures: finished, lost (failed by a crash and never retried, or left
    unfinished), retries, resumed, integrity."""
    trials = load(storage, study).get_trials()
    replaced = superseded(trials)
    crashed = [t for t in trials if t.state == TrialState.FAIL and t.number not in replaced
               and str(t.user_attrs.get(FAIL_REASON_ATTR, "")).startswith(("stale",
                                                                           "interrupted"))]
    unfinished = [t for t in trials if not t.state.is_finished()]
    return {"trials_finished": count_finished(load(storage, study)),
            "lost": len(crashed) + len(unfinished),
            "retries": sum(RETRY_OF_ATTR in t.user_attrs for t in trials),
            "resumed": sum(bool(t.user_attrs.get(RESUMED_FROM_ATTR)) for t in trials),
            "integrity": integrity(storage, trials)}


def integrity(storage: str, trials: Sequence[optuna.trial.FrozenTrial]) -> str:
    """SQLite's ``PRAGMA integrity_check``; on a server, whether trial numbers are 0..n-1."""
    if storage.startswith("sqlite:///"):
        with sqlite3.connect(storage[len("sqlite:///"):]) as connection:
            return str(connection.execute("PRAGMA integrity_check").fetchone()[0])
    numbers = sorted(t.number for t in trials)
    return "ok" if numbers == list(range(len(trials))) else f"trial numbers {numbers}"


def chaos_drill(tmp_path: Path, storage: str, study: str, *, workers: int = 3,
                n_trials: int = 10, kills: int = 10, every_s: float = 3.0, seed: int = 0,
                timeout_s: float = 420.0) -> dict[str, Any]:
    """Runs ``workers`` workers; SIGKILLs a random one every ``every_s`` s and restarts it,
    ``kills`` times; waits for the study to complete; returns the figures."""
    rng = random.Random(seed)
    args = worker_args(tmp_path, storage, study, n_trials, "trainer.max_epochs=4",
                       "trainer.patience=4", "hydra.sweeper.stale.max_retry=50")
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)

    def start(i: int) -> subprocess.Popen:
        return start_worker(args, logs / f"worker{i}.log", index=i)

    procs = [start(0)]
    wait_for(lambda: _exists(storage, study), 120)
    procs += [start(i) for i in range(1, workers)]
    done = 0
    deadline = time.monotonic() + timeout_s
    while done < kills and time.monotonic() < deadline:
        time.sleep(every_s)
        if all(p.poll() is not None for p in procs):
            break
        # A random worker among those running a trial (killing one still importing proves
        # nothing); every other kill waits for a trial that has written last.pt, so that
        # resuming is exercised too.
        saved = done % 2 == 1
        try:
            busy = wait_for(lambda saved=saved: _busy(procs, storage, study, saved), 60)
        except TimeoutError:
            try:
                busy = wait_for(lambda: _busy(procs, storage, study), 60)
            except TimeoutError:
                break
        victim = rng.choice(busy)
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait()
        done += 1
        procs[victim] = start(victim)
    for proc in procs:
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    name = "sqlite" if storage.startswith("sqlite") else storage.split(":", 1)[0]
    return {"storage": name, "kills": done, **figures(storage, study)}


def _busy(procs: Sequence[subprocess.Popen], storage: str, study: str,
          saved: bool = False) -> list[int]:
    """Indices of the live workers that hold a RUNNING trial (one with a last.pt if saved)."""
    trials = load(storage, study).get_trials(states=(TrialState.RUNNING,))
    holders = {str(t.user_attrs.get(WORKER_ATTR, "")).rpartition(":")[2] for t in trials
               if not saved or (Path(t.user_attrs.get("run_dir", "/nonexistent"))
                                / "last.pt").exists()}
    return [i for i, p in enumerate(procs) if p.poll() is None and str(p.pid) in holders]


def _exists(storage: str, study: str) -> bool:
    try:
        load(storage, study)
    except KeyError:
        return False
    return True


def print_json(line: dict[str, Any]) -> None:
    """Prints one JSON line (shown by ``make chaos``)."""
    print("\n" + json.dumps(line), flush=True)
