"""The PyFlink corpus: every program under ``programs/`` runs unchanged on PyFlink 2.3 and through
``millstream run --pyflink``, and both print the same (each print sink's lines in order); see harness.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.parity.pyflink_env import OracleUnavailable

from . import harness

PROGRAMS = harness.programs()

pytestmark = pytest.mark.flink


@pytest.fixture(scope="module")
def flink() -> dict[str, harness.Outcome]:
    try:
        return harness.flink_outcomes(PROGRAMS)
    except OracleUnavailable as exc:
        message = f"PyFlink oracle unavailable: {exc}"
        if os.environ.get("MILLSTREAM_REQUIRE_FLINK") == "1" or os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def test_the_corpus_is_big_enough() -> None:
    assert len(PROGRAMS) >= 25


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.stem for p in PROGRAMS])
def test_program_prints_what_pyflink_prints(program: Path, flink: dict[str, harness.Outcome]) -> None:
    expected = flink[program.name]
    assert expected.error is None, f"the program fails on PyFlink 2.3:\n{expected.error}"
    assert expected.stdout.strip(), "the program printed nothing on PyFlink"
    got = harness.millstream_outcome(program)
    assert got.error is None, got.error
    assert harness.by_sink(got.stdout) == harness.by_sink(expected.stdout)
