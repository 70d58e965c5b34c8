"""``millstream checkpoints list|describe|savepoint`` — inspect checkpoints and make savepoints.

* ``list --dir DIR``: every checkpoint/savepoint under a checkpoint directory (job directories inside it),
  with job id, checkpoint id, kind, time, state size and whether it verifies (manifest + checksums);
* ``describe PATH``: one checkpoint or savepoint: its manifest and per operator uid the name and size;
* ``savepoint --dir DIR --job-id ID TARGET``: copy the job's latest committed checkpoint to ``TARGET`` as a
  savepoint, to be restored with ``millstream run --from-savepoint TARGET`` (or
  ``env.execute(..., from_savepoint=TARGET)``). A running job takes one with ``JobClient.trigger_savepoint``.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import click

from ..runtime.checkpoint_storage import load_checkpoint
from ..runtime.checkpointing import DEFAULT_CHECKPOINT_DIR
from ..runtime.savepoints import committed_checkpoint, copy_as_savepoint, list_checkpoints
from .common import handle_errors

dir_option = click.option(
    "--dir",
    "root",
    default=DEFAULT_CHECKPOINT_DIR,
    show_default=True,
    envvar="MILLSTREAM_CHECKPOINT_DIR",
    help="The checkpoint directory (env.get_checkpoint_config().set_checkpoint_storage_dir).",
)


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@click.group("checkpoints")
def checkpoints() -> None:
    """List, describe and take checkpoints/savepoints."""


@checkpoints.command("list")
@dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@handle_errors
def list_cmd(root: str, as_json: bool) -> None:
    """Every checkpoint and savepoint under the checkpoint directory."""
    entries = list_checkpoints(root)
    if as_json:
        for e in entries:
            click.echo(json.dumps(e))
        return
    if not entries:
        click.echo(f"no checkpoints under {root}")
        return
    click.echo(f"{'JOB':24} {'ID':>6} {'KIND':10} {'TIME':23} {'STATE BYTES':>12}  STATUS  PATH")
    for e in entries:
        click.echo(
            f"{e.get('job_id', '?')!s:24} {e.get('checkpoint_id', '?')!s:>6} {e.get('kind', '?'):10} "
            f"{_when(e.get('timestamp_ms')):23} {e.get('size', 0):>12,}  {e['status']}  {e['path']}"
        )


@checkpoints.command("describe")
@click.argument("path", type=click.Path(path_type=Path))
@handle_errors
def describe(path: Path) -> None:
    """A checkpoint or savepoint directory: manifest and operator state (verified)."""
    chk = load_checkpoint(path)
    m = chk.manifest
    click.echo(f"path:        {path}")
    click.echo(f"kind:        {m.get('kind', 'checkpoint')}")
    click.echo(f"job id:      {m['job_id']}")
    click.echo(f"checkpoint:  {m['checkpoint_id']}")
    click.echo(f"time:        {_when(m.get('timestamp_ms'))}")
    click.echo(f"mode:        {m.get('mode', '-')}")
    if m.get("exactly_once_log"):
        click.echo(f"committed to: {m['exactly_once_log']}")
    click.echo(f"format:      {m['format']}  (checksums verified)")
    click.echo("operators:")
    for uid, meta in sorted(m["operators"].items()):
        click.echo(f"  {uid:28} {meta.get('name', ''):28} {meta['size']:>12,} bytes")


@checkpoints.command("savepoint")
@dir_option
@click.option("--job-id", required=True, help="The job whose latest committed checkpoint to copy.")
@click.argument("target", type=click.Path(path_type=Path))
@handle_errors
def savepoint(root: str, job_id: str, target: Path) -> None:
    """Copy the job's latest committed checkpoint to TARGET as a savepoint."""
    chk = committed_checkpoint(root, job_id)
    dest = copy_as_savepoint(chk, target)
    click.echo(f"savepoint of job {job_id!r} (checkpoint {chk.checkpoint_id}) written to {dest}")


__all__ = ["checkpoints"]
