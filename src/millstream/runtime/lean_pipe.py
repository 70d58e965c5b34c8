"""The lean loop's piped round: a job that is one log partition, at most one ``map`` and a log sink, a round
in one call to the log.

Where the source's reader lends its partition to a pipe (:class:`~millstream.runtime.sources.PipeSources`) and
the sink's log pipes into its topic (:meth:`~millstream.runtime.sinks.LogSinkOperator.pipe_target`, Kafka into
Kafka), a plain round of the lean loop (:mod:`~millstream.runtime.lean_loop`) is one call of the pipe
(:class:`~millstream.log.columns.ValuesPipes`): it waits for records, reads them, and hands the producer each
record's value decoded, mapped and serialized as the producer takes it (``map(serialize, map(fn, map(decode,
values)))``), with the records' timestamps. No list of values, elements or serialized values is built between
the read and the write, and there is one Python frame per round besides the user's functions — the lean loop's
cost per event is then that of a bare consume-map-produce loop.

It writes what the plain round writes (the same values, timestamps and partitions, keyless) and keeps the same
counts (``seen``, ``records_out``, watermarks) of the source, the map and the sink. A batch the pipe does not
write (:class:`~millstream.log.columns.ValuesPipes`: a timestamp a write does not take, no room in the
producer's queue, a read that was not a tailing read of records only) goes the plain round's way: decoded,
mapped and written by the sink's prepared write.

A failure is named as the plain round names it, found after the fact (``failed``): a record that does not
decode fails the read naming the record, and the position stays before the batch (the restarted job reads it
again); a tombstone (JSON) is the element ``None`` and goes on through the map and the serializer; a failing
``map`` is named with its element (told from the traceback: the exception passed through the function's code);
else the serializer failed, and is named with the element the map makes of the record again (its function is
called once more for that). The records before the failing one are written, as a job that handles one record at
a time would have, and the position moves past the failing record.

Only for a ``map`` whose function's code can be told (a Python function, method, callable object or
``functools.partial`` of one): a builtin's failure could not be told from the serializer's, and such a chain
keeps the plain round.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from time import time_ns
from types import CodeType
from typing import TYPE_CHECKING, Any, cast

from ..core.clock import SYSTEM_CLOCK
from ..core.errors import OffsetOutOfRangeError
from ..core.record import Record
from ..stream.operators.basic import MapOperator, annotate, call_each
from .sinks import LogSinkOperator
from .sources import PipeSources

if TYPE_CHECKING:
    from .job import SourceDriver
    from .lean_loop import LeanChain


def code_of(fn: Callable[..., Any]) -> CodeType | None:
    """The code object a call of ``fn`` runs first (a function's, a bound method's, a callable object's
    ``__call__``'s, through ``functools.partial``); ``None`` for a builtin or anything else."""
    for _ in range(8):  # (partials of partials: a few at most)
        if isinstance(fn, partial):
            fn = fn.func
            continue
        code = getattr(fn, "__code__", None) or getattr(getattr(fn, "__func__", None), "__code__", None)
        if isinstance(code, CodeType):
            return code
        code = getattr(type(fn).__call__, "__code__", None)  # (a callable object's method; a builtin has none)
        return code if isinstance(code, CodeType) else None
    return None


def _raised_in(exc: BaseException, code: CodeType) -> bool:
    """Whether ``exc`` passed through a frame of ``code`` (its traceback, from where it was caught)."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is code:
            return True
        tb = tb.tb_next
    return False


def piped_round(driver: SourceDriver, chain: LeanChain, pid: Any) -> Callable[[int, float], int] | None:
    """The plain round of partition ``pid`` through a pipe (see the module docstring); ``None`` where there is
    none: the reader, the sink or its log have no pipe, or the chain is not at most one ``map`` whose code can be
    told. Call once the sink is open and its prepared write taken (``chain.write``), in a job without
    checkpoints."""
    sink, write, ops = chain.sink, chain.write, chain.ops
    reader = driver.reader
    if write is None or not isinstance(sink, LogSinkOperator) or not isinstance(reader, PipeSources):
        return None
    if len(ops) > 1 or (ops and (type(ops[0]) is not MapOperator or cast(MapOperator, ops[0])._batch is not None)):
        return None
    map_op = cast(MapOperator, ops[0]) if ops else None
    fn = None if map_op is None else map_op.fn
    code = None if fn is None else code_of(fn)
    if fn is not None and code is None:
        return None
    source = reader.pipe_source(pid)
    target = sink.pipe_target() if source is not None else None
    if source is None or target is None:
        return None
    decode, decode_record, elements, serialize = source.decode, source.decode_record, source.elements, target.serialize
    prepared_write: Callable[[list[Any], list[Any]], None] = write
    positions = reader.positions

    convert = (decode, serialize) if fn is None else (decode, fn, serialize)

    def mapped(element: Any, i: int) -> Any:
        """The map's output of ``element`` (the batch's ``i``-th), a failure named as its stage names it."""
        if map_op is None:
            return element
        try:
            return map_op.fn(element)
        except Exception as exc:
            annotate(exc, map_op, map_op.seen + i, element)
            raise

    def failed(exc: Exception, i: int, record: Record) -> Any:
        """The pipe's ``failed`` (:data:`~millstream.log.columns.PipeFailed`): what failed on the batch's record
        ``i``, named as the plain round names it (see the module docstring); a tombstone's value to write."""
        try:
            element = decode(record.value)
        except Exception:  # the record's value does not decode by the read's function: the failure was that
            element = decode_record(record)  # (raises the read's error, position unmoved: read again on restart)
            positions[pid] = record.offset + 1  # (a tombstone's element: read)
            value = mapped(element, i)
            try:
                return serialize(value)
            except Exception as exc2:
                annotate(exc2, sink, sink.seen + i, value)
                raise
        positions[pid] = record.offset + 1  # (the failure is the map's or the serializer's: the record was read)
        if code is not None and _raised_in(exc, code):
            annotate(exc, cast(MapOperator, map_op), cast(MapOperator, map_op).seen + i, element)
            raise exc
        annotate(exc, sink, sink.seen + i, mapped(element, i))  # (the serializer's)
        raise exc

    pipe = target.log.values_pipe(source.handle, target.topic, convert, failed)
    if pipe is None:
        return None
    out, last_data, now_ms = driver.out, driver.last_data, driver.clock.now_ms
    system_clock = driver.clock is SYSTEM_CLOCK  # (its now_ms without the call)
    out.watermark = driver.gens[pid].wm  # (a plain driver's watermark does not move: set once, not every round)
    map_out = None if map_op is None else map_op.out
    if map_out is not None:
        map_out.watermark = out.watermark
    partition = sink.partition_in_turn()
    piped = sink.piped

    def round_(batch: int, wait_s: float) -> int:
        nonlocal partition
        pos = positions[pid]
        try:
            nxt, n, values, tss = pipe(pos, batch, wait_s, partition)
        except OffsetOutOfRangeError as exc:  # as the plain round's read: on at the log start
            positions[pid] = max(pos, exc.earliest)
            return 0
        if not n:
            return 0
        if values is None:  # written
            positions[pid] = nxt
            partition = piped(n)
        else:  # the plain round's way: decoded (the position moved on), mapped, written by the prepared write
            values, tss = elements(pos, nxt, values, cast(list[Any], tss))
            if map_op is not None:
                values = call_each(map_op, map_op.fn, values)
            prepared_write(values, tss)
            partition = sink.partition_in_turn()
        driver.seen += n
        last_data[pid] = time_ns() // 1_000_000 if system_clock else now_ms()
        out.records_out += n
        if map_op is not None:
            map_op.seen += n
            map_out.records_out += n  # type: ignore[union-attr]
        return n

    return round_


__all__ = ["code_of", "piped_round"]
