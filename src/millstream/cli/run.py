"""``millstream run PIPELINE.py`` — run a pipeline file (see :mod:`millstream.runtime.pipeline_file` for how
the file builds its job).

Exit codes: 0 the job(s) finished, 1 a job failed (or a runtime error), 2 a problem with the file or the
options (missing file, syntax error, no job, no sink, port in use), 130 interrupted by Ctrl-C (the job was
stopped cleanly first: sources stop, a final checkpoint is taken when checkpointing is on, sinks commit; a
second Ctrl-C cancels without it). Errors are one ``error:`` line plus a ``hint:`` line; ``--verbose`` adds the
traceback.

Every run serves the Flink-shaped REST API with its control endpoints (on ``--metrics-port``, else a free port
of ``--rest-bind-address``, 127.0.0.1 by default) and announces its jobs in the job registry of the logs they
use, so ``millstream jobs list|describe|cancel|stop|savepoint --log URL`` finds and controls them
(docs/operations.md, "Controlling jobs"). ``--detached`` starts the run in a new background process
(:mod:`millstream.cli.detach`) and prints the job id.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from ..core.errors import MillstreamError

if TYPE_CHECKING:
    from ..observe import Monitoring


#: how long a run whose job ended waits for clients to collect the outcome of their savepoint / stop requests
SETTLE_S = 30.0


def serve_metrics(port: int | None, host: str = "127.0.0.1") -> Monitoring:
    """Install a metrics registry as the sensor factory and, with ``port`` (0 = a free one), serve Prometheus
    text on ``/metrics`` and the Flink-shaped REST API on ``host``:``port``. Raises ``PortInUseError`` (a
    ``ConfigError``) when the port is taken. ``close()`` on the result stops both."""
    from ..observe import Monitoring  # not at import time: other commands start without it

    return Monitoring(port, host=host)


def advertised_url(url: str, bind_host: str, rest_address: str | None) -> str:
    """The REST root other processes should use: ``url`` with its host replaced by ``rest_address`` when
    given, or by this machine's name when bound to every interface (``0.0.0.0`` / ``::``)."""
    import socket
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = rest_address or (socket.gethostname() if bind_host in ("0.0.0.0", "::", "") else None)
    if host is None:
        return url
    return urlunsplit((parts.scheme, f"{host}:{parts.port}", parts.path, "", ""))


def show_progress(progress: bool | None, quiet: bool) -> bool:
    """Whether to draw live progress: ``--progress`` forces it, ``--quiet`` turns it off, otherwise only
    when stderr is a terminal."""
    if quiet:
        return False
    if progress is not None:
        return progress
    return sys.stderr.isatty()


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[list[int]]:
    """While the block runs, SIGTERM (what supervisors such as systemd or Kubernetes send) stops the job as
    Ctrl-C does: the first one stops it with a final checkpoint, a second one cancels it. Yields a list that is
    non-empty once SIGTERM arrived (the exit code is then 143, 128 + SIGTERM). The previous handler is put
    back afterwards. Only in the main thread, where Python runs signal handlers."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def on_sigterm(signum: int, frame: Any) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted(runner: Any) -> str:
    """What Ctrl-C did: the job stopped (with its final checkpoint), was cancelled, no job ran yet, or a reactive
    instance left a job that goes on."""
    if not runner.interrupted:
        return "pipeline stopped"
    if runner.handed_over:
        return "this instance left the job, which goes on on the other instances"
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
@click.option(
    "--metrics-port",
    type=int,
    metavar="PORT",
    help="Serve Prometheus metrics (/metrics) and the Flink-shaped REST API (/jobs) on PORT (default: a free port).",
)
@click.option(
    "--rest-bind-address",
    default="127.0.0.1",
    show_default=True,
    metavar="HOST",
    help="Address the REST API listens on (Flink's rest.bind-address); 0.0.0.0 to control jobs from other machines.",
)
@click.option(
    "--rest-address",
    metavar="HOST",
    help="Host name other machines reach the REST API at, as registered in the log (Flink's rest.address).",
)
@click.option(
    "--detached",
    "-d",
    is_flag=True,
    help="Start the run in a background process that outlives this command; print the job id and exit.",
)
@click.option("--ready-file", hidden=True, metavar="PATH", help="Write the first job's id here once it runs.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Live per-operator progress on stderr (default: on when stderr is a terminal).",
)
@click.option(
    "--parallelism",
    "-p",
    type=click.IntRange(min=1),
    metavar="N",
    help="Default parallelism of the job's operators (those that set none): N subtasks on N worker processes.",
)
@click.option(
    "--engine",
    type=click.Choice(["millstream", "flink"]),
    default="millstream",
    show_default=True,
    help="Run on millstream's own engine, or on Apache Flink through PyFlink (see docs/flink.md).",
)
@click.option("--flink-address", metavar="HOST:PORT", help="With --engine flink: submit to this JobManager (REST).")
@click.option(
    "--flink-jars", multiple=True, metavar="JAR", help="With --engine flink: jars for the job (Kafka connector)."
)
@click.option(
    "--flink-python", metavar="PATH", help="With --engine flink: a Python that has PyFlink (default: this one)."
)
@click.option(
    "--reactive",
    is_flag=True,
    help="Reactive mode (Flink's scheduler-mode: reactive): every instance started with the same --job-id and "
    "--log joins one job, which rescales over all of them (docs/scaling-out.md).",
)
@click.option(
    "--data-address",
    metavar="HOST",
    envvar="MILLSTREAM_BIND_HOST",
    default="127.0.0.1",
    show_default=True,
    help="With --reactive: the address this instance's workers listen on and other instances reach them at.",
)
@click.option(
    "--session-timeout-ms",
    type=click.IntRange(min=500),
    envvar="MILLSTREAM_SESSION_TIMEOUT_MS",
    default=10_000,
    show_default=True,
    help="With --reactive: an instance that stops heartbeating for this long leaves the job.",
)
@click.option(
    "--stabilization-ms",
    type=click.IntRange(min=0),
    envvar="MILLSTREAM_STABILIZATION_MS",
    default=1000,
    show_default=True,
    help="With --reactive: start (or rescale) once no instance has joined for this long.",
)
@click.option(
    "-D",
    "dynamic_options",
    multiple=True,
    metavar="KEY=VALUE",
    callback=lambda _ctx, _param, values: _key_values(values),
    help="A Flink configuration option for every job of the file, as flink run -D gives it (e.g. "
    "-D execution.checkpointing.dir=/shared/ckpt); the pipeline's own settings win.",
)
@click.option("--plan", "plan_only", is_flag=True, help="Print the job's execution plan (Flink's JSON) and exit.")
@click.option(
    "--pyflink",
    "pyflink",
    is_flag=True,
    help="Run a PyFlink program unchanged: its `pyflink.*` imports are served by millstream (docs/pyflink-compat.md).",
)
@click.option("--quiet", "-q", is_flag=True, help="No live progress (for scripts).")
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
    rest_bind_address: str,
    rest_address: str | None,
    detached: bool,
    ready_file: str | None,
    progress: bool | None,
    parallelism: int | None,
    engine: str,
    flink_address: str | None,
    flink_jars: tuple[str, ...],
    flink_python: str | None,
    reactive: bool,
    data_address: str,
    session_timeout_ms: int,
    stabilization_ms: int,
    dynamic_options: dict[str, str],
    plan_only: bool,
    pyflink: bool,
    quiet: bool,
    verbose_here: bool,
) -> None:
    """Run a pipeline file: it calls env.execute() itself, or defines build(env) or main().

    Ctrl-C stops the job cleanly (sources stop, a final checkpoint when checkpointing is on, sinks commit)
    and exits with 130; a second Ctrl-C cancels it without the final checkpoint. SIGTERM does the same and
    exits with 143.
    """
    from ..runtime.pipeline_file import PipelineRunner

    verbose = verbose_here or bool(ctx.find_root().params.get("verbose"))
    if pyflink and engine == "flink":
        raise click.UsageError(
            "--pyflink runs a PyFlink program on millstream; on Apache Flink a PyFlink program runs as it is "
            "(python job.py, or flink run -py job.py)"
        )
    if pyflink:
        from ..compat.pyflink import install

        install(shadow=True)  # asked for explicitly: run the program's pyflink imports on millstream
    if detached:
        if engine == "flink" or plan_only:
            raise click.UsageError(
                "--detached runs millstream's own engine; it cannot be used with --engine flink or --plan"
            )
        from .detach import start_detached

        start_detached(ctx, verbose)
        return
    if engine == "flink" and dynamic_options:
        raise click.UsageError(
            "-D options configure millstream's engine; with --engine flink set them in the Flink cluster's "
            "configuration (or in the pipeline through env.configure)"
        )
    if engine == "flink" and not plan_only:
        _run_on_flink(ctx, pipeline, log_url, parallelism, flink_address, flink_jars, flink_python, verbose)
        return
    monitoring: Monitoring | None = None
    live = show_progress(progress, quiet)
    runner = PipelineRunner(
        pipeline,
        default_log=log_url,
        job_id=job_id,
        from_savepoint=from_savepoint,
        allow_non_restored_state=allow_non_restored_state,
        parallelism=parallelism,
        plan_only=plan_only,
        announce=True,
        ready_file=ready_file,
        options=dynamic_options,
        reactive={
            "data_address": data_address,
            "session_timeout_ms": session_timeout_ms,
            "stabilization_ms": stabilization_ms,
        }
        if reactive
        else None,
    )
    if plan_only:
        try:
            runner.run()
        except MillstreamError as exc:
            _report(exc, verbose)
            ctx.exit(exc.exit_code)
        click.echo(runner.plan)
        return
    stack = contextlib.ExitStack()
    terminated = stack.enter_context(_stop_on_sigterm())
    try:
        monitoring = serve_metrics(0 if metrics_port is None else metrics_port, rest_bind_address)
        assert monitoring.url is not None
        runner.rest_url = advertised_url(monitoring.url, rest_bind_address, rest_address)
        if metrics_port is not None:
            click.echo(f"metrics: {monitoring.url}/metrics", err=True)
            click.echo(f"rest:    {monitoring.url}/jobs", err=True)
        if live:
            from ..observe.progress import LiveProgress

            assert monitoring is not None
            cm: Any = LiveProgress(monitoring.registry)
        else:
            cm = contextlib.nullcontext()
        with cm:
            runner.run()
    except KeyboardInterrupt:
        if verbose:
            traceback.print_exc()
        if terminated:
            click.echo(f"terminated: {_interrupted(runner)}", err=True)
            ctx.exit(128 + signal.SIGTERM)
        click.echo(f"interrupted: {_interrupted(runner)}", err=True)
        ctx.exit(130)
    except MillstreamError as exc:
        _report(exc, verbose)
        ctx.exit(exc.exit_code)
    except ImportError as exc:
        if pyflink and type(exc).__name__ == "PyFlinkAPIMissing":
            _report(exc, verbose, hint="see docs/pyflink-compat.md for the PyFlink API millstream provides")
            ctx.exit(2)
        _report(exc, verbose, hint="run with --verbose for the traceback")
        ctx.exit(1)
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
        stack.close()
        if monitoring is not None:
            if monitoring.server is not None:  # answer the last status request of a stop / savepoint first
                monitoring.server.control.settle(SETTLE_S)
            monitoring.close()


def _key_values(values: tuple[str, ...]) -> dict[str, str]:
    """``-D KEY=VALUE`` options as a dict (a value without ``=`` is refused, naming it)."""
    out: dict[str, str] = {}
    for text in values:
        key, eq, value = text.partition("=")
        if not eq or not key.strip():
            raise click.BadParameter(f"{text!r} is not KEY=VALUE (e.g. -D execution.checkpointing.interval=10s)")
        out[key.strip()] = value.strip()
    return out


def _run_on_flink(
    ctx: click.Context,
    pipeline: str,
    log_url: str | None,
    parallelism: int | None,
    address: str | None,
    jars: tuple[str, ...],
    python: str | None,
    verbose: bool,
) -> None:
    """``--engine flink``: check the file's jobs, then run them on Flink (:mod:`millstream.flink.runner`)."""
    from ..flink.runner import FlinkOptions, run_pipeline

    options = FlinkOptions(
        address=address, jars=list(jars), python=python, parallelism=parallelism, default_log=log_url
    )
    try:
        code = run_pipeline(pipeline, options)
    except KeyboardInterrupt:
        click.echo("interrupted: the Flink job was cancelled", err=True)
        ctx.exit(130)
    except MillstreamError as exc:
        _report(exc, verbose)
        ctx.exit(exc.exit_code)
    except Exception as exc:  # the pipeline's code or Flink failed
        _report(exc, verbose, hint="run with --verbose for the traceback")
        ctx.exit(1)
    if code:
        ctx.exit(code)


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


__all__ = ["advertised_url", "run", "serve_metrics", "show_progress"]
