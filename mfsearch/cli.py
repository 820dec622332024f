"""The ``mfsearch`` console script: ``mfsearch <command> [hydra overrides...]``."""

from __future__ import annotations

import importlib
import shlex
import sys
from collections.abc import Sequence

#: command -> (entry point: a module with a ``main`` Hydra app, or ``module:function``,
#: one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("mfsearch.train", "train one model (Hydra overrides follow)"),
    "evaluate": ("mfsearch.evaluate", "test metrics of a checkpoint: checkpoint=<path>"),
    "sweep": ("mfsearch.sweep", "run an Optuna study (search=<dataset>, Hydra overrides follow)"),
    "report": ("mfsearch.analyze:report", "HTML report of a study (plots, importances)"),
    "best": ("mfsearch.analyze:best", "export a trial as a Hydra experiment (best.yaml)"),
    "check-experiment": ("mfsearch.analyze:check", "validate an exported experiment file"),
    "rerun": ("mfsearch.analyze:rerun", "multi-seed re-runs of top trials vs the paper"),
    "compare": ("mfsearch.analyze:compare", "table and plot comparing studies"),
    "export": ("mfsearch.analyze:export", "all trials of a study to CSV"),
    "dashboard": ("mfsearch.analyze:dashboard", "serve optuna-dashboard on the storage"),
}


def _usage() -> str:
    lines = ["usage: mfsearch <command> [args...]", "", "commands:"]
    lines += [f"  {name:<17} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def _expand_extra(args: list[str]) -> list[str]:
    """Replaces ``--extra "a=1 b=2"`` by the shell-style words of its value.

    ``make`` passes free overrides (``ARGS=...``) this way, quoted as one word, so that
    shell characters in them are never run by the shell.
    """
    out: list[str] = []
    it = iter(args)
    for arg in it:
        if arg == "--extra":
            out.extend(shlex.split(next(it, "")))
        elif arg.startswith("--extra="):
            out.extend(shlex.split(arg.split("=", 1)[1]))
        else:
            out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatches to the command's entry point with the remaining arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    command, rest = args[0], args[1:]
    rest = _expand_extra(rest)
    if command not in COMMANDS:
        print(f"mfsearch: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, _, function = COMMANDS[command][0].partition(":")
    entry = getattr(importlib.import_module(module_name), function or "main")
    sys.argv = [f"mfsearch {command}", *rest]
    result = entry()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
