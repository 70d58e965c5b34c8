"""``millstream sql -f job.sql`` — run a Flink SQL script on millstream (``millstream sql`` alone, on a
terminal, opens an interactive prompt: see :mod:`millstream.cli.sql_client`).

Statements are separated by ``;``. Each runs in order like in Flink's SQL client: DDL prints
``[INFO] Execute statement succeeded.``, queries show their results as they arrive in
``SET 'sql-client.execution.result-mode'`` (``tableau`` by default, ``changelog``, ``table``; see
:meth:`millstream.cli.sql_client.SqlClient.query`), ``SHOW`` and ``DESCRIBE`` print a table, and
``INSERT INTO`` runs its job to the end before the next statement (Flink's ``'table.dml-sync' = 'true'``;
an unbounded job runs until Ctrl-C). Without ``-f`` the script is read from standard input. A statement
error stops the script, naming the line and column in the file and what to write instead (exit code 2).
The ``millstream`` connector uses ``--log`` (or ``$MILLSTREAM_LOG``) when a table sets no ``'log'`` option.
"""

from __future__ import annotations

import os
import sys

import click

from ..log import ENV_VAR
from .common import handle_errors


@click.command()
@click.option(
    "--file",
    "-f",
    "file",
    type=click.Path(dir_okay=False),
    help="SQL script to run (default: stdin; on a terminal, an interactive prompt).",
)
@click.option(
    "--log",
    "log_url",
    envvar=ENV_VAR,
    metavar="URL",
    help=f"Log of 'millstream' connector tables without a 'log' option. Env: {ENV_VAR}.",
)
@handle_errors
def sql(file: str | None, log_url: str | None) -> None:
    """Run a Flink SQL script (CREATE TABLE, INSERT INTO, SELECT, ...)."""
    import millstream  # noqa: F401 - registers the job executor
    from millstream import StreamExecutionEnvironment
    from millstream.core.errors import ConfigError
    from millstream.sql import StreamTableEnvironment

    from .sql_client import SqlClient, readline_input

    if log_url:
        os.environ[ENV_VAR] = log_url
    client = SqlClient(StreamTableEnvironment.create(StreamExecutionEnvironment.get_execution_environment()))
    if file is None and sys.stdin.isatty():
        client.interactive(readline_input(os.path.expanduser("~/.millstream_sql_history")))
        return
    if file is not None:
        try:
            with open(file, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ConfigError(f"cannot read {file}: {exc.strerror}", hint="check the path of -f") from exc
    else:
        text = sys.stdin.read()
    client.run_script(text)
