"""Fixtures for the console tests: an embedded log on disk and a console server over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from millstream.console import ConsoleServer


@pytest.fixture
def log_url(tmp_path: Path) -> str:
    return f"file://{tmp_path}/log"


@pytest.fixture
def console(log_url: str) -> Iterator[ConsoleServer]:
    server = ConsoleServer(log_url, port=0)
    yield server
    server.close()


@pytest.fixture
def api(console: ConsoleServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console.http.url + "/console/api", timeout=10) as client:
        yield client


from .browser import browser_context, chromium, page  # noqa: E402, F401  (fixtures of the browser tests)
