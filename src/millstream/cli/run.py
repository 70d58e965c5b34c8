"""``millstream run PIPELINE.py`` — run a pipeline file (see :mod:`millstream.runtime.pipeline_file` for how
the file builds its job).

Exit codes: 0 the job(s) finished, 1 a job failed (or a runtime error), 2 a problem with the file or the
options (missing file, syntax error, no job, no sink, port in use), 130 interrupted by Ctrl-C (the job was
stopped cleanly first: sources stop, a final checkpoint is taken when checkpointing is on, sinks commit; a
second Ctrl-C cancels without it). Errors are one ``error:`` line plus a ``hint:`` line; ``--verbose`` adds the
traceback.
"""

from __future__ import annotations

import errno
import re
import sys
import traceback
from typing import Any

import click

from ..core import sensors
from ..core.errors import ConfigError, MillstreamError


class PortInUseError(ConfigError):
    """The port asked for is taken by another process."""


class _PrometheusSensors:
    """A sensor factory that keeps every sensor as a Prometheus gauge (label ``scope``) in its own registry."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry

        self.registry = CollectorRegistry()
        self._gauges: dict[str, Any] = {}

    def __call__(self, name: str, scope: str, tags: dict[str, str]) -> Any:
        from prometheus_client import Gauge

        metric = "millstream_" + re.sub(r"[^A-Za-z0-9_]", "_", name)
        gauge = self._gauges.get(metric)
        if gauge is None:
            gauge = self._gauges[metric] = Gauge(metric, f"millstream sensor {name}", ["scope"], registry=self.registry)
        return _GaugeSensor(gauge.labels(scope=scope))


class _GaugeSensor:
    """A sensor on a Prometheus gauge child (distributions are reported as their latest value)."""

    def __init__(self, child: Any) -> None:
        self.inc = child.inc
        self.set = child.set
        self.observe = child.set


def serve_metrics(port: int) -> tuple[Any, int]:
    """Serve the sensors as Prometheus metrics on 127.0.0.1:``port`` (0 = a free one); ``(server, port)``.
    Raises :class:`PortInUseError` when the port is taken. ``server.shutdown()`` stops it."""
    from prometheus_client import start_http_server

    factory = _PrometheusSensors()
    try:
        server, _thread = start_http_server(port, addr="127.0.0.1", registry=factory.registry)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"--metrics-port {port}: the port is already in use", hint="pick another port, or 0 for a free one"
            ) from exc
        raise
    sensors.install(factory)
    return server, int(server.server_address[1])


def _interrupted(runner: Any) -> str:
    """What Ctrl-C did: the job stopped (with its final checkpoint), was cancelled, or no job ran yet."""
    if not runner.interrupted:
        return "pipeline stopped"
    result = runner.stopped
    if result is None:
        return "job cancelled (no final checkpoint)"
    summary = getattr(result, "checkpoints", None)
    done = [s for s in getattr(summary, "stats", []) if s.status == "COMPLETED"]
    if not done:
        return "job stopped"
    return f"job stopped with final checkpoint {done[-1].checkpoint_id}; run it again with the same --job-id to resume"


@click.command()
@click.argument("pipeline", metavar="PIPELINE.py")
@click.option(
    "--log",
    "log_url",
    metavar="URL",
    envvar="MILLSTREAM_LOG",
    help="Default log of sources and sinks that name none (file://PATH, kafka://HOST:PORT, memory://).",
)
@click.option("--job-id", metavar="ID", help="Job id: checkpoints are kept per job id (default: the job name).")
@click.option("--from-savepoint", metavar="PATH", help="Start from this savepoint (or checkpoint) directory.")
@click.option(
    "--allow-non-restored-state", is_flag=True, help="Allow savepoint state that no operator of the job takes."
)
@click.option("--metrics-port", type=int, metavar="PORT", help="Serve Prometheus metrics on 127.0.0.1:PORT.")
@click.option("--verbose", "-v", "verbose_here", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def run(
    ctx: click.Context,
    pipeline: str,
    log_url: str | None,
    job_id: str | None,
    from_savepoint: str | None,
    allow_non_restored_state: bool,
    metrics_port: int | None,
    verbose_here: bool,
) -> None:
    """Run a pipeline file: it calls env.execute() itself, or defines build(env) or main().

    Ctrl-C stops the job cleanly (sources stop, a final checkpoint when checkpointing is on, sinks commit)
    and exits with 130; a second Ctrl-C cancels it without the final checkpoint.
    """
    from ..runtime.pipeline_file import PipelineRunner

    verbose = verbose_here or bool(ctx.find_root().params.get("verbose"))
    server = None
    runner = PipelineRunner(
        pipeline,
        default_log=log_url,
        job_id=job_id,
        from_savepoint=from_savepoint,
        allow_non_restored_state=allow_non_restored_state,
    )
    try:
        if metrics_port is not None:
            server, port = serve_metrics(metrics_port)
            click.echo(f"metrics: http://127.0.0.1:{port}/metrics", err=True)
        runner.run()
    except KeyboardInterrupt:
        if verbose:
            traceback.print_exc()
        click.echo(f"interrupted: {_interrupted(runner)}", err=True)
        ctx.exit(130)
    except MillstreamError as exc:
        _report(exc, verbose)
        ctx.exit(exc.exit_code)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            _report(exc, verbose, hint="the pipeline listens on a port another process holds; free it or pick another")
            ctx.exit(2)
        _report(exc, verbose)
        ctx.exit(1)
    except Exception as exc:  # the pipeline's own code failed: still one line unless --verbose
        _report(exc, verbose, hint="run with --verbose for the traceback")
        ctx.exit(1)
    finally:
        if server is not None:
            server.shutdown()
            sensors.install(None)


def _report(exc: BaseException, verbose: bool, hint: str | None = None) -> None:
    if verbose:
        traceback.print_exception(exc)
    if isinstance(exc, MillstreamError):
        click.echo(f"error: {exc.message}", err=True)
        hint = exc.hint or hint
    else:
        click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
    if hint:
        click.echo(f"hint: {hint}", err=True)
    sys.stderr.flush()


__all__ = ["PortInUseError", "run", "serve_metrics"]
