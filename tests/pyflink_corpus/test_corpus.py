"""The PyFlink corpus: every program under ``programs/`` runs unchanged on PyFlink 2.3 and through
``millstream run --pyflink``, and both print the same (each print sink's lines in order); see harness.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.parity.pyflink_env import OracleUnavailable

from . import harness

PROGRAMS = harness.programs()
UNORDERED = "# corpus: order not defined by Flink"
"""A program with this line prints lines whose order Flink leaves to thread scheduling (e.g. windows of
different keys firing at the same time after a union of two sources: which input's records reach the window
operator first decides the order of its timer queue): each print sink's lines are compared as a multiset."""

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
    if UNORDERED in program.read_text(encoding="utf-8"):  # Flink itself prints them in varying orders
        assert harness.by_sink(got.stdout, ordered=False) == harness.by_sink(expected.stdout, ordered=False)
    else:
        assert harness.by_sink(got.stdout) == harness.by_sink(expected.stdout)
