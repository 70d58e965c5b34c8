"""FileStreamSource and FileStreamSink, with Kafka's config keys.

FileStreamSource (``file``, ``topic``, ``batch.size``) reads a text file line by line — and keeps following
lines appended later — into one topic. Each record's source partition is ``{"filename": <file>}`` and its
offset ``{"position": <byte offset after the line>}``, so a restarted task resumes after the last stored line.
Only complete (newline-terminated) lines are read; a partial last line waits for its newline. An empty
``file`` reads standard input (not resumable).

FileStreamSink (``file``, ``topics``) appends each record's value as one line (strings as they are, maps and
lists as JSON, null as ``null``). Each ``put`` hands its lines to the operating system before it returns
(readers of the file see them at once, as with Kafka's FileStreamSink); the consumer group commits only
offsets of records ``put`` accepted, so after a crash lines may repeat but are never lost. An empty ``file``
writes standard output.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping
from itertools import accumulate, repeat
from operator import add, itemgetter
from typing import Any, BinaryIO, TextIO

import orjson

from ...core.record import TopicPartition
from ...log.batch_codec import gc_paused
from ..api import SinkConnector, SinkTask, SourceConnector, SourceTask
from ..config import ConfigDef, ConfigValue, Importance, Range, Type
from ..data import STRING_SCHEMA, SinkRecord, SourceRecord
from ..errors import ConnectError

log = logging.getLogger("millstream.connect.file")
_VALUE = itemgetter(5)
_STR_ONLY = {str}


def _single_topic(name: str, value: Any) -> None:
    if value is None or not str(value).strip():
        raise ValueError("String must be non-empty")
    if "," in str(value):
        raise ValueError("'topic' must be a single topic name; FileStreamSource writes to exactly one topic")


class FileStreamSourceConnector(SourceConnector):
    """Reads lines of a file (or stdin) into a topic. See the module docstring."""

    #: the worker checks these paths against ``allowed.paths`` and the log's own files (path_policy)
    FILE_PATH_KEYS = ("file",)

    CONFIG_DEF = (
        ConfigDef()
        .define(
            "file",
            Type.STRING,
            None,
            importance=Importance.HIGH,
            documentation="Source filename. If not specified, the standard input will be used",
        )
        .define(
            "topic",
            Type.STRING,
            validator=_single_topic,
            importance=Importance.HIGH,
            documentation="The topic to publish data to",
        )
        .define(
            "batch.size",
            Type.INT,
            2000,
            validator=Range.at_least(1),
            importance=Importance.LOW,
            documentation="The maximum number of records the source task can read from the file each time it is polled",
        )
    )

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)
        self.values = self.CONFIG_DEF.parse(props)

    def task_class(self) -> type[FileStreamSourceTask]:
        return FileStreamSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        cfg = {"topic": self.values["topic"], "batch.size": str(self.values["batch.size"])}
        if self.values["file"]:
            cfg["file"] = self.values["file"]
        return [cfg]  # one file, one task

    def stop(self) -> None:
        pass

    def alter_offsets(self, connector_config: Mapping[str, str], offsets: Mapping[Any, Any]) -> bool:
        for off in offsets.values():
            if off is None:
                continue
            pos = off.get("position") if isinstance(off, Mapping) else None
            if not isinstance(pos, int) or isinstance(pos, bool) or pos < 0:
                raise ConnectError(f'FileStreamSource offsets must be {{"position": <byte offset >= 0>}}, got {off!r}')
        return True


class FileStreamSourceTask(SourceTask):
    """Reads complete lines from the file position it resumes at (see the module docstring)."""

    IDLE_WAIT_S = 0.2
    CHUNK_BYTES = 1 << 20

    def start(self, props: Mapping[str, str]) -> None:
        self.filename = props.get("file") or ""
        self.topic = props["topic"]
        self.batch_size = int(props.get("batch.size", 2000))
        self.partition = {"filename": self.filename}
        self.stream: BinaryIO | None = None
        self.position = 0
        self._partial = b""
        self._lines: list[str] = []
        self._lengths: list[int] | None = None
        self._next = 0
        self._crlf = False
        self._warned = False
        self._stopping = threading.Event()

    def _open(self) -> bool:
        if not self.filename:
            self.stream = sys.stdin.buffer
            return True
        try:
            stream = open(self.filename, "rb")  # noqa: SIM115 - kept open across polls
        except FileNotFoundError:
            if self._warned:
                return False
            self._warned = True
            log.warning(
                "couldn't find file %s for FileStreamSourceTask, sleeping to wait for it to be created",
                self.filename,
            )
            return False
        except OSError as exc:
            raise ConnectError(f"cannot open {self.filename} for reading: {exc}") from exc
        offset = self.context.offset_storage_reader().offset(self.partition)
        if offset is not None:
            pos = offset.get("position")
            if not isinstance(pos, int) or pos < 0:
                stream.close()
                raise ConnectError(f"stored offset for {self.filename} is not a byte position: {offset!r}")
            size = os.fstat(stream.fileno()).st_size
            if pos > size:
                log.warning(
                    "%s is shorter (%d bytes) than the stored position %d; reading from the start",
                    self.filename,
                    size,
                    pos,
                )
                pos = 0
            stream.seek(pos)
            self.position = pos
        self.stream = stream
        return True

    def _read_lines(self, stream: BinaryIO) -> bool:
        """Read the next chunk; queue its complete lines as ``(text, byte length incl. newline)``."""
        chunk = stream.read1(self.CHUNK_BYTES)  # type: ignore[attr-defined]
        if not chunk:
            return False
        data = self._partial + chunk if self._partial else chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self._partial = data
            return False
        self._partial = data[cut + 1 :]
        block = data[:cut]
        text = block.decode("utf-8", "replace")
        if len(text) == len(block):  # ASCII: character counts are byte counts
            lines = text.split("\n")
            self._lengths = None
        else:
            raw = block.split(b"\n")
            lines = [b.decode("utf-8", "replace") for b in raw]
            self._lengths = [len(b) + 1 for b in raw]
        self._crlf = "\r" in text
        self._lines, self._next = lines, 0
        return True

    def poll(self) -> list[SourceRecord] | None:
        if self._stopping.is_set():
            return None
        if self.stream is None and not self._open():
            self._stopping.wait(1.0)
            return None
        stream = self.stream
        assert stream is not None
        if self._next >= len(self._lines) and not self._read_lines(stream):
            self._stopping.wait(self.IDLE_WAIT_S)
            return None
        with gc_paused():  # thousands of new tuples: one collection afterwards, not one per 700
            return self._next_batch()

    def _next_batch(self) -> list[SourceRecord]:
        """Up to ``batch.size`` records from the queued lines (there is at least one)."""
        start = self._next
        take = self._lines[start : start + self.batch_size]
        n = len(take)
        self._next = start + n
        # byte position after each line, computed column-wise: pos + cumulative (length + newline)
        if self._lengths is not None:
            lengths: Any = self._lengths[start : start + n]
        else:
            lengths = map(add, map(len, take), repeat(1, n))
        positions = list(accumulate(lengths, initial=self.position))[1:]
        if self._crlf:
            take = [line[:-1] if line.endswith("\r") else line for line in take]
        if self.filename:
            offsets: Any = [{"position": p} for p in positions]
        else:
            offsets = repeat(None, n)
        records = list(
            map(
                tuple.__new__,
                repeat(SourceRecord, n),
                zip(
                    repeat(self.topic, n),
                    repeat(None, n),
                    repeat(None, n),
                    repeat(None, n),
                    repeat(STRING_SCHEMA, n),
                    take,
                    repeat(None, n),
                    repeat((), n),
                    repeat(self.partition, n),
                    offsets,
                    strict=True,
                ),
            )
        )
        pos = positions[-1] if positions else self.position
        self.position = pos
        return records

    def stop(self) -> None:
        self._stopping.set()
        # the stream is closed by the GC / process exit; closing it here could race a poll() in progress


class FileStreamSinkConnector(SinkConnector):
    """Appends record values as lines to a file (or stdout). See the module docstring."""

    #: the worker checks these paths against ``allowed.paths`` and the log's own files (path_policy)
    FILE_PATH_KEYS = ("file",)

    CONFIG_DEF = ConfigDef().define(
        "file",
        Type.STRING,
        None,
        importance=Importance.HIGH,
        documentation="Destination filename. If not specified, the standard output will be used",
    )

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[FileStreamSinkTask]:
        return FileStreamSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        cfg = {k: v for k, v in self.props.items() if k in ("file", "topics", "topics.regex")}
        return [dict(cfg) for _ in range(max_tasks)]

    def stop(self) -> None:
        pass

    def validate(self, props: Mapping[str, str]) -> list[ConfigValue]:
        values = super().validate(props)
        path = props.get("file")
        if path:
            parent = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(parent):
                for v in values:
                    if v.name == "file":
                        v.errors.append(
                            f"Invalid value {path} for configuration file: directory {parent} does not exist"
                        )
        return values

    def alter_offsets(self, connector_config: Mapping[str, str], offsets: Mapping[TopicPartition, int | None]) -> bool:
        return True  # offsets live only in the consumer group


def format_line(value: Any) -> str:
    """How FileStreamSink and the console sink print a value."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict | list):
        from ..converters import json_default

        return orjson.dumps(value, default=json_default, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class FileStreamSinkTask(SinkTask):
    """Writes one line per record; each ``put`` flushes its lines to the file (``flush`` flushes again)."""

    def start(self, props: Mapping[str, str]) -> None:
        self.filename = props.get("file") or ""
        self.out: TextIO
        if self.filename:
            try:
                self.out = open(self.filename, "a", encoding="utf-8", buffering=1 << 16)  # noqa: SIM115
            except OSError as exc:
                raise ConnectError(
                    f"Couldn't find or create file '{self.filename}' for FileStreamSinkTask: {exc}"
                ) from exc
        else:
            self.out = sys.stdout

    def put(self, records: list[SinkRecord]) -> None:
        if not records:
            return
        values = list(map(_VALUE, records))
        lines = values if set(map(type, values)) == _STR_ONLY else [format_line(v) for v in values]
        lines.append("")
        out = self.out
        out.write("\n".join(lines))
        out.flush()  # like Kafka's FileStreamSink: lines reach the file as put() returns, not at the next commit

    def flush(self, current_offsets: Mapping[TopicPartition, int]) -> None:
        self.out.flush()

    def stop(self) -> None:
        if self.filename and not self.out.closed:
            self.out.flush()
            self.out.close()


__all__ = [
    "FileStreamSinkConnector",
    "FileStreamSinkTask",
    "FileStreamSourceConnector",
    "FileStreamSourceTask",
    "format_line",
]
