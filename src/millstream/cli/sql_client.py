"""The SQL client behind ``millstream sql``: runs statements and prints their results like Flink's SQL
client, from a script or interactively.

Interactive mode (a terminal on stdin, no ``-f``): a ``Flink SQL>`` prompt; a statement may span lines and
runs when a line ends it with ``;``; an error is printed and the session goes on; ``QUIT;``/``EXIT;`` or
Ctrl-D leave; Ctrl-C clears the statement being typed, or cancels the running job. History is kept with
``readline`` (in ``~/.millstream_sql_history`` when it can be written).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..core.errors import MillstreamError

PROMPT = "Flink SQL> "
CONTINUATION = "> "


class SqlClient:
    """Runs statements on one ``StreamTableEnvironment`` and echoes their results."""

    def __init__(self, tenv: Any, echo: Callable[[str], None] = click.echo) -> None:
        self.tenv = tenv
        self.echo = echo

    def run(self, statement: Any) -> None:
        """Execute one parsed statement; ``INSERT`` jobs run to their end (Ctrl-C cancels them); queries show
        their results in the session's result mode (:meth:`query`)."""
        from sqlglot import exp

        if statement.command is None and isinstance(statement.tree, exp.Select | exp.Union | exp.Subquery):
            self.query(statement)
            return
        result = self.tenv.execute_statement(statement)
        if statement.command == "STATEMENT SET" or type(statement.tree).__name__ == "Insert":
            self.echo("[INFO] Submitting SQL update statement to the cluster...")
            client = result.get_job_client()
            try:
                result.wait()
            except KeyboardInterrupt:
                client.cancel()
                self.echo(f"[INFO] Job {client.get_job_id()} cancelled.")
                raise
            self.echo(f"[INFO] Job {client.get_job_id()} finished.")
        elif result.fields and result.fields[0].name == "result":
            self.echo("[INFO] Execute statement succeeded.")
        else:
            self.echo(result.to_tableau())

    def query(self, statement: Any) -> None:
        """Run a query and show its results as they arrive, in ``sql-client.execution.result-mode``:

        * ``tableau`` (the default here): Flink's streaming tableau, a boxed row with its ``op`` per change,
          then ``Received a total of N rows``;
        * ``changelog``: one line per change, ``+I[home, 1]``, ``-U[...]``;
        * ``table``: the changes applied to a table, shown when the query ends: the current result, without
          row kinds (at most ``sql-client.execution.max-table-result.rows`` rows, the oldest dropped).

        Ctrl-C cancels the job; what arrived until then is shown (``table``: the result so far), then the
        interrupt goes on to the caller."""
        from ..sql.tableau import MAX_COLUMN_WIDTH, Materialized, StreamingTableau, changelog_line, render_table

        config = self.tenv.config
        mode = config.get("sql-client.execution.result-mode", "tableau")
        table = self.tenv.sql_query_tree(statement.tree, statement.text)
        fields, tz = table.fields, self.tenv.time_zone
        tableau = StreamingTableau(fields, tz, int(config.get("sql-client.display.max-column-width", MAX_COLUMN_WIDTH)))
        materialized = Materialized(int(config.get("sql-client.execution.max-table-result.rows", 1_000_000)))
        if mode == "tableau":
            self.echo(tableau.header())
        interrupted = False
        with table.changes() as changes:
            try:
                for kind, values in changes:
                    if mode == "tableau":
                        self.echo(tableau.row(kind, values))
                    elif mode == "changelog":
                        self.echo(changelog_line(kind, values, fields, tz))
                    else:
                        materialized.apply(kind, values)
            except KeyboardInterrupt:
                interrupted = True
        if mode == "tableau":
            self.echo(tableau.footer(interrupted))
        elif mode == "table":
            self.echo(render_table(fields, materialized.rows, tz))
        if interrupted:
            raise KeyboardInterrupt

    def run_script(self, text: str) -> None:
        """Every statement of ``text`` in order; the first error stops (raised to the caller)."""
        from ..sql.statements import script

        for st in script(text):
            self.run(st)

    def interactive(self, read_line: Callable[[str], str]) -> None:
        """The prompt loop; ``read_line(prompt)`` is ``input`` (raising ``EOFError`` at the end)."""
        from ..sql.errors import SqlParseError
        from ..sql.statements import script

        buffer = ""
        while True:
            try:
                line = read_line(CONTINUATION if buffer else PROMPT)
            except EOFError:
                self.echo("")
                return
            except KeyboardInterrupt:
                buffer = ""
                self.echo("")
                continue
            buffer += line + "\n"
            if not _complete(buffer):
                continue
            if buffer.strip().rstrip(";").strip().upper() in ("QUIT", "EXIT"):
                return
            try:
                statements = script(buffer)
            except SqlParseError as exc:
                if "STATEMENT SET has no END" in exc.message:
                    continue  # keep reading the set's inserts
                self._error(exc)
                buffer = ""
                continue
            buffer = ""
            for st in statements:
                try:
                    self.run(st)
                except KeyboardInterrupt:
                    self.echo("[INFO] Interrupted.")
                    break
                except MillstreamError as exc:
                    self._error(exc)
                    break

    def _error(self, exc: MillstreamError) -> None:
        self.echo(f"[ERROR] {exc.message}")
        if exc.hint:
            self.echo(f"hint: {exc.hint}")


def _complete(text: str) -> bool:
    """Whether ``text`` ends with a ``;`` outside quotes and comments."""
    from sqlglot import TokenType
    from sqlglot.errors import TokenError

    from ..sql.dialect import Flink

    try:
        tokens = Flink().tokenize(text)
    except TokenError:
        return False  # e.g. an unclosed string: keep reading
    return bool(tokens) and tokens[-1].token_type == TokenType.SEMICOLON


def readline_input(history_file: str | None) -> Callable[[str], str]:
    """``input`` with line editing and history (saved to ``history_file`` after each line, if possible)."""
    try:
        import readline
    except ImportError:  # pragma: no cover - platforms without readline
        return input
    if history_file:
        try:
            readline.read_history_file(history_file)
        except OSError:
            pass

    def read(prompt: str) -> str:
        line = input(prompt)
        if history_file:
            try:
                readline.write_history_file(history_file)
            except OSError:
                pass
        return line

    return read


__all__ = ["CONTINUATION", "PROMPT", "SqlClient", "readline_input"]
