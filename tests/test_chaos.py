"""The fault drill (``make chaos``): workers SIGKILLed at random lose no trial.

Each drill prints one JSON line: storage, kills, trials_finished, lost, retries, resumed,
integrity.
"""

from __future__ import annotations

import pytest

from tests.scale_helpers import chaos_drill, print_json

N_TRIALS = 10


def _check(figures: dict) -> None:
    print_json(figures)
    assert figures["kills"] >= 10
    assert figures["lost"] == 0
    assert N_TRIALS <= figures["trials_finished"] <= N_TRIALS + 2
    assert figures["integrity"] == "ok"
    assert figures["retries"] >= 1


@pytest.mark.slow
def test_chaos_sqlite(tmp_path):
    _check(chaos_drill(tmp_path, f"sqlite:///{tmp_path / 'studies' / 'mfsearch.db'}", "chaos",
                       n_trials=N_TRIALS))


@pytest.mark.slow
def test_chaos_postgresql(tmp_path, postgres_url):
    _check(chaos_drill(tmp_path, postgres_url, "chaos", n_trials=N_TRIALS))
