"""``python -m mfsearch.sweep``: an Optuna study of ``mfsearch.train`` (Hydra multirun).

Equivalent to ``python -m mfsearch.train --multirun search=digits ...``; ``search=digits`` is
added when no ``search=`` override is given.
"""

from __future__ import annotations

import sys

DEFAULT_SEARCH = "digits"


def sweep_argv(args: list[str]) -> list[str]:
    """The Hydra arguments of a sweep: ``--multirun`` plus a default search space."""
    if not any(a.split("=", 1)[0].lstrip("+~") == "search" for a in args):
        args = [f"search={DEFAULT_SEARCH}", *args]
    return ["--multirun", *args]


def main() -> None:
    """Runs the sweep with the command line's overrides."""
    from mfsearch.train import main as train_main

    sys.argv = [sys.argv[0], *sweep_argv(sys.argv[1:])]
    train_main()


if __name__ == "__main__":
    main()
