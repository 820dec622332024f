"""``python -m mfsearch.sweep``: an Optuna study of ``mfsearch.train`` (Hydra multirun).

Equivalent to ``python -m mfsearch.train --multirun search=digits ...``; ``search=digits`` is
added when no ``search=`` override is given.
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


def main() -> None:
    """Runs the sweep with the command line's overrides."""
    from mfsearch.train import main as train_main

    sys.argv = [sys.argv[0], *sweep_argv(sys.argv[1:])]
    train_main()


if __name__ == "__main__":
    main()
