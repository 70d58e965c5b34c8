"""Splits SQL text into statements and parses each with the Flink dialect, keeping positions: an error
names the line and column in the whole text. Short client statements (``SHOW``, ``DESCRIBE``, ``SET``,
``RESET``, ``EXPLAIN``, ``USE``) are recognised here, since sqlglot reads them only as opaque commands."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from .dialect import Flink
from .errors import SqlParseError


@dataclass(frozen=True)
class Statement:
    """One statement: its text, where it starts (1-based line), and either a parsed tree or a client
    command (``command`` = SHOW/DESCRIBE/SET/RESET/EXPLAIN/USE with ``argument``)."""

    text: str
    line: int
    tree: exp.Expression | None = None
    command: str | None = None
    argument: str = ""
    inserts: tuple[Statement, ...] = ()
    """The ``INSERT`` statements of a statement set (``command`` = ``STATEMENT SET``)."""


FUNCTION_DDL = re.compile(
    r"^\s*(?P<verb>CREATE|DROP)\s+(?P<temporary>TEMPORARY\s+)?(?P<system>SYSTEM\s+)?FUNCTION\s+"
    r"(?:(?P<if_not_exists>IF\s+NOT\s+EXISTS)\s+|(?P<if_exists>IF\s+EXISTS)\s+)?(?P<name>`[^`]+`|\w+)"
    r"(?:\s+AS\s+'(?P<path>[^']+)'(?:\s+LANGUAGE\s+(?P<language>\w+))?)?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
"""``CREATE|DROP [TEMPORARY] [SYSTEM] FUNCTION ...`` (Python functions: :mod:`millstream.sql.udf`), which sqlglot
does not parse."""

_COMMAND = re.compile(r"^\s*(SHOW|DESCRIBE|DESC|SET|RESET|EXPLAIN|USE)\b\s*(.*?)\s*$", re.IGNORECASE | re.DOTALL)


def split(text: str) -> list[tuple[str, int]]:
    """Statements of a script (separated by ``;`` outside strings and comments) with their start line."""
    try:
        tokens = Flink().tokenize(text)
    except TokenError as exc:
        raise SqlParseError(str(exc), hint="check for an unclosed quote or comment") from exc
    out: list[tuple[str, int]] = []
    start = 0
    for tok in tokens:
        if tok.token_type == sqlglot.TokenType.SEMICOLON:
            out.append((text[start : tok.start], start))
            start = tok.end + 1
    out.append((text[start:], start))
    result = []
    for chunk, offset in out:
        stripped = _strip_comments(chunk)
        if stripped.strip():
            lead = len(chunk) - len(chunk.lstrip())
            result.append((chunk.strip(), text.count("\n", 0, offset + lead) + 1))
    return result


_SET_START = re.compile(r"^\s*(?:EXECUTE\s+STATEMENT\s+SET\s+BEGIN|BEGIN\s+STATEMENT\s+SET)\b", re.IGNORECASE)


def script(text: str) -> list[Statement]:
    """All statements of a script, parsed; ``EXECUTE STATEMENT SET BEGIN ...; ...; END`` (and the SQL
    client's ``BEGIN STATEMENT SET; ...; END``) become one statement whose ``inserts`` run as one job."""
    chunks = split(text)
    out: list[Statement] = []
    i = 0
    while i < len(chunks):
        chunk, line = chunks[i]
        body = _strip_comments(chunk)
        m = _SET_START.match(body)
        if m is None:
            out.append(parse(chunk, line))
            i += 1
            continue
        inserts: list[Statement] = []
        first = body[m.end() :]
        if first.strip():
            inserts.append(parse(first.strip(), line + body[: m.end() + len(first) - len(first.lstrip())].count("\n")))
        i += 1
        while i < len(chunks) and _strip_comments(chunks[i][0]).strip().upper() != "END":
            inserts.append(parse(*chunks[i]))
            i += 1
        if i == len(chunks):
            raise SqlParseError("a STATEMENT SET has no END", hint="close it with END;", line=line, column=1)
        i += 1
        for st in inserts:
            if not isinstance(st.tree, exp.Insert):
                raise SqlParseError(
                    "a STATEMENT SET may only hold INSERT INTO statements",
                    hint="move other statements before it",
                    line=st.line,
                    column=1,
                )
        out.append(Statement(chunk, line, command="STATEMENT SET", inserts=tuple(inserts)))
    return out


def _strip_comments(text: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", "", text, flags=re.DOTALL)


def parse(text: str, line: int = 1) -> Statement:
    """Parse one statement (``line`` = where it starts in the script, for error positions)."""
    body = _strip_comments(text).strip()
    if FUNCTION_DDL.match(body):
        return Statement(text, line, command="FUNCTION", argument=body)
    m = _COMMAND.match(body)
    if m and not (m.group(1).upper() == "SET" and "=" not in m.group(2) and m.group(2)):
        cmd = m.group(1).upper()
        return Statement(text, line, command="DESCRIBE" if cmd == "DESC" else cmd, argument=m.group(2).rstrip(";"))
    try:
        trees = sqlglot.parse(text, read=Flink)
    except ParseError as exc:
        err = exc.errors[0] if exc.errors else {}
        desc = str(err.get("description") or exc).split(". Line")[0]
        lno = err.get("line")
        col = err.get("col")
        raise SqlParseError(
            f"cannot parse: {desc}" + (f" near '{err.get('highlight')}'" if err.get("highlight") else ""),
            hint="check the statement against Flink SQL's syntax (docs/sql.md lists what millstream supports)",
            line=(line + lno - 1) if lno else None,
            column=col,
        ) from None
    trees = [t for t in trees if t is not None]
    if len(trees) != 1:
        raise SqlParseError(
            f"expected one statement, got {len(trees)}", hint="separate statements with ';'", line=line, column=1
        )
    tree = trees[0]
    assert isinstance(tree, exp.Expression)
    if line > 1:
        for node in tree.walk():
            if node.meta.get("line") is not None:
                node.meta["line"] += line - 1
    return Statement(text, line, tree=tree)


__all__ = ["Statement", "parse", "script", "split"]
