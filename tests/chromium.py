"""Headless Chromium for the browser tests: DOM after scripts ran, console errors, screenshots."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
_CONSOLE = re.compile(r":(INFO|WARNING|ERROR):CONSOLE[^\]]*\] (.*)")


@dataclass(frozen=True)
class Page:
    """What Chromium saw: the DOM after scripts ran and the console messages."""

    dom: str
    console: list[str]

    @property
    def errors(self) -> list[str]:
        """Console errors and uncaught exceptions."""
        return [m for level, m in self.console_levels if level == "ERROR" or "Uncaught" in m]

    @property
    def console_levels(self) -> list[tuple[str, str]]:
        return [(m.split("\t", 1)[0], m.split("\t", 1)[1]) for m in self.console]


def binary() -> str:
    """The Chromium executable; skips the test when none is installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium)")


def load(url: str, budget_ms: int = 10000, timeout: float = 120) -> Page:
    """Opens ``url``, lets scripts run for ``budget_ms`` of virtual time, returns the page."""
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [binary(), *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
             f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
            capture_output=True, text=True, timeout=timeout, check=False)
    console = [f"{m.group(1)}\t{m.group(2)}" for m in _CONSOLE.finditer(proc.stderr)]
    return Page(proc.stdout, console)


def screenshot(url: str, path: str, size: str = "1300,1600", budget_ms: int = 10000) -> None:
    """Saves a PNG screenshot of ``url``."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [binary(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={size}",
             "--hide-scrollbars", f"--virtual-time-budget={budget_ms}", f"--screenshot={path}",
             url], capture_output=True, timeout=120, check=True)
