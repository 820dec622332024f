"""``python -m mfsearch.sweep``: an Optuna study of ``mfsearch.train`` (Hydra multirun).

Equivalent to ``python -m mfsearch.train --multirun search=digits ...``; ``search=digits`` is
added when no ``search=`` override is given. ``--workers N`` (N > 1) checks the storage and
starts N such sweeps on the same study (see :mod:`mfsearch.search._workers`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

DEFAULT_SEARCH = "digits"


def sweep_argv(args: Sequence[str], default_search: str | None = DEFAULT_SEARCH) -> list[str]:
    """The Hydra arguments of a sweep: ``--multirun`` plus ``search=<default_search>`` when the
    arguments choose no search space (and ``default_search`` is not None)."""
    args = list(args)
    chosen = any(a.split("=", 1)[0].lstrip("+~") == "search" for a in args)
    if default_search is not None and not chosen:
        args = [f"search={default_search}", *args]
    return ["--multirun", *args]


def run_sweep(overrides: Sequence[str], raise_errors: bool = True) -> None:
    """Runs a sweep in this process (for tests and benchmarks), like the command line does.

    Args:
        overrides: Hydra overrides, used as given (no default ``search=``).
        raise_errors: Let exceptions propagate unchanged instead of Hydra's short report.
    """
    from hydra.core.global_hydra import GlobalHydra

    from mfsearch.train import main as train_main

    saved_argv, saved_env = sys.argv, os.environ.get("HYDRA_FULL_ERROR")
    if raise_errors:
        os.environ["HYDRA_FULL_ERROR"] = "1"
    sys.argv = ["mfsearch.sweep", *sweep_argv(overrides, default_search=None)]
    GlobalHydra.instance().clear()
    try:
        train_main()
    finally:
        GlobalHydra.instance().clear()
        sys.argv = saved_argv
        if saved_env is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved_env


def split_workers(args: Sequence[str]) -> tuple[int, list[str]]:
    """Takes ``--workers N`` (or ``--workers=N``) out of the arguments; returns ``(N, rest)``.

    Raises:
        ValueError: N is not an integer of at least 1.
    """
    from mfsearch.search import check_workers

    workers, rest, it = "1", [], iter(args)
    for arg in it:
        if arg == "--workers":
            workers = next(it, "")
        elif arg.startswith("--workers="):
            workers = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    try:
        count = int(workers)
    except ValueError:
        raise ValueError(f"WORKERS (--workers) must be an integer, but got {workers=}") from None
    check_workers(count)
    return count, rest


def main() -> int:
    """Runs the sweep (or ``--workers N`` of them) with the command line's overrides."""
    try:
        workers, args = split_workers(sys.argv[1:])
        if workers > 1:
            from mfsearch.search import preflight

            preflight(args)
    except ValueError as exc:  # StorageError included
        print(f"mfsearch sweep: {exc}", file=sys.stderr)
        return 2
    if workers > 1:
        from mfsearch.search import run_workers, sweep_command

        return run_workers(sweep_command(args), workers)
    from mfsearch.train import main as train_main

    sys.argv = [sys.argv[0], *sweep_argv(args)]
    train_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
