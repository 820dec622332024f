"""mfsearch: hyperparameter search for deep metric learning with mean-field losses."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
