"""mfsearch's Hydra sweeper: Optuna 5 studies with pruning, select with hydra/sweeper=mfsearch."""
