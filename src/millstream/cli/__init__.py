"""The ``millstream`` command.

Subcommands are imported only when used, so ``millstream --help`` and quick commands stay fast and a
missing optional dependency (e.g. the Kafka client) only affects the commands that need it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Any

import click

from .. import __version__

# name -> (module, attribute, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "topics": ("millstream.cli.topics", "topics", "Create, list, describe and delete topics."),
    "produce": ("millstream.cli.produce", "produce", "Write lines from stdin or a file to a topic."),
    "consume": ("millstream.cli.consume", "consume", "Print records of a topic as JSON lines."),
    "demo": ("millstream.cli.demo", "demo", "Run the demo pipeline on the embedded log."),
    "connect": ("millstream.cli.connect", "connect", "Run Kafka-Connect-style connectors."),
    "run": ("millstream.cli.run", "run", "Run a pipeline file."),
    "jobs": ("millstream.cli.jobs", "jobs", "List, describe, cancel, stop and savepoint the running jobs of a log."),
    "groups": ("millstream.cli.groups", "groups", "List, describe and reset the offsets of consumer groups."),
    "checkpoints": ("millstream.cli.checkpoints", "checkpoints", "List, describe and take checkpoints/savepoints."),
    "bench": ("millstream.cli.bench", "bench", "Run a benchmark and print its figures."),
    "sql": ("millstream.cli.sql", "sql", "Run a Flink SQL script."),
    "console": ("millstream.cli.console", "console", "Serve the web console (jobs, topics, groups, connectors)."),
    "flink": ("millstream.cli.flink", "flink", "Export a pipeline as a PyFlink program, or check it translates."),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in SUBCOMMANDS if self._available(name))

    @staticmethod
    def _available(name: str) -> bool:
        module = SUBCOMMANDS[name][0]
        return importlib.util.find_spec(module) is not None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = SUBCOMMANDS.get(cmd_name)
        if entry is None or not self._available(cmd_name):
            return None
        module = importlib.import_module(entry[0])
        cmd = getattr(module, entry[1])
        assert isinstance(cmd, click.Command)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--verbose", "-v", is_flag=True, help="Show tracebacks for errors.")
@click.option(
    "--log",
    "log_url",
    metavar="URL",
    help="The log of every command (as $MILLSTREAM_LOG; a command's own --log wins).",
)
@click.version_option(__version__, prog_name="millstream")
def cli(verbose: bool, log_url: str | None) -> None:
    """millstream: Kafka + Flink for Python, as one system.

    Every command takes --log URL (or $MILLSTREAM_LOG): file://PATH for the embedded log (the default,
    file://./.millstream), kafka://HOST:PORT for a Kafka cluster, memory:// for throwaway runs.
    `millstream --log URL COMMAND ...` sets it for the command.
    """
    if log_url:
        os.environ["MILLSTREAM_LOG"] = log_url  # read by the command's --log (its envvar), and by pipelines it runs


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``millstream`` console script."""
    return cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="millstream")


__all__ = ["cli", "main"]
