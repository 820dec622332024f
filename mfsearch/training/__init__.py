"""The trainer, optimizers and schedulers, checkpoints, early stopping and seeding."""

from __future__ import annotations

from mfsearch.training._callbacks import Callback
from mfsearch.training._checkpoint import load_checkpoint, save_checkpoint
from mfsearch.training._early_stopping import EarlyStopping
from mfsearch.training._evaluate import EvaluationResult, evaluate_checkpoint, write_evaluation
from mfsearch.training._optim import (
    OPTIMIZERS,
    SCHEDULERS,
    build_optimizer,
    build_scheduler,
    param_groups,
)
from mfsearch.training._run import (
    SUMMARY_FILE,
    TrainingFailedError,
    build_run_data,
    build_trainer,
    check_config,
    run_training,
    write_summary,
)
from mfsearch.training._seed import resolve_device, rng_state, seed_everything, set_rng_state
from mfsearch.training._trainer import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    FitResult,
    Trainer,
    build_evaluator,
    metrics_table,
    score_split,
)

__all__ = [
    "BEST_CHECKPOINT",
    "LAST_CHECKPOINT",
    "OPTIMIZERS",
    "SCHEDULERS",
    "SUMMARY_FILE",
    "Callback",
    "EarlyStopping",
    "EvaluationResult",
    "FitResult",
    "Trainer",
    "TrainingFailedError",
    "build_evaluator",
    "build_optimizer",
    "build_run_data",
    "build_scheduler",
    "build_trainer",
    "check_config",
    "evaluate_checkpoint",
    "load_checkpoint",
    "metrics_table",
    "param_groups",
    "resolve_device",
    "rng_state",
    "run_training",
    "save_checkpoint",
    "score_split",
    "seed_everything",
    "set_rng_state",
    "write_evaluation",
    "write_summary",
]
