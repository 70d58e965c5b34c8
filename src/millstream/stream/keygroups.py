"""Key groups: how keys are spread over the parallel subtasks of a keyed operator (Flink's model).

A key belongs to exactly one **key group** in ``[0, max_parallelism)``; a keyed operator with parallelism
``p`` gives subtask ``i`` the contiguous range of key groups :func:`key_group_range` ``(max_p, p, i)``, so a
key's subtask is ``key_group * p // max_p`` (:func:`operator_index_for_key_group`). State is kept and
snapshotted per key group, which is what lets a savepoint taken at one parallelism restore at another.

The key group of a key is a hash of a **canonical encoding** of the key, never Python's ``hash()`` (which is
salted per process for strings): the same key lands in the same key group in every process, on every machine
and every Python version. Keys that compare equal in Python encode equally (``1 == 1.0 == True``), because
one operator's state treats them as one key. Encodable keys: ``None``, ``bool``, ``int``, ``float``, ``str``,
``bytes``, and tuples, lists or frozensets of those (a frozenset is encoded sorted by element encoding).
Anything else raises :class:`KeyGroupError` naming the key's type.

The hash is CRC-32 of the encoding, mixed with MurmurHash3's 32-bit finaliser (Flink applies murmur mixing to
the key's ``hashCode`` the same way), modulo ``max_parallelism``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import Any

from .errors import JobConfigError

DEFAULT_LOWER_MAX_PARALLELISM = 128
UPPER_MAX_PARALLELISM = 32768


class KeyGroupError(JobConfigError):
    """A key cannot be assigned to a key group (it has no canonical encoding)."""


def default_max_parallelism(parallelism: int) -> int:
    """Flink's default: ``parallelism * 1.5`` rounded up to a power of two, at least 128, at most 32768."""
    n = parallelism + parallelism // 2
    power = 1 << max(0, (n - 1).bit_length())
    return min(max(power, DEFAULT_LOWER_MAX_PARALLELISM), UPPER_MAX_PARALLELISM)


def check_max_parallelism(max_parallelism: Any, where: str) -> int:
    """``max_parallelism`` if it is an int in ``[1, 32768]``, else a :class:`JobConfigError` naming ``where``."""
    if type(max_parallelism) is not int or not 1 <= max_parallelism <= UPPER_MAX_PARALLELISM:
        raise JobConfigError(
            f"{where}: max parallelism must be an int from 1 to {UPPER_MAX_PARALLELISM}, got {max_parallelism!r}"
        )
    return max_parallelism


_pack_double = struct.Struct(">d").pack


def _encode(key: Any, out: bytearray) -> None:
    if isinstance(key, str):  # (and subclasses: a str Enum encodes as its value)
        b = str.encode(key, "utf-8", "surrogatepass")
        out += b"s"
        out += len(b).to_bytes(4, "big")
        out += b
    elif isinstance(key, int):  # bool too: True == 1 is one key
        k = int.__int__(key)
        b = k.to_bytes((k.bit_length() + 8) // 8, "big", signed=True)
        out += b"i"
        out += len(b).to_bytes(2, "big")
        out += b
    elif isinstance(key, float):
        if key.is_integer():  # 2.0 == 2 is one key
            _encode(int(key), out)
        else:
            out += b"f"
            out += _pack_double(key) if key == key else b"nan"
    elif key is None:
        out += b"n"
    elif isinstance(key, bytes):
        out += b"b"
        out += len(key).to_bytes(4, "big")
        out += key
    elif isinstance(key, tuple | list):
        out += b"t"
        out += len(key).to_bytes(4, "big")
        for k in key:
            _encode(k, out)
    elif isinstance(key, frozenset):
        parts = sorted(canonical_key_bytes(k) for k in key)
        out += b"z"
        out += len(parts).to_bytes(4, "big")
        for b in parts:
            out += b
    else:
        raise KeyGroupError(
            f"a key of type {type(key).__name__} has no canonical encoding, so it cannot be assigned to a key group",
            hint="return a str, int, float, bool, bytes, None or a tuple of those from the key selector",
        )


def canonical_key_bytes(key: Any) -> bytes:
    """The canonical encoding of ``key`` (equal keys, equal bytes, in every process)."""
    out = bytearray()
    _encode(key, out)
    return bytes(out)


def _fmix32(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h


def key_hash(key: Any) -> int:
    """A stable 32-bit hash of ``key`` (CRC-32 of the canonical encoding, murmur-mixed)."""
    return _fmix32(zlib.crc32(canonical_key_bytes(key)))


def assign_to_key_group(key: Any, max_parallelism: int) -> int:
    """The key group of ``key``: ``key_hash(key) % max_parallelism``."""
    return key_hash(key) % max_parallelism


def operator_index_for_key_group(max_parallelism: int, parallelism: int, key_group: int) -> int:
    """The subtask (0-based) that owns ``key_group`` at ``parallelism`` (Flink's formula)."""
    return key_group * parallelism // max_parallelism


def key_group_range(max_parallelism: int, parallelism: int, index: int) -> range:
    """The key groups of subtask ``index`` at ``parallelism``: a contiguous range (Flink's formula)."""
    start = (index * max_parallelism + parallelism - 1) // parallelism
    end = ((index + 1) * max_parallelism - 1) // parallelism
    return range(start, end + 1)


class KeyGroupAssigner:
    """Maps keys to key groups and subtasks for one keyed exchange, caching per key (keys repeat).

    ``subtasks(keys)`` is the downstream subtask of every key; ``key_group(key)`` its key group. The cache is
    a plain dict keyed by the key itself, so keys equal in Python share an entry — consistent with the
    canonical encoding, which encodes them equally."""

    __slots__ = ("_cache", "max_parallelism", "parallelism")

    MAX_CACHED = 200_000

    def __init__(self, max_parallelism: int, parallelism: int) -> None:
        self.max_parallelism = max_parallelism
        self.parallelism = parallelism
        self._cache: dict[Any, int] = {}

    def key_group(self, key: Any) -> int:
        return assign_to_key_group(key, self.max_parallelism)

    def subtask(self, key: Any) -> int:
        cache = self._cache
        try:
            return cache[key]
        except KeyError:
            pass
        except TypeError:  # unhashable (a list): encode it every time
            return assign_to_key_group(key, self.max_parallelism) * self.parallelism // self.max_parallelism
        if len(cache) >= self.MAX_CACHED:
            cache.clear()
        s = cache[key] = assign_to_key_group(key, self.max_parallelism) * self.parallelism // self.max_parallelism
        return s

    def subtasks(self, keys: list[Any]) -> list[int]:
        cache = self._cache
        try:
            return list(map(cache.__getitem__, keys))  # the common case: every key seen before (in C)
        except (KeyError, TypeError):
            sub = self.subtask
            return [sub(k) for k in keys]


def key_group_filter(max_parallelism: int, groups: range) -> Callable[[Any], bool]:
    """A predicate: does ``key`` belong to one of ``groups`` (for splitting state on rescaling)?"""
    lo, hi = groups.start, groups.stop

    def owns(key: Any) -> bool:
        return lo <= assign_to_key_group(key, max_parallelism) < hi

    return owns


__all__ = [
    "DEFAULT_LOWER_MAX_PARALLELISM",
    "UPPER_MAX_PARALLELISM",
    "KeyGroupAssigner",
    "KeyGroupError",
    "assign_to_key_group",
    "canonical_key_bytes",
    "check_max_parallelism",
    "default_max_parallelism",
    "key_group_filter",
    "key_group_range",
    "key_hash",
    "operator_index_for_key_group",
]
