"""From a study to answers: report, dashboard, best-config export, re-runs, comparisons."""

from __future__ import annotations

from mfsearch.analysis._best import (
    BEST_FILE,
    check_experiment,
    experiment_yaml,
    trial_config,
    unknown_keys,
    validate_config,
    write_best,
)
from mfsearch.analysis._compare import compare_rows, write_comparison
from mfsearch.analysis._dashboard import check_port, port_free, serve_dashboard
from mfsearch.analysis._export import EXPORT_FILE, export_trials, trial_rows
from mfsearch.analysis._report import PNG_FILES, REPORT_FILE, SECTIONS, write_report
from mfsearch.analysis._rerun import RERUN_JSON, RERUN_MD, plan, rerun, summarize
from mfsearch.analysis._study import (
    AnalysisError,
    best_trial,
    completed_trials,
    load_study,
    open_storage,
    paper_trial,
    study_names,
)
from mfsearch.search import DEFAULT_STORAGE  # re-exported: one default for sweeps and analysis

__all__ = [
    "BEST_FILE",
    "DEFAULT_STORAGE",
    "EXPORT_FILE",
    "PNG_FILES",
    "REPORT_FILE",
    "RERUN_JSON",
    "RERUN_MD",
    "SECTIONS",
    "AnalysisError",
    "best_trial",
    "check_experiment",
    "check_port",
    "compare_rows",
    "completed_trials",
    "experiment_yaml",
    "export_trials",
    "load_study",
    "open_storage",
    "paper_trial",
    "plan",
    "port_free",
    "rerun",
    "serve_dashboard",
    "study_names",
    "summarize",
    "trial_config",
    "trial_rows",
    "unknown_keys",
    "validate_config",
    "write_best",
    "write_comparison",
    "write_report",
]
