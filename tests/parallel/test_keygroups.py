"""Key groups: canonical, stable across processes, Flink's ranges (millstream.stream.keygroups)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from millstream.stream.keygroups import (
    KeyGroupAssigner,
    KeyGroupError,
    assign_to_key_group,
    canonical_key_bytes,
    default_max_parallelism,
    key_group_range,
    operator_index_for_key_group,
)


def test_keys_equal_in_python_share_a_key_group() -> None:
    assert canonical_key_bytes(1) == canonical_key_bytes(1.0) == canonical_key_bytes(True)
    assert canonical_key_bytes((1, "a")) == canonical_key_bytes([1, "a"])
    assert canonical_key_bytes(frozenset({"a", "b"})) == canonical_key_bytes(frozenset({"b", "a"}))
    assert canonical_key_bytes("1") != canonical_key_bytes(1)
    assert canonical_key_bytes(("a", "b")) != canonical_key_bytes(("ab",))


def test_key_groups_are_pinned() -> None:
    """The same in every process, on every machine and Python version: these values must never change
    (savepoints depend on them)."""
    keys = ["a", "b", 1, None, b"x", ("page", 7), -5, 2**70, 0.5]
    assert [assign_to_key_group(k, 128) for k in keys] == [31, 53, 45, 11, 19, 89, 47, 24, 120]


def test_key_groups_do_not_depend_on_the_process_hash_seed() -> None:
    code = (
        "from millstream.stream.keygroups import assign_to_key_group as a; print([a(f'k{i}', 128) for i in range(20)])"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "random")
    }
    assert len(outs) == 1


def test_ranges_partition_the_key_groups_like_flink() -> None:
    for maxp in (1, 7, 128, 1000):
        for p in range(1, min(maxp, 12) + 1):
            ranges = [key_group_range(maxp, p, i) for i in range(p)]
            assert [g for r in ranges for g in r] == list(range(maxp))
            for i, r in enumerate(ranges):
                assert all(operator_index_for_key_group(maxp, p, g) == i for g in r)
    assert key_group_range(128, 3, 0) == range(0, 43)
    assert key_group_range(128, 3, 2) == range(86, 128)


def test_default_max_parallelism_is_flinks() -> None:
    assert default_max_parallelism(1) == 128
    assert default_max_parallelism(85) == 128
    assert default_max_parallelism(86) == 256
    assert default_max_parallelism(30000) == 32768


def test_keys_spread_evenly() -> None:
    a = KeyGroupAssigner(128, 2)
    subs = a.subtasks([f"/page/{i}" for i in range(10_000)])
    assert 4500 < subs.count(0) < 5500


def test_a_key_without_canonical_encoding_is_refused() -> None:
    with pytest.raises(KeyGroupError, match="type dict has no canonical encoding") as info:
        canonical_key_bytes({"a": 1})
    assert "str, int" in str(info.value)
    with pytest.raises(KeyGroupError, match="object"):
        KeyGroupAssigner(128, 2).subtasks([object()])
