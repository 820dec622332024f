"""``mfsearch dashboard`` serves optuna-dashboard on a study storage (a real server process)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from tests import chromium
from tests.analysis_studies import synthetic_study

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """Starts the dashboard on a free port; yields (base URL, study name, storage URL)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'studies.db'}"
    synthetic_study(url, "digits-dashboard-check", n_trials=5)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mfsearch.cli", "dashboard", "--storage", url, "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/studies", timeout=5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read() if proc.stdout else ""
                    pytest.fail(f"the dashboard did not start:\n{out}")
                time.sleep(0.5)
        yield base, "digits-dashboard-check", url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def test_api_lists_the_study(server: tuple[str, str, str]) -> None:
    base, name, _ = server
    payload = _get(f"{base}/api/studies")
    assert [s["study_name"] for s in payload["study_summaries"]] == [name]


def test_sees_trials_written_while_it_runs(server: tuple[str, str, str]) -> None:
    base, name, storage = server
    study = optuna.load_study(study_name=name, storage=storage)
    study_id = _get(f"{base}/api/studies")["study_summaries"][0]["study_id"]
    before = len(_get(f"{base}/api/studies/{study_id}")["trials"])
    trial = study.ask()  # a worker writing to the storage the dashboard serves
    trial.suggest_float("loss.alpha", 1e-3, 1e-1, log=True)
    study.tell(trial, 0.42)
    deadline = time.monotonic() + 60  # the dashboard caches trials for a few seconds
    while True:
        after = _get(f"{base}/api/studies/{study_id}")["trials"]
        if len(after) > before or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(after) == before + 1 == len(study.trials)
    assert after[-1]["values"] == [0.42]


def test_browser_shows_the_study(server: tuple[str, str, str]) -> None:
    base, name, _ = server
    page = chromium.load(f"{base}/dashboard", budget_ms=15000)
    assert name in page.dom
    assert page.errors == []
