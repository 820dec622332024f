from __future__ import annotations

import math

import pytest

from mfsearch.training import EarlyStopping


def _run(values, patience, min_delta=0.0):
    stopper = EarlyStopping(patience, "max", min_delta)
    for epoch, value in enumerate(values, start=1):
        stopper.update(epoch, value)
        if stopper.should_stop:
            return epoch, stopper.best_epoch
    return None, stopper.best_epoch


def test_waits_patience_epochs_without_improvement():
    # best at epoch 2, then three epochs without improvement
    assert _run([0.1, 0.5, 0.4, 0.45, 0.3, 0.9], patience=3) == (5, 2)


def test_improvement_resets_the_count():
    assert _run([0.1, 0.2, 0.15, 0.3, 0.25, 0.2], patience=2) == (6, 4)


def test_patience_zero_stops_at_first_non_improvement():
    assert _run([0.1, 0.2, 0.2, 0.9], patience=0) == (3, 2)


def test_min_delta_and_nan():
    assert _run([0.5, 0.505, math.nan, 0.6], patience=2, min_delta=0.01) == (3, 1)


def test_state_round_trip():
    a = EarlyStopping(3)
    for e, v in enumerate([0.3, 0.1], 1):
        a.update(e, v)
    b = EarlyStopping(3)
    b.load_state_dict(a.state_dict())
    assert (b.best, b.best_epoch, b.bad_epochs) == (0.3, 1, 1)


def test_rejects_negative_patience():
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(-1)
