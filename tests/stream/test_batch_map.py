"""``BatchMapFunction``: a map function the engine hands whole batches (``map_batch``), with the results of
mapping each element; when ``map_batch`` raises, the elements are mapped one by one, so an error names the
element that failed."""

from __future__ import annotations

import pytest

from millstream import StreamExecutionEnvironment
from millstream.stream.errors import JobFailedError
from millstream.stream.functions import BatchMapFunction


class Doubler:
    def __init__(self) -> None:
        self.batches = 0

    def __call__(self, value: int) -> int:
        return value * 2

    def map_batch(self, values: list[int]) -> list[int]:
        self.batches += 1
        return [v * 2 for v in values]


class FailsOnThree:
    def __call__(self, value: int) -> int:
        if value == 3:
            raise ValueError("three is not allowed")
        return value

    def map_batch(self, values: list[int]) -> list[int]:
        raise ValueError("some element of the batch is bad")


def test_a_batch_map_function_maps_whole_batches_with_per_element_results() -> None:
    assert isinstance(Doubler(), BatchMapFunction) and not isinstance(lambda v: v, BatchMapFunction)
    env = StreamExecutionEnvironment.get_execution_environment()
    assert list(env.from_collection(list(range(10))).map(Doubler()).execute_and_collect()) == [v * 2 for v in range(10)]


def test_a_failing_batch_is_mapped_per_element_and_the_error_names_the_element() -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    with pytest.raises(JobFailedError, match="three is not allowed") as info:
        list(env.from_collection([1, 2, 3, 4]).map(FailsOnThree()).name("picky").execute_and_collect())
    assert "picky" in str(info.value) and "3" in str(info.value)


def test_on_error_still_routes_one_element() -> None:
    from millstream.functions import OutputTag

    bad = OutputTag("bad")
    env = StreamExecutionEnvironment.get_execution_environment()
    mapped = env.from_collection([1, 2, 3, 4]).map(FailsOnThree()).on_error(bad)
    out = mapped.execute_and_collect()
    assert list(out) == [1, 2, 4]
