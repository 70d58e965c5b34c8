"""Chromium for the browser tests, installed and started by the suite itself.

Debian's ``chromium`` is driven by Playwright (Playwright's own browser download does not work on these
machines). When ``/usr/bin/chromium`` is missing and the suite runs as root, it is installed with
``apt-get update`` + ``apt-get install -y chromium`` (as ``tests/fixtures/postgres.py`` installs
PostgreSQL); the tests are skipped, with the reason, only when that is impossible. The browser runs headless
with ``--no-sandbox --disable-gpu --disable-background-networking --disable-component-update`` and a fresh
user-data directory, and is stopped at the end of the session. Screenshots go to ``test-artifacts/console/``
(gitignored) at the repository root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"


def _install_chromium() -> str:
    """Install Debian's chromium; an empty string on success, else why not."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "chromium is not installed and cannot be installed here (needs root and apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
        if res.returncode != 0:
            return f"{' '.join(cmd)} failed: {res.stderr.strip()[-500:]}"
    return ""


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of a working chromium (installed if needed)."""
    if not os.path.exists(CHROMIUM):
        why = _install_chromium()
        if why or not os.path.exists(CHROMIUM):
            pytest.skip(why or f"apt-get installed chromium but {CHROMIUM} is missing")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser_context(chromium: str) -> Iterator[Any]:
    """A headless Chromium context with a fresh user-data directory, for the whole session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is in the test extra
        pytest.skip("playwright is not installed: pip install -e '.[test]'")
    profile = tempfile.mkdtemp(prefix="millstream-chromium-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=chromium,
            headless=True,
            args=ARGS,
            viewport={"width": 1500, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    """A new tab; closed after the test."""
    tab = browser_context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    tab.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as a test artifact; returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
