"""``millstream jobs list|describe|cancel|stop|savepoint --log URL`` — find the running jobs of a log and control
them from any process or machine that can open the log, as Flink's ``flink list|cancel|stop|savepoint`` do.

Jobs are found in the log's job registry (:mod:`millstream.runtime.job_registry`, written by every
``millstream run``); ``describe`` and the actions go to the job's REST endpoint (Flink's control endpoints,
:mod:`millstream.observe.control`). A job is named by its 32-hex id, a unique prefix of it, or its name.
Errors (no such job, a job without checkpointing asked for a savepoint, an unreachable job) are one
``error:`` line and exit code 1; ``--verbose`` adds the traceback.
"""

from __future__ import annotations

import datetime as _dt
import os
import time

import click
import orjson

from ..observe.rest_client import JobRestClient
from ..runtime.job_registry import EXPIRY_MS, TERMINAL, JobEntry, JobRegistry, UnknownJobError
from .common import get_log, handle_errors, log_option

_timeout = click.option(
    "--timeout", type=click.FloatRange(min=0), default=120.0, show_default=True, help="Seconds to wait for the job."
)
_target = click.option(
    "--target-directory",
    "-d",
    "target_directory",
    metavar="DIR",
    callback=lambda _ctx, _param, value: os.path.abspath(value) if value else None,
    help="Directory to write the savepoint under, relative to this directory (default: the job's default "
    "savepoint directory).",
)


def _when(ms: int) -> str:
    if ms < 0:
        return "-"
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _find(log_url: str | None, properties: tuple[str, ...], ident: str) -> JobEntry:
    with get_log(log_url, properties) as log:
        return JobRegistry(log).find(ident)


def _client(entry: JobEntry) -> JobRestClient:
    if not entry.rest:
        raise UnknownJobError(
            f"job {entry.jid} ({entry.name}) registered no REST endpoint, so it cannot be reached",
            hint="run jobs with `millstream run` to control them with `millstream jobs`",
        )
    return JobRestClient(entry.rest)


def _wait_ended(client: JobRestClient, jid: str, timeout: float) -> str:
    """Poll the job's state until it is terminal (or its endpoint is gone with its process); the last state."""
    from ..observe.rest_client import RestError

    deadline = time.monotonic() + timeout
    state = "RUNNING"
    while time.monotonic() < deadline:
        try:
            state = str(client.job(jid)["state"])
        except RestError as exc:
            if exc.status in (0, 404):  # the process ended and took its endpoint along
                return "ENDED"
            raise
        if state in TERMINAL:
            return state
        time.sleep(0.2)
    return state


@click.group("jobs")
def jobs() -> None:
    """List, describe, cancel, stop and savepoint the running jobs of a log."""


@jobs.command("list")
@click.option("--all", "-a", "show_all", is_flag=True, help="Also ended jobs and jobs that stopped heartbeating.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@log_option
@handle_errors
def list_cmd(show_all: bool, as_json: bool, log_url: str | None, properties: tuple[str, ...]) -> None:
    """The jobs registered in the log: id, name, state, start time and REST address (with --all: last heartbeat).
    A reactive job is one row, with its coordinating instance's REST address and its number of instances."""
    with get_log(log_url, properties) as log:
        registry = JobRegistry(log)
        entries = registry.entries() if show_all else registry.running()
        url = log.url
    now = int(time.time() * 1000)
    if as_json:
        for e in entries:
            click.echo(orjson.dumps({**e.__dict__, "state": e.state(now)}).decode())
        return
    if not entries:
        click.echo(f"no {'' if show_all else 'running '}jobs in {url}")
        return
    seen = f"  {'LAST HEARTBEAT':23}" if show_all else ""
    click.echo(f"{'JOB ID':32}  {'NAME':24} {'STATE':9} {'STARTED':23}{seen}  REST")
    for e in entries:
        seen = f"  {_when(e.heartbeat):23}" if show_all else ""
        spread = f"  ({len(e.instances)} instances)" if e.instances else ""  # a reactive job: REST is its leader
        click.echo(
            f"{e.jid:32}  {e.name[:24]:24} {e.state(now):9} {_when(e.start_time):23}{seen}  {e.rest or '-'}{spread}"
        )
    if show_all and any(e.state(now) == "LOST" for e in entries):
        click.echo(f"(LOST: no heartbeat for more than {EXPIRY_MS // 1000} s — the process died without ending)")


@jobs.command("describe")
@click.argument("job")
@click.option("--json", "as_json", is_flag=True, help="Print the job's REST answers as one JSON object.")
@log_option
@handle_errors
def describe(job: str, as_json: bool, log_url: str | None, properties: tuple[str, ...]) -> None:
    """A running job: where it runs, its vertices (parallelism, records, consumer lag) and last checkpoint."""
    entry = _find(log_url, properties, job)
    client = _client(entry)
    detail = client.job(entry.jid)
    cps = client.checkpoints(entry.jid)
    failures = client.exceptions(entry.jid)["exceptionHistory"]["entries"]
    lag: dict[str, float] = {}
    for v in detail["vertices"]:
        names = [f"{i}.records-lag-max" for i in range(int(v["parallelism"]))]
        values = client.vertex_metrics(entry.jid, v["id"], names)
        if values:
            lag[v["id"]] = sum(float(x) for x in values.values())
    if as_json:
        doc = {"entry": entry.__dict__, "job": detail, "checkpoints": cps, "lag": lag, "exceptions": failures}
        click.echo(orjson.dumps(doc).decode())
        return
    click.echo(f"job id:     {entry.jid}")
    click.echo(f"name:       {entry.name}  (checkpoint job id {entry.job_id})")
    click.echo(f"state:      {detail['state']}")
    click.echo(f"started:    {_when(entry.start_time)}")
    if entry.instances:  # a reactive job: one job over several instances
        click.echo(f"runs on:    {len(entry.instances)} instances (reactive)")
        for i in entry.instances:
            role = "leader" if i.get("leader") else "follower"
            click.echo(
                f"            {i.get('host')} (pid {i.get('pid')}, {i.get('slots')} slot(s), {role}), "
                f"REST {i.get('rest') or '-'}"
            )
    else:
        click.echo(f"runs on:    {entry.host} (pid {entry.pid}), REST {entry.rest}")
    latest = (cps.get("latest") or {}).get("completed")
    if latest:
        click.echo(
            f"checkpoint: {latest['id']} at {_when(latest['latest_ack_timestamp'])}, "
            f"{latest['state_size']:,} bytes ({cps['counts']['completed']} completed, {cps['counts']['failed']} failed)"
        )
    else:
        click.echo(f"checkpoint: none completed ({cps['counts']['failed']} failed)")
    if failures:  # the latest first, its last line (the whole traceback: GET /jobs/{id}/exceptions)
        last = failures[0]
        where = f" in {last['taskName']}" if last["taskName"] else ""
        click.echo(f"failures:   {len(failures)}, the latest at {_when(last['timestamp'])}{where}: "
                   f"{last['stacktrace'].splitlines()[-1]}")  # fmt: skip
    header = f"{'VERTEX':32}  {'NAME':28} {'PARALLELISM':>11} {'STATUS':9} {'RECORDS IN':>11} {'RECORDS OUT':>11}"
    click.echo(header + " LAG")
    for v in detail["vertices"]:
        m = v["metrics"]
        shown = f"{lag[v['id']]:.0f}" if v["id"] in lag else "-"
        click.echo(
            f"{v['id']:32}  {v['name'][:28]:28} {v['parallelism']:>11} {v['status']:9} "
            f"{m['read-records']:>11} {m['write-records']:>11} {shown}"
        )


@jobs.command("cancel")
@click.argument("job")
@_timeout
@log_option
@handle_errors
def cancel(job: str, timeout: float, log_url: str | None, properties: tuple[str, ...]) -> None:
    """Cancel a job: it stops at once, without a final checkpoint (uncommitted output is aborted)."""
    entry = _find(log_url, properties, job)
    client = _client(entry)
    client.cancel(entry.jid)
    state = _wait_ended(client, entry.jid, timeout)
    if state not in TERMINAL | {"ENDED"}:
        click.echo(f"cancelling job {entry.jid} ({entry.name}); it has not ended within {timeout:g} s")
        return
    click.echo(f"cancelled job {entry.jid} ({entry.name})")


@jobs.command("stop")
@click.argument("job")
@_target
@click.option("--drain", is_flag=True, help="Advance event time to the end before stopping (refused: not supported).")
@_timeout
@log_option
@handle_errors
def stop(
    job: str,
    target_directory: str | None,
    drain: bool,
    timeout: float,
    log_url: str | None,
    properties: tuple[str, ...],
) -> None:
    """Stop a job with a savepoint: sources stop, the final checkpoint commits the output, and is kept as the
    savepoint to restart from (millstream run --from-savepoint PATH)."""
    entry = _find(log_url, properties, job)
    client = _client(entry)
    trigger = client.stop(entry.jid, target_directory, drain)
    location = client.wait_savepoint(entry.jid, trigger, timeout)
    click.echo(f"stopped job {entry.jid} ({entry.name}) with savepoint {location}")


@jobs.command("savepoint")
@click.argument("job")
@_target
@click.option("--cancel", "cancel_job", is_flag=True, help="Cancel the job once the savepoint is written.")
@_timeout
@log_option
@handle_errors
def savepoint(
    job: str,
    target_directory: str | None,
    cancel_job: bool,
    timeout: float,
    log_url: str | None,
    properties: tuple[str, ...],
) -> None:
    """Take a savepoint of a running job; print its path."""
    entry = _find(log_url, properties, job)
    client = _client(entry)
    trigger = client.trigger_savepoint(entry.jid, target_directory, cancel_job)
    location = client.wait_savepoint(entry.jid, trigger, timeout)
    click.echo(f"savepoint of job {entry.jid} ({entry.name}) written to {location}")


__all__ = ["jobs"]
