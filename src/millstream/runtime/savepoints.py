"""Savepoints: self-contained copies of a completed checkpoint that a user restores on purpose.

A savepoint directory has a checkpoint's layout with ``kind: savepoint`` in its manifest. It can be
restored by any job (``env.execute(..., from_savepoint=PATH)`` / ``millstream run --from-savepoint PATH``):
state is matched by operator uid, not by job id. For a job with exactly-once log sinks, only a checkpoint
*committed* to the log (the log's ``millstream.checkpoint/<job id>`` marker) is taken, so a savepoint never
holds state ahead of the committed output.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from ..core.errors import CheckpointError
from .checkpoint_storage import (
    MANIFEST,
    Checkpoint,
    CheckpointStorage,
    CheckpointWriteError,
    CorruptCheckpointError,
    load_checkpoint,
    read_manifest,
)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_as_savepoint(chk: Checkpoint, target: str | os.PathLike[str]) -> Path:
    """Copy a verified checkpoint to ``target`` (which must not exist) as a savepoint, atomically."""
    dest = Path(target)
    if dest.exists():
        raise CheckpointError(f"savepoint target {dest} already exists", hint="choose a new directory")
    tmp = dest.parent / f".tmp-{dest.name}-{os.getpid()}"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(chk.path, tmp)
        manifest = dict(chk.manifest, kind="savepoint", source_checkpoint=str(chk.path))
        (tmp / MANIFEST).write_bytes(json.dumps(manifest, indent=1, sort_keys=True).encode())
        for folder, _dirs, files in os.walk(tmp, topdown=False):  # attachments (RocksDB) are directories
            for name in files:
                with open(os.path.join(folder, name), "rb+") as fh:
                    os.fsync(fh.fileno())
            _fsync(Path(folder))
        os.rename(tmp, dest)
        _fsync(dest.parent)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointWriteError(f"writing savepoint {dest} failed: {exc.strerror or exc}") from exc
    return dest


def committed_checkpoint(root: str | os.PathLike[str], job_id: str) -> Checkpoint:
    """The job's latest checkpoint that verifies and (for exactly-once log jobs) is committed."""
    storage = CheckpointStorage(root, job_id)
    if not storage.dir.exists():
        raise CheckpointError(
            f"no checkpoints of job {job_id!r} under {root}",
            hint="check --dir and --job-id (millstream checkpoints list --dir DIR)",
        )
    newest = storage.latest_valid()
    if newest is None:
        raise CheckpointError(f"job {job_id!r} has no usable checkpoint under {root}")
    url = newest.manifest.get("exactly_once_log")
    if url:
        from ..log import open_log

        log = open_log(url)
        try:
            raw = log.get_state("millstream.checkpoint/" + job_id)
        finally:
            log.close()
        if raw is None:
            raise CheckpointError(f"job {job_id!r} has not committed a checkpoint to {url} yet")
        marker = int(json.loads(raw)["checkpoint_id"])
        chk = storage.latest_valid(max_id=marker)
        if chk is None:
            raise CheckpointError(f"the committed checkpoint {marker} of job {job_id!r} is unusable")
        return chk
    return newest


def list_checkpoints(root: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """One entry per checkpoint directory under ``root`` (job dirs) or in ``root`` itself: path, job,
    id, kind, time, size and ``status`` (``ok`` or the reason it is unusable)."""
    base = Path(root)
    if not base.exists():
        raise CheckpointError(f"checkpoint directory {base} does not exist")
    dirs: list[Path] = []
    if (base / MANIFEST).exists():
        dirs = [base]
    else:
        for job in sorted(p for p in base.iterdir() if p.is_dir()):
            if (job / MANIFEST).exists():
                dirs.append(job)
            else:
                dirs += sorted(p for p in job.iterdir() if p.name.startswith("chk-") and p.is_dir())
    out = []
    for d in dirs:
        entry: dict[str, Any] = {"path": str(d)}
        try:
            m = read_manifest(d)
            entry.update(
                job_id=m["job_id"],
                checkpoint_id=m["checkpoint_id"],
                kind=m.get("kind", "checkpoint"),
                timestamp_ms=m.get("timestamp_ms"),
                size=sum(int(o["size"]) for o in m["operators"].values()),
            )
            load_checkpoint(d)
            entry["status"] = "ok"
        except CorruptCheckpointError as exc:
            entry["status"] = f"corrupt: {exc.message}"
        except CheckpointError as exc:
            entry["status"] = f"unusable: {exc.message}"
        out.append(entry)
    return out


__all__ = ["committed_checkpoint", "copy_as_savepoint", "list_checkpoints"]
