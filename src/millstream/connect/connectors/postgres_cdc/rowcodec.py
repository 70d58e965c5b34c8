"""Compiled row decoders: pgoutput tuple data straight to a row dict, one generated function per table
definition (the streaming fast path, :meth:`PostgresConnectorTask._fast_change`).

The general path decodes a change message into a :class:`~.pgoutput.Insert`/``Update``/``Delete`` of text
values (:func:`.pgoutput.decode`), then :meth:`.envelope.TableSchema.row` parses each text into a dict — a
loop over the columns, twice. For a known table the columns, their order and their parsers are fixed, so
:func:`compile_row_decoder` writes that loop out once, unrolled, as Python source: each column is read from
the message bytes and parsed in place (``int``/``float`` columns straight from the bytes, without making a
``str``), and the dict is one literal. :func:`compile_key` does the same for the key struct.

A generated decoder only handles what a server sends for the table as known: the same number of columns,
each text (``t``), null (``n``) or unchanged TOAST (``u``), all within the message. Anything else (another
column count, a binary column, a value its parser rejects, a truncated message) raises, and the caller then
takes the general path for that message, which gives the same result or the same error (naming the
column). So the two paths agree by construction; ``tests/connect_cdc/test_stream_records_pinned.py`` pins
their output and ``test_rowcodec.py`` compares them on random rows.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

_UNPACK_I32 = struct.Struct(">i").unpack_from

RowDecoder = Callable[[bytes, int], tuple[dict[str, Any], int]]
"""``decode(payload, pos) -> (row, pos after the tuple data)``; raises when the general path must decide."""


class Fallback(Exception):
    """The compiled decoder does not handle this tuple: decode the message on the general path."""


def compile_row_decoder(
    names: Sequence[str], parsers: Sequence[Callable[[str], Any] | None], toasts: Sequence[Any]
) -> RowDecoder:
    """A decoder of pgoutput ``TupleData`` for a table with columns ``names``: ``parsers[i]`` turns column
    ``i``'s text into its value (``None``: the text is the value), ``toasts[i]`` stands for an unchanged
    TOASTed value."""
    n = len(names)
    ns: dict[str, Any] = {"unpack": _UNPACK_I32, "Fallback": Fallback}
    lines = [
        "def decode_row(buf, pos):",
        f"    if buf[pos] != {n >> 8} or buf[pos + 1] != {n & 0xFF}:",
        "        raise Fallback",
        "    pos += 2",
    ]
    for i, parse in enumerate(parsers):
        if parse is None:
            text = "buf[pos + 5 : e].decode()"
        elif parse is int or parse is float:  # both take the ASCII bytes as they take the str
            text = f"{parse.__name__}(buf[pos + 5 : e])"
        else:
            ns[f"p{i}"] = parse
            text = f"p{i}(buf[pos + 5 : e].decode())"
        ns[f"t{i}"] = toasts[i]
        lines += [
            "    k = buf[pos]",
            "    if k == 116:",  # 't'
            "        e = pos + 5 + unpack(buf, pos + 1)[0]",
            f"        v{i} = {text}",
            "        pos = e",
            "    elif k == 110:",  # 'n'
            f"        v{i} = None",
            "        pos += 1",
            "    elif k == 117:",  # 'u'
            f"        v{i} = t{i}",
            "        pos += 1",
            "    else:",
            "        raise Fallback",
        ]
    items = ", ".join(f"{name!r}: v{i}" for i, name in enumerate(names))
    lines += ["    if pos > len(buf):", "        raise Fallback", f"    return {{{items}}}, pos"]  # truncated
    exec("\n".join(lines), ns)  # the source: built above, names repr()'d
    decode: RowDecoder = ns["decode_row"]
    return decode


def compile_key(names: Sequence[str]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``row -> {name: row[name] for name in names}`` as one dict literal."""
    ns: dict[str, Any] = {}
    items = ", ".join(f"{name!r}: row[{name!r}]" for name in names)
    exec(f"def key_of(row):\n    return {{{items}}}", ns)
    key_of: Callable[[dict[str, Any]], dict[str, Any]] = ns["key_of"]
    return key_of


__all__ = ["Fallback", "RowDecoder", "compile_key", "compile_row_decoder"]
