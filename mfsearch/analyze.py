"""Entry points of the analysis commands: ``mfsearch report|best|rerun|compare|export|dashboard``.

Each is a thin argparse wrapper around :mod:`mfsearch.analysis`; bad input ends with a
one-line error (exit status 2), never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mfsearch.analysis import DEFAULT_STORAGE, AnalysisError

if TYPE_CHECKING:
    import optuna

STUDIES_DIR = "studies"


def _parser(prog: str, description: str, study: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"mfsearch {prog}", description=description)
    parser.add_argument("--storage", default=DEFAULT_STORAGE,
                        help=f"study storage URL (default {DEFAULT_STORAGE})")
    if study:
        parser.add_argument("study", nargs="?", default="",
                            help="study name (optional when the storage holds one study)")
        parser.add_argument("--study", dest="study_opt", default="", help=argparse.SUPPRESS)
        parser.add_argument("--out", default="",
                            help=f"output folder (default {STUDIES_DIR}/<study>)")
    return parser


def _command(func: Callable[[Sequence[str]], int]) -> Callable[[Sequence[str] | None], int]:
    """Reads ``sys.argv`` when called without arguments; turns AnalysisError into exit 2."""

    @functools.wraps(func)
    def wrapper(argv: Sequence[str] | None = None) -> int:
        args = list(sys.argv[1:] if argv is None else argv)
        try:
            return func(args)
        except AnalysisError as exc:
            print(f"{sys.argv[0] if argv is None else 'mfsearch'}: error: {exc}", file=sys.stderr)
            return 2

    return wrapper


def _open(args: argparse.Namespace) -> tuple[optuna.Study, Path]:
    """The study the arguments name and its output folder."""
    from mfsearch.analysis import load_study

    study = load_study(args.storage, args.study or args.study_opt)
    out = Path(args.out) if args.out else Path(STUDIES_DIR) / study.study_name
    return study, out


@_command
def report(argv: Sequence[str]) -> int:
    """``mfsearch report STUDY``: report.html and PNG plots in studies/<study>/."""
    args = _parser("report", "Write the study's HTML report and PNG plots.").parse_args(argv)
    from mfsearch.analysis import write_report

    study, out = _open(args)
    path = write_report(study, out)
    print(f"report: {path}")
    return 0


@_command
def best(argv: Sequence[str]) -> int:
    """``mfsearch best STUDY [--trial N]``: the trial as a Hydra experiment config."""
    parser = _parser("best", "Export the best (or a chosen) trial as studies/<study>/best.yaml.")
    parser.add_argument("--trial", type=int, default=None, help="trial number (default: best)")
    args = parser.parse_args(argv)
    from mfsearch.analysis import write_best

    study, out = _open(args)
    path = write_best(study, out, args.trial)
    print(f"wrote {path}\nre-run it: python -m mfsearch.train --config-dir {path.parent} "
          "experiment=../best")
    return 0


@_command
def check(argv: Sequence[str]) -> int:
    """``mfsearch check-experiment FILE``: validates an exported experiment config."""
    parser = argparse.ArgumentParser(prog="mfsearch check-experiment")
    parser.add_argument("path")
    args = parser.parse_args(argv)
    from mfsearch.analysis import check_experiment

    check_experiment(args.path)
    print(f"{args.path}: every key exists in the config tree and the values are valid")
    return 0


@_command
def rerun(argv: Sequence[str]) -> int:
    """``mfsearch rerun STUDY --seeds 3 --top 1``: multi-seed re-runs with t-tests."""
    parser = _parser("rerun", "Re-train the top trials and the paper's config with several "
                     "seeds on all training classes; test on the test classes.")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--top", type=int, default=1)
    parser.add_argument("--device", default=None, help="override the config's device")
    args = parser.parse_args(argv)
    from mfsearch.analysis import RERUN_MD
    from mfsearch.analysis import rerun as run

    study, out = _open(args)
    run(study, out, seeds=args.seeds, top=args.top, device=args.device)
    print((out / RERUN_MD).read_text())
    return 0


@_command
def compare(argv: Sequence[str]) -> int:
    """``mfsearch compare A B C``: table and plot comparing studies."""
    parser = _parser("compare", "Compare studies: best value, re-run test metrics, trials "
                     "and compute.", study=False)
    parser.add_argument("studies", nargs="*")
    parser.add_argument("--out", default=f"{STUDIES_DIR}/compare")
    args = parser.parse_args(argv)
    from mfsearch.analysis import load_study, write_comparison

    names = [n for word in args.studies for n in word.split()]
    studies = [load_study(args.storage, name) for name in names] if names else []
    paths = write_comparison(studies, args.out, STUDIES_DIR)
    print(paths[0].read_text())
    print("wrote " + ", ".join(map(str, paths)))
    return 0


@_command
def export(argv: Sequence[str]) -> int:
    """``mfsearch export STUDY``: all trials to studies/<study>/trials.csv."""
    parser = _parser("export", "Write all trials (params, states, user attrs, metrics) to CSV.")
    parser.add_argument("--csv", default="", help="output file (default <out>/trials.csv)")
    args = parser.parse_args(argv)
    from mfsearch.analysis import EXPORT_FILE, export_trials

    study, out = _open(args)
    path = export_trials(study, args.csv or out / EXPORT_FILE)
    print(f"exported {len(study.trials)} trials to {path}")
    return 0


@_command
def dashboard(argv: Sequence[str]) -> int:
    """``mfsearch dashboard --host 127.0.0.1 --port 8080``: optuna-dashboard on the storage."""
    parser = _parser("dashboard", "Serve optuna-dashboard on the study storage.", study=False)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    from mfsearch.analysis import serve_dashboard

    serve_dashboard(args.storage, args.host, args.port)
    return 0
