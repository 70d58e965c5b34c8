"""``millstream flink ...`` — Apache Flink: ``export`` a pipeline as a standalone PyFlink program, ``check`` that
it translates (see :mod:`millstream.flink`). Running on Flink is ``millstream run PIPELINE.py --engine flink``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..core.errors import MillstreamError


def _options(parallelism: int | None, jars: tuple[str, ...], address: str | None, log: str | None) -> Any:
    from ..flink.runner import FlinkOptions

    return FlinkOptions(address=address, jars=list(jars), parallelism=parallelism, default_log=log)


def _fail(ctx: click.Context, exc: MillstreamError) -> None:
    click.echo(f"error: {exc.message}", err=True)
    if exc.hint:
        click.echo(f"hint: {exc.hint}", err=True)
    ctx.exit(exc.exit_code)


_common = [
    click.option("--parallelism", "-p", type=click.IntRange(min=1), metavar="N", help="Default parallelism."),
    click.option("--flink-jars", multiple=True, metavar="JAR", help="Jars for the job (e.g. Flink's Kafka connector)."),
    click.option("--flink-address", metavar="HOST:PORT", help="Submit to this JobManager (its REST endpoint)."),
    click.option("--log", metavar="URL", envvar="MILLSTREAM_LOG", help="Default log of log sources/sinks."),
]


F = TypeVar("F", bound=Callable[..., Any])


def _with_common(fn: F) -> F:
    for option in reversed(_common):
        fn = option(fn)
    return fn


@click.group()
def flink() -> None:
    """Apache Flink: export a pipeline as a PyFlink program, or check that it translates."""


@flink.command()
@click.argument("pipeline", metavar="PIPELINE.py")
@click.option("--output", "-o", required=True, metavar="JOB.py", help="Where to write the PyFlink program.")
@_with_common
@click.pass_context
def export(
    ctx: click.Context,
    pipeline: str,
    output: str,
    parallelism: int | None,
    flink_jars: tuple[str, ...],
    flink_address: str | None,
    log: str | None,
) -> None:
    """Write a standalone PyFlink program that runs PIPELINE.py on Flink (`python JOB.py`)."""
    from ..flink.export import export_program

    try:
        export_program(pipeline, output, _options(parallelism, flink_jars, flink_address, log))
    except MillstreamError as exc:
        _fail(ctx, exc)
    click.echo(f"wrote {output}: run it with `python {output}` in a Python that has PyFlink", err=True)


@flink.command()
@click.argument("pipeline", metavar="PIPELINE.py")
@_with_common
@click.pass_context
def check(
    ctx: click.Context,
    pipeline: str,
    parallelism: int | None,
    flink_jars: tuple[str, ...],
    flink_address: str | None,
    log: str | None,
) -> None:
    """Check that every job of PIPELINE.py translates onto Flink (nothing is run or submitted)."""
    from ..flink.runner import check_pipeline

    try:
        jobs = check_pipeline(pipeline, _options(parallelism, flink_jars, flink_address, log))
    except MillstreamError as exc:
        _fail(ctx, exc)
    click.echo(f"ok: {jobs} job(s) of {pipeline} translate onto Flink")


__all__ = ["flink"]
