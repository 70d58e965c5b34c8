"""Fixtures of the ``--engine flink`` tests: the PyFlink 2.3 interpreter of the parity suite's virtualenv
(``tests/parity/pyflink_env.py``), provisioned on first use; skipped (failed under ``CI`` or
``MILLSTREAM_REQUIRE_FLINK=1``) when it cannot be provisioned here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.parity.pyflink_env import OracleUnavailable, provision


@pytest.fixture(scope="session")
def pyflink_python() -> Path:
    """A Python with PyFlink 2.3 (the parity venv's)."""
    try:
        env = provision()
    except OracleUnavailable as exc:
        message = f"PyFlink unavailable: {exc}"
        if os.environ.get("MILLSTREAM_REQUIRE_FLINK") == "1" or os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return env.python
