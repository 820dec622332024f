"""Scale-out: many workers on one study, stale and interrupted trials, launchers, bad input."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from mfsearch.search import (
    FAIL_REASON_ATTR,
    RESUMED_FROM_ATTR,
    RETRY_OF_ATTR,
    StorageError,
    StudyMismatchError,
    gpu_for_worker,
    preflight,
    space_changes,
    worker_env,
)
from mfsearch.sweep import split_workers
from tests._postgres import free_port
from tests.scale_helpers import (
    REPO,
    load,
    running_with_checkpoint,
    start_worker,
    wait_for,
    worker_args,
)
from tests.sweep_helpers import run_sweep

STUDY = "scale"


# -- pure functions ------------------------------------------------------------------------
@pytest.mark.parametrize("count", [0, 1, 2, 3, 8])
def test_gpu_pinning_round_robin(count):
    workers = 10
    got = [gpu_for_worker(i, count) for i in range(workers)]
    # Independent reference: deal the workers out to the GPUs like cards.
    expected: list[int | None] = [None] * workers
    if count:
        gpu = 0
        for i in range(workers):
            expected[i] = gpu
            gpu = 0 if gpu == count - 1 else gpu + 1
    assert got == expected
    for i, gpu in enumerate(got):
        env = worker_env(i, count, {"PATH": "/bin"})
        assert env["MFSEARCH_WORKER"] == str(i)
        assert env.get("CUDA_VISIBLE_DEVICES") == (None if gpu is None else str(gpu))


def test_user_cuda_visible_devices_wins():
    env = worker_env(3, 2, {"CUDA_VISIBLE_DEVICES": "5,6"})
    assert env["CUDA_VISIBLE_DEVICES"] == "5,6"
    with pytest.raises(ValueError, match="index"):
        gpu_for_worker(-1, 2)


@pytest.mark.parametrize("args, expected", [
    (["a=1"], (1, ["a=1"])),
    (["--workers", "3", "a=1"], (3, ["a=1"])),
    (["a=1", "--workers=2"], (2, ["a=1"])),
])
def test_split_workers(args, expected):
    assert split_workers(args) == expected


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_workers_below_one_is_a_clear_error(value):
    proc = subprocess.run([sys.executable, "-m", "mfsearch.sweep", "--workers", value],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "WORKERS" in proc.stderr and value in proc.stderr


def test_unreachable_server_names_host_and_database_without_password():
    url = f"postgresql://alice:s3cret@127.0.0.1:{free_port()}/lab_db"
    with pytest.raises(StorageError) as info:
        preflight([f"hydra.sweeper.storage={url}"])
    message = str(info.value)
    assert "host 127.0.0.1" in message and "database lab_db" in message
    assert "s3cret" not in message


def test_bad_credentials_name_host_and_database(postgres_url):
    url = postgres_url.replace("postgres@", "nobody:wrongpw@")
    with pytest.raises(StorageError) as info:
        preflight([f"hydra.sweeper.storage={url}"])
    assert "database mfsearch" in str(info.value) and "wrongpw" not in str(info.value)


@pytest.mark.parametrize("scheme", ["sqlite", "journal"])
def test_unwritable_studies_folder(tmp_path, scheme):
    (tmp_path / "studies").write_text("a file where the folder should be")
    with pytest.raises(StorageError, match="studies"):
        preflight([f"hydra.sweeper.storage={scheme}:///{tmp_path}/studies/mfsearch.db"])


def test_space_changes_lists_each_difference():
    old = {"a": "interval(0, 1)", "b": "choice(1, 2)", "c": "range(1, 3)"}
    new = {"a": "interval(0, 2)", "b": "choice(1, 2)", "d": "interval(1, 2)"}
    assert space_changes(old, new) == [
        "a: stored 'interval(0, 1)', configured 'interval(0, 2)'",
        "c: stored 'range(1, 3)', not configured",
        "d: configured 'interval(1, 2)', not stored"]
    assert space_changes(old, dict(old)) == []


def test_changed_search_space_needs_opt_in(tmp_path, monkeypatch):
    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    base = [f"hydra.sweeper.storage={storage}", f"hydra.sweeper.study_name={STUDY}",
            "hydra.sweeper.n_trials=1"]
    run_sweep(tmp_path, monkeypatch, *base, "loss.alpha=interval(0.005, 0.02)")
    with pytest.raises(StudyMismatchError, match=r"loss\.alpha: stored 'interval"):
        run_sweep(tmp_path, monkeypatch, *base, "loss.alpha=interval(0.01, 0.03)")
    run_sweep(tmp_path, monkeypatch, *base, "hydra.sweeper.n_trials=2",
              "loss.alpha=interval(0.01, 0.03)", "hydra.sweeper.allow_space_change=true")
    assert len(load(storage, STUDY).get_trials(states=(TrialState.COMPLETE,))) == 2


def test_slurm_example_config_composes():
    from tests.sweep_helpers import compose_with_hydra

    cfg = compose_with_hydra(["hydra/sweeper=mfsearch", "hydra/launcher=slurm"])
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert cfg.hydra.launcher.gpus_per_node == 1


# -- many workers ----------------------------------------------------------------------------
def _check_totals(storage: str, n_trials: int, workers: int) -> list[optuna.trial.FrozenTrial]:
    trials = load(storage, STUDY).get_trials()
    numbers = Counter(t.number for t in trials)
    assert all(c == 1 for c in numbers.values())
    assert sorted(numbers) == list(range(len(trials)))
    assert [t.number for t in trials if not t.state.is_finished()] == []
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED,
                                                 TrialState.FAIL)]
    assert n_trials <= len(finished) <= n_trials + workers - 1
    return trials


@pytest.mark.slow
@pytest.mark.parametrize("scheme, workers, n_trials", [
    ("sqlite", 2, 6), ("sqlite", 4, 40), ("journal", 2, 6), ("journal", 4, 8)])
def test_local_workers_share_one_study(tmp_path, scheme, workers, n_trials):
    storage = f"{scheme}:///{tmp_path / 'studies' / 'mfsearch.db'}"
    args = worker_args(tmp_path, storage, STUDY, n_trials)
    proc = start_worker(args, tmp_path / "workers.log", workers=workers)
    assert proc.wait(timeout=900) == 0, (tmp_path / "workers.log").read_text()[-3000:]
    trials = _check_totals(storage, n_trials, workers)
    assert all(t.state == TrialState.COMPLETE for t in trials), \
        [t.user_attrs.get(FAIL_REASON_ATTR) for t in trials]
    log = (tmp_path / "workers.log").read_text()
    assert "database is locked" not in log


@pytest.mark.slow
def test_workers_on_postgresql(tmp_path, postgres_url):
    args = worker_args(tmp_path, postgres_url, "pg-workers", 6)
    proc = start_worker(args, tmp_path / "workers.log", workers=3)
    assert proc.wait(timeout=900) == 0, (tmp_path / "workers.log").read_text()[-3000:]
    trials = load(postgres_url, "pg-workers").get_trials()
    assert not [t for t in trials if not t.state.is_finished()]
    assert 6 <= len(trials) <= 8
    assert all(t.state == TrialState.COMPLETE for t in trials)


# -- faults ----------------------------------------------------------------------------------
def test_retry_reports_every_epoch_its_checkpoint_holds(tmp_path, make_config):
    """A worker killed after writing last.pt but before reporting that epoch: the retry
    still reports every epoch up to the checkpoint (from its history), then the new ones."""
    from mfsearch.search import run_trial
    from mfsearch.training import LAST_CHECKPOINT, load_checkpoint, run_training

    tiny = ("trainer.patience=5", "eval.batch_size=512", "dataset.split.val_per_class=20")
    crashed_dir = tmp_path / "crashed"
    run_training(make_config(f"run_dir={crashed_dir}", "trainer.max_epochs=2", *tiny))
    history = load_checkpoint(crashed_dir / LAST_CHECKPOINT)["history"]
    metric = "val/map_at_r"
    assert [int(m["epoch"]) for m in history] == [1, 2]

    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    study = optuna.create_study(study_name=STUDY, storage=storage, direction="maximize")
    crashed = study.ask()
    crashed.set_user_attr("run_dir", str(crashed_dir))
    crashed.report(history[0][metric], step=1)  # killed before epoch 2 was reported
    study.tell(crashed, state=TrialState.FAIL)
    study.enqueue_trial({}, user_attrs={RETRY_OF_ATTR: crashed.number})
    retry = study.ask()
    value = run_trial(make_config(
        f"run_dir={tmp_path / 'retry'}", "trainer.max_epochs=3", *tiny,
        f"trial.storage={storage}", f"trial.study_name={STUDY}",
        f"trial.trial_id={retry._trial_id}", f"trial.number={retry.number}"))

    record = load(storage, STUDY).get_trials()[retry.number]
    assert record.user_attrs[RESUMED_FROM_ATTR] == str(crashed_dir / LAST_CHECKPOINT)
    assert record.user_attrs["epochs_run"] == 3
    assert sorted(record.intermediate_values) == [1, 2, 3]
    running_best = list(itertools.accumulate((m[metric] for m in history), max))
    assert [record.intermediate_values[i + 1] for i in range(2)] == running_best
    assert value == max(record.intermediate_values.values())


def _slow_trial(tmp_path: Path, storage: str, n_trials: int, *extra: str) -> list[str]:
    return worker_args(tmp_path, storage, STUDY, n_trials, "trainer.max_epochs=4",
                       "trainer.patience=4", *extra)


@pytest.mark.slow
def test_killed_worker_trial_is_failed_as_stale_and_retried_from_its_checkpoint(tmp_path):
    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    args = _slow_trial(tmp_path, storage, 1)
    victim = start_worker(args, tmp_path / "victim.log")
    crashed = wait_for(lambda: running_with_checkpoint(storage, STUDY), 300)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert load(storage, STUDY).get_trials()[0].state == TrialState.RUNNING
    rescuer = start_worker(args, tmp_path / "rescuer.log", index=1)
    assert rescuer.wait(timeout=600) == 0, (tmp_path / "rescuer.log").read_text()[-3000:]
    first, retry = load(storage, STUDY).get_trials()
    assert first.state == TrialState.FAIL
    assert first.user_attrs[FAIL_REASON_ATTR].startswith("stale")
    assert retry.state == TrialState.COMPLETE
    assert retry.user_attrs[RETRY_OF_ATTR] == 0
    assert retry.params == first.params
    assert retry.user_attrs[RESUMED_FROM_ATTR] == str(Path(crashed.user_attrs["run_dir"])
                                                      / "last.pt")
    assert retry.user_attrs["epochs_run"] == 4
    assert sorted(retry.intermediate_values) == [1, 2, 3, 4]
    for step, value in first.intermediate_values.items():
        assert retry.intermediate_values[step] == value


@pytest.mark.slow
def test_sigint_fails_the_running_trial_as_interrupted_and_enqueues_its_retry(tmp_path):
    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    args = _slow_trial(tmp_path, storage, 3, "trainer.max_epochs=50", "trainer.patience=50")
    worker = start_worker(args, tmp_path / "worker.log")
    wait_for(lambda: running_with_checkpoint(storage, STUDY), 300)
    worker.send_signal(signal.SIGINT)
    assert worker.wait(timeout=120) != 0
    trials = load(storage, STUDY).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    assert trials[0].user_attrs[FAIL_REASON_ATTR].startswith("interrupted")
    assert trials[1].user_attrs[RETRY_OF_ATTR] == 0
    assert trials[1].params == trials[0].params


@pytest.mark.slow
def test_sigint_to_the_launcher_stops_every_worker_cleanly(tmp_path):
    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    args = _slow_trial(tmp_path, storage, 4, "trainer.max_epochs=50", "trainer.patience=50")
    launcher = start_worker(args, tmp_path / "workers.log", workers=2)

    def both_running():
        try:
            return len(load(storage, STUDY).get_trials(states=(TrialState.RUNNING,))) == 2
        except KeyError:
            return False

    wait_for(both_running, 300)
    launcher.send_signal(signal.SIGINT)
    assert launcher.wait(timeout=120) != 0
    trials = load(storage, STUDY).get_trials()
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 2 and len(trials) == 4
    assert all(t.user_attrs[FAIL_REASON_ATTR].startswith("interrupted") for t in failed)
    retries = [t for t in trials if t.state == TrialState.WAITING]
    assert sorted(t.user_attrs[RETRY_OF_ATTR] for t in retries) == sorted(
        t.number for t in failed)


def test_a_signal_during_bookkeeping_is_deferred_to_the_next_check():
    from mfsearch.search import check_stop, defer_signals, stop_on_signals, stop_requested

    with stop_on_signals():
        with defer_signals():
            signal.raise_signal(signal.SIGINT)  # would raise KeyboardInterrupt right here
            assert stop_requested()
        with pytest.raises(KeyboardInterrupt):
            check_stop()
    assert not stop_requested()
    with stop_on_signals(), pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)  # outside a deferred block: raised at once


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_swallowed_interrupt_still_stops_the_sweep(tmp_path):
    """Hydra turns a KeyboardInterrupt raised while it composes a job's config into a
    ConfigCompositionException; the sweep must still stop and fail the trial as interrupted."""
    from hydra_plugins.mfsearch_sweeper._impl import SweeperImpl
    from mfsearch.search import Heartbeat, Outcome, open_storage, stop_on_signals, stop_requested

    storage = open_storage(f"sqlite:///{tmp_path / 'db.sqlite'}",
                           Heartbeat(interval=1, grace_period=3, max_retry=1))
    study = optuna.create_study(study_name=STUDY, storage=storage, direction="maximize")
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0.0, 1.0)})
    impl = SweeperImpl(sampler=None, pruner=None)

    def launch(_study, _plan, trials):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:  # swallowed, as Hydra's config loader does
            return [Outcome(TrialState.FAIL, reason="the job could not be launched: "
                                                     "ConfigCompositionException")] * len(trials)
        raise AssertionError("the signal raised nothing")

    impl.launch = launch
    with stop_on_signals(), pytest.raises(KeyboardInterrupt):
        impl._run_batch(study, None, [trial])
    assert not stop_requested()
    first, retry = study.get_trials()
    assert first.state == TrialState.FAIL
    assert first.user_attrs[FAIL_REASON_ATTR].startswith("interrupted")
    assert retry.state == TrialState.WAITING and retry.user_attrs[RETRY_OF_ATTR] == first.number
    assert retry.params == first.params


@pytest.mark.slow
def test_second_sigint_exits_at_once(tmp_path):
    from mfsearch.search import stop_on_signals

    code = ("import os, signal, time\n"
            "from mfsearch.search import stop_on_signals\n"
            "with stop_on_signals():\n"
            "    try:\n"
            "        time.sleep(60)\n"
            "    except KeyboardInterrupt:\n"
            "        print('cleanup', flush=True)\n"
            "        time.sleep(60)\n"
            "        print('not reached', flush=True)\n")
    assert stop_on_signals
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE,
                            text=True)
    import time

    time.sleep(8)  # imports
    proc.send_signal(signal.SIGINT)
    assert proc.stdout.readline().strip() == "cleanup"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 128 + signal.SIGINT
    assert "not reached" not in proc.stdout.read()


# -- launchers -------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("launcher, n_jobs", [("joblib", 2), ("submitit_local", 2)])
def test_launchers_report_from_other_processes(tmp_path, monkeypatch, launcher, n_jobs):
    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    extra = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else \
        ["hydra.launcher.timeout_min=10", f"hydra.launcher.submitit_folder={tmp_path}/submitit"]
    run_sweep(tmp_path, monkeypatch, f"hydra/launcher={launcher}", *extra,
              f"hydra.sweeper.storage={storage}", f"hydra.sweeper.study_name={STUDY}",
              "hydra.sweeper.n_trials=2", f"hydra.sweeper.n_jobs={n_jobs}",
              "loss.alpha=interval(0.005, 0.02)")
    trials = load(storage, STUDY).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    for trial in trials:  # written by the job in its own process
        assert trial.value == pytest.approx(trial.user_attrs["metrics"]["val/map_at_r"])
        assert list(trial.intermediate_values) == [1]
