"""``millstream sql -f job.sql`` — run a Flink SQL script on millstream.

Statements are separated by ``;``. Each runs in order like in Flink's SQL client: DDL prints
``[INFO] Execute statement succeeded.``, queries, ``SHOW`` and ``DESCRIBE`` print a table, and
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
@click.option("--file", "-f", "file", type=click.Path(dir_okay=False), help="SQL script to run (default: stdin).")
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
    from millstream.sql.statements import script

    if file is not None:
        try:
            with open(file, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ConfigError(f"cannot read {file}: {exc.strerror}", hint="check the path of -f") from exc
    else:
        text = sys.stdin.read()
    if log_url:
        os.environ[ENV_VAR] = log_url
    tenv = StreamTableEnvironment.create(StreamExecutionEnvironment.get_execution_environment())
    for st in script(text):
        result = tenv.execute_statement(st)
        if st.command == "STATEMENT SET" or (st.tree is not None and type(st.tree).__name__ == "Insert"):
            click.echo("[INFO] Submitting SQL update statement to the cluster...")
            result.wait()
            click.echo(f"[INFO] Job {result.get_job_client().get_job_id()} finished.")
        elif result.fields and result.fields[0].name == "result":
            click.echo("[INFO] Execute statement succeeded.")
        else:
            click.echo(result.to_tableau())
