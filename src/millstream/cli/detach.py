"""``millstream run --detached``: start the run in a background process and print its job id.

Protocol of :func:`start_detached`:
  1. rebuild the ``millstream run`` command line from the parsed options, without ``--detached``, with
     ``--quiet`` and a hidden ``--ready-file`` in a private temporary directory;
  2. start it as a new session (``start_new_session``: it outlives this command and the terminal's Ctrl-C), with
     stdin closed and stdout/stderr appended to an output file
     (``$TMPDIR/millstream-run-<time>-<pid>.out``);
  3. wait until the child writes the ready file (its first job runs and is registered in the log) and print the
     job id on stdout (details on stderr); if the child exits first, print the end of its output and exit
     with its exit code; if neither happens within :data:`READY_TIMEOUT_S`, say so (the child keeps running).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import orjson

#: how long ``--detached`` waits for the job to start
READY_TIMEOUT_S = 120.0

#: ``run`` options passed on to the background process: parameter name → flag
_VALUED = {
    "log_url": "--log",
    "job_id": "--job-id",
    "from_savepoint": "--from-savepoint",
    "metrics_port": "--metrics-port",
    "parallelism": "--parallelism",
    "rest_bind_address": "--rest-bind-address",
    "rest_address": "--rest-address",
}
_FLAGS = {"allow_non_restored_state": "--allow-non-restored-state", "pyflink": "--pyflink"}


def child_command(params: dict[str, Any], ready_file: str, verbose: bool) -> list[str]:
    """Step 1: the command line of the background run for the parsed ``run`` parameters."""
    argv = [sys.executable, "-m", "millstream"]
    if verbose:
        argv.append("--verbose")
    argv += ["run", os.path.abspath(params["pipeline"]), "--quiet", "--ready-file", ready_file]
    for name, flag in _VALUED.items():
        if params.get(name) is not None:
            argv += [flag, str(params[name])]
    argv += [flag for name, flag in _FLAGS.items() if params.get(name)]
    return argv


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_detached(ctx: click.Context, verbose: bool) -> None:
    """Steps 1-3 for the ``run`` command of ``ctx``."""
    params = dict(ctx.params)
    if params.get("log_url") is None and os.environ.get("MILLSTREAM_LOG"):
        params["log_url"] = os.environ["MILLSTREAM_LOG"]
    private = tempfile.mkdtemp(prefix="millstream-detach-")
    ready = os.path.join(private, "ready.json")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_path = Path(tempfile.gettempdir()) / f"millstream-run-{stamp}-{os.getpid()}.out"
    argv = child_command(params, ready, verbose)
    with open(out_path, "ab") as out:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        while True:
            if os.path.exists(ready):
                info = orjson.loads(Path(ready).read_bytes())
                click.echo(info["jid"])
                click.echo(
                    f"job {info['name']!r} runs in the background (pid {proc.pid}); output: {out_path}; "
                    f"rest: {info['rest']}; end it with: millstream jobs cancel {info['jid']}",
                    err=True,
                )
                return
            code = proc.poll()
            if code is not None:
                tail = _tail(out_path)
                if tail:
                    click.echo(tail, err=True)
                click.echo(f"error: the detached run exited with code {code} before its job started", err=True)
                ctx.exit(code or 1)
            if time.monotonic() > deadline:
                click.echo(
                    f"error: the detached run (pid {proc.pid}) did not start a job within {READY_TIMEOUT_S:g} s; "
                    f"it keeps running, output: {out_path}",
                    err=True,
                )
                ctx.exit(1)
            time.sleep(0.05)
    finally:
        for name in ("ready.json", "ready.json.tmp"):
            try:
                os.unlink(os.path.join(private, name))
            except OSError:
                pass
        try:
            os.rmdir(private)
        except OSError:
            pass


__all__ = ["READY_TIMEOUT_S", "child_command", "start_detached"]
