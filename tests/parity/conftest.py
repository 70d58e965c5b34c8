"""Fixtures of the Flink parity suite (``-m flink``).

``flink_oracle`` provisions PyFlink 2.3 in its own virtualenv on first use (see ``pyflink_env.py``) and
skips every test that needs it, with one message saying why and how to fix it, when that is impossible
(no Java, no PyPI). Under CI (``CI`` set) or with ``MILLSTREAM_REQUIRE_FLINK=1`` that is a failure instead,
so a CI run never passes without the parity checks.
``flink_results`` runs all generated cases through Flink once per session, as a single Flink job.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from .cases import all_cases
from .hand_cases import ALL_HAND
from .oracle import FlinkOracle
from .pyflink_env import OracleUnavailable, provision

_TIMINGS: dict[str, Any] = {}


@pytest.fixture(scope="session")
def flink_oracle() -> FlinkOracle:
    """A ready :class:`FlinkOracle`; skips (or fails under MILLSTREAM_REQUIRE_FLINK=1) when unavailable."""
    started = time.monotonic()
    try:
        env = provision()
    except OracleUnavailable as exc:
        message = f"Flink parity oracle unavailable: {exc}"
        if os.environ.get("MILLSTREAM_REQUIRE_FLINK") == "1" or os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    _TIMINGS["provision_seconds"] = time.monotonic() - started
    _TIMINGS["install_seconds"] = env.install_seconds
    oracle = FlinkOracle(env)
    _TIMINGS["runs"] = oracle.runs
    return oracle


@pytest.fixture(scope="session")
def flink_results(flink_oracle: FlinkOracle) -> dict[str, dict[str, list[Any]]]:
    """Flink's results for every generated case (``all_cases()``) and every hand-computed one
    (``hand_cases.ALL_HAND``), computed by a single Flink job: JVM start-up is the cost."""
    return flink_oracle.run([*all_cases(), *(case for case, _ in ALL_HAND)])


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _TIMINGS:
        return
    install = _TIMINGS.get("install_seconds")
    line = "PyFlink oracle: " + (f"installed in {install:.0f}s" if install else "virtualenv reused")
    line += f", ready in {_TIMINGS['provision_seconds']:.1f}s"
    for run in _TIMINGS.get("runs", []):
        line += f"; job of {run['cases']} cases: {run['wall_seconds']:.1f}s wall ({run['run']:.1f}s executing)"
    terminalreporter.write_line(line)
