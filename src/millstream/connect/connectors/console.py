"""Console sink: prints each record's value (optionally key, topic/partition/offset) to standard output."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TextIO

from ...core.record import TopicPartition
from ..api import SinkConnector, SinkTask
from ..config import ConfigDef, Importance, Type
from ..data import SinkRecord
from .file import format_line


class ConsoleSinkConnector(SinkConnector):
    """Prints records to stdout: ``print.key`` adds ``key<TAB>``, ``print.metadata`` adds
    ``topic[p]@offset<TAB>``."""

    CONFIG_DEF = (
        ConfigDef()
        .define("print.key", Type.BOOLEAN, False, importance=Importance.LOW, documentation="Print the key too.")
        .define(
            "print.metadata",
            Type.BOOLEAN,
            False,
            importance=Importance.LOW,
            documentation="Print topic[partition]@offset too.",
        )
    )

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[ConsoleSinkTask]:
        return ConsoleSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props)]

    def stop(self) -> None:
        pass

    def alter_offsets(self, connector_config: Mapping[str, str], offsets: Mapping[TopicPartition, int | None]) -> bool:
        return True


class ConsoleSinkTask(SinkTask):
    """Writes one line per record to ``out`` (stdout by default)."""

    out: TextIO | None = None

    def start(self, props: Mapping[str, str]) -> None:
        c = ConsoleSinkConnector.CONFIG_DEF.parse(props)
        self.print_key = c["print.key"]
        self.print_metadata = c["print.metadata"]

    def put(self, records: list[SinkRecord]) -> None:
        out = self.out or sys.stdout
        lines = []
        for r in records:
            prefix = ""
            if self.print_metadata:
                prefix += f"{r.topic}[{r.kafka_partition}]@{r.kafka_offset}\t"
            if self.print_key:
                prefix += format_line(r.key) + "\t"
            lines.append(prefix + format_line(r.value) + "\n")
        out.write("".join(lines))

    def flush(self, current_offsets: Mapping[TopicPartition, int]) -> None:
        (self.out or sys.stdout).flush()

    def stop(self) -> None:
        pass
