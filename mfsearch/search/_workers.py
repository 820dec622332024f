"""Many sweeper processes on one study: starting them, pinning GPUs, stopping on signals.

``mfsearch sweep --workers N ...`` (``make sweep WORKERS=N``) checks the storage, then starts
N sweeper processes with the same arguments. Each loops on its own (fail stale trials, ask,
launch one job, tell) until the study holds ``n_trials`` finished trials, so none waits for
another's batch. A worker may ask for a trial while the others' last trials still run, so a
study ends with at most ``N - 1`` trials more than ``n_trials``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from types import FrameType

#: Environment variable holding a worker's index (0 .. N-1) in a parallel sweep.
WORKER_ENV = "MFSEARCH_WORKER"

#: Set by the first SIGINT/SIGTERM inside :func:`stop_on_signals`.
_stop = threading.Event()
#: How many :func:`defer_signals` blocks are open (signal handlers run in the main thread).
_deferring = [0]


def stop_requested() -> bool:
    """Whether a signal asked this sweep to stop.

    A library may swallow the KeyboardInterrupt a signal raises (Hydra turns one raised while
    it composes a job's config into a ConfigCompositionException), so the sweep loop and the
    per-epoch reporter check this flag too.
    """
    return _stop.is_set()


def worker_index(environ: Mapping[str, str] | None = None) -> int | None:
    """This process's worker index, or None when it was not started by :func:`run_workers`."""
    value = (os.environ if environ is None else environ).get(WORKER_ENV)
    return None if value is None else int(value)


def gpu_for_worker(index: int, device_count: int) -> int | None:
    """The GPU of worker ``index`` on a machine with ``device_count`` GPUs (None: no GPU)."""
    if index < 0:
        raise ValueError(f"A worker index is >= 0, but got {index=}")
    if device_count < 0:
        raise ValueError(f"A device count is >= 0, but got {device_count=}")
    return index % device_count if device_count else None


def worker_env(index: int, device_count: int, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of worker ``index``: its index, and its GPU unless the user chose.

    A ``CUDA_VISIBLE_DEVICES`` already set is kept as it is.
    """
    env = {**environ, WORKER_ENV: str(index)}
    gpu = gpu_for_worker(index, device_count)
    if "CUDA_VISIBLE_DEVICES" not in environ and gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    return env


def _device_count() -> int:
    """Visible CUDA devices, counted without initialising CUDA in this process."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return len([line for line in out.splitlines() if line.strip()])


def check_workers(workers: int) -> None:
    """Refuses a worker count below 1."""
    if workers < 1:
        raise ValueError(f"WORKERS (--workers) must be at least 1, but got {workers=}")


def storage_override(args: Sequence[str]) -> str | None:
    """The ``hydra.sweeper.storage=`` value among Hydra overrides (None: the default)."""
    value = None
    for arg in args:
        key, sep, rest = arg.partition("=")
        if sep and key.lstrip("+") == "hydra.sweeper.storage":
            value = rest.strip("'\"") or None
    return value


def preflight(args: Sequence[str]) -> None:
    """Opens the sweep's storage once, so a bad URL, server or folder fails before any worker.

    Raises:
        StorageError: Unreachable server, bad credentials (host and database named, password
            hidden), malformed URL, or an unwritable folder.
    """
    from mfsearch.search._storage import open_storage

    storage = open_storage(storage_override(args))
    storage.get_all_studies()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turns the first SIGINT or SIGTERM into KeyboardInterrupt; the second exits at once.

    The sweeper catches the KeyboardInterrupt, fails its running trials as interrupted and
    enqueues their retries; a second signal during that cleanup ends the process (status 130).
    """
    def second(signum: int, _frame: FrameType | None) -> None:
        os._exit(128 + signum)

    def first(signum: int, _frame: FrameType | None) -> None:
        _stop.set()
        signal.signal(signal.SIGINT, second)
        signal.signal(signal.SIGTERM, second)
        if not _deferring[0]:
            raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")

    try:
        saved = {s: signal.signal(s, first) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    _stop.clear()
    try:
        yield
    finally:
        _stop.clear()
        for signum, handler in saved.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def defer_signals() -> Iterator[None]:
    """Inside :func:`stop_on_signals`: a first signal during this block only sets
    :func:`stop_requested` (checked after the block) instead of raising, so that study
    bookkeeping (asking, telling, enqueueing a retry) is never cut in half."""
    _deferring[0] += 1
    try:
        yield
    finally:
        _deferring[0] -= 1


def check_stop() -> None:
    """Raises KeyboardInterrupt when a signal asked the sweep to stop."""
    if _stop.is_set():
        raise KeyboardInterrupt("stopped by a signal")


def run_workers(command: Sequence[str], workers: int, poll_s: float = 0.5) -> int:
    """Runs ``command`` in ``workers`` processes (worker index and GPU in their environment).

    Returns the first non-zero exit status, or 0. SIGINT/SIGTERM are passed on to the workers.
    """
    check_workers(workers)
    devices = _device_count()
    # Own sessions: a terminal's Ctrl-C reaches the workers once, forwarded by this process,
    # not twice (which they would take for the "exit at once" second Ctrl-C).
    procs = [subprocess.Popen(list(command), env=worker_env(i, devices, os.environ),
                              start_new_session=True)
             for i in range(workers)]

    def forward(signum: int, _frame: FrameType | None) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    saved = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while any(proc.poll() is None for proc in procs):
            time.sleep(poll_s)
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
    return next((proc.returncode for proc in procs if proc.returncode), 0)


def sweep_command(args: Sequence[str]) -> list[str]:
    """The command line of one worker: this interpreter running ``mfsearch.sweep``."""
    return [sys.executable, "-m", "mfsearch.sweep", *args]
