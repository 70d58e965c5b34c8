"""``runtime.lean_pipe.code_of``: the code a call of a map's function runs first, by which the piped round tells a
failing map from a failing serializer (a builtin has none: such a chain keeps the plain round)."""

from __future__ import annotations

from functools import partial
from typing import Any

from millstream.runtime.lean_pipe import code_of
from millstream.stream.functions import MapFunction, as_map


def add(e: Any, n: int = 1) -> Any:
    return e + n


class Adder(MapFunction):
    def map(self, value: Any) -> Any:
        return value + 1


class Callable_:
    def __call__(self, e: Any) -> Any:
        return e


def test_the_code_of_functions_methods_callable_objects_and_partials():
    assert code_of(add) is add.__code__
    lam = lambda e: e  # noqa: E731
    assert code_of(lam) is lam.__code__
    assert code_of(Adder().map) is Adder.map.__code__
    assert code_of(as_map(Adder())) is Adder.map.__code__  # (a job calls a MapFunction's map)
    assert code_of(Callable_()) is Callable_.__call__.__code__
    assert code_of(partial(add, n=2)) is add.__code__
    assert code_of(partial(partial(add), n=3)) is add.__code__


def test_builtins_have_no_code():
    assert code_of(str) is None
    assert code_of(len) is None
    assert code_of(partial(int, base=2)) is None
