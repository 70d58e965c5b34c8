"""Checkpoint storage on a local directory: atomic, checksummed, retained, bound to one job.

Layout (``root`` is the configured checkpoint directory)::

    root/<job-dir>/chk-000000042/_metadata      manifest (JSON, see below)
    root/<job-dir>/chk-000000042/state.bin      the state blobs under 1 MiB, one after another
    root/<job-dir>/chk-000000042/op-0003.bin    a larger state blob (one file per operator uid)
    root/<job-dir>/.tmp-chk-000000043/          a checkpoint being written (ignored, removed on start)

``<job-dir>`` is the job id made file-name safe. The manifest holds ``format`` (``FORMAT_VERSION``),
``job_id``, ``checkpoint_id``, ``kind`` (checkpoint or savepoint), ``timestamp_ms``, ``mode`` and, per
operator uid, its blob's file, offset, size and SHA-256. A savepoint has the same layout in a directory of its own.

Writing (:meth:`CheckpointStorage.write`) is atomic: blobs and manifest go to a temp directory, each file is
fsynced, the directory is renamed to ``chk-<id>`` and the parent fsynced, so a crash leaves either a whole
checkpoint or none (a leftover temp directory is removed on the next start). A blob equal to the previous
checkpoint's large blob for the same uid is hard-linked instead of written again (incremental at operator
granularity: operators whose state did not change cost no I/O).

Reading (:meth:`CheckpointStorage.load`) verifies the manifest and every checksum; a corrupt or truncated
checkpoint raises :class:`CorruptCheckpointError`, and :meth:`CheckpointStorage.latest_valid` then falls back
to the previous one and says so in ``fallbacks`` (and through ``logging``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import CheckpointError

FORMAT_VERSION = 1
MANIFEST = "_metadata"
PACKED = "state.bin"
PACK_LIMIT = 1 << 20  # blobs below 1 MiB are packed into one file; larger ones get a file each
_CHK_RE = re.compile(r"^chk-(\d+)$")
log = logging.getLogger("millstream.checkpoint")


class CorruptCheckpointError(CheckpointError):
    """A checkpoint's manifest or a state blob is missing, truncated or fails its checksum."""


class ForeignCheckpointError(CheckpointError):
    """The checkpoint directory belongs to another job."""

    exit_code = 2


class CheckpointDirectoryError(CheckpointError):
    """The checkpoint directory cannot be created, listed or written: the job does not start."""

    exit_code = 2


class CheckpointWriteError(CheckpointError):
    """Writing a checkpoint failed (disk full, permissions...); nothing of it was kept."""


def job_dir_name(job_id: str) -> str:
    """A file-name-safe directory name for a job id (readable prefix + short hash against collisions)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", job_id).strip("._")[:60] or "job"
    return f"{slug}-{hashlib.sha256(job_id.encode()).hexdigest()[:8]}"


@dataclass
class Checkpoint:
    """A loaded, verified checkpoint: its manifest and the state blob per operator uid."""

    path: Path
    manifest: dict[str, Any]
    blobs: dict[str, bytes] = field(default_factory=dict)

    @property
    def checkpoint_id(self) -> int:
        return int(self.manifest["checkpoint_id"])

    @property
    def job_id(self) -> str:
        return str(self.manifest["job_id"])


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of a checkpoint or savepoint directory; :class:`CorruptCheckpointError` if unreadable."""
    mf = path / MANIFEST
    try:
        manifest = json.loads(mf.read_bytes())
    except FileNotFoundError as exc:
        raise CorruptCheckpointError(
            f"{path} is not a checkpoint: it has no {MANIFEST} file",
            hint="point at a chk-<n> directory or a savepoint directory",
        ) from exc
    except (OSError, ValueError) as exc:
        raise CorruptCheckpointError(f"checkpoint manifest {mf} is unreadable or truncated ({exc})") from exc
    if not isinstance(manifest, dict) or "checkpoint_id" not in manifest or "operators" not in manifest:
        raise CorruptCheckpointError(f"checkpoint manifest {mf} is incomplete")
    if manifest.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {manifest.get('format')!r}; this millstream reads "
            f"version {FORMAT_VERSION}",
            hint="restore it with the millstream version that wrote it",
        )
    return manifest


def load_checkpoint(path: Path, *, verify: bool = True) -> Checkpoint:
    """Read and verify a checkpoint/savepoint directory (all blobs, checksums and sizes)."""
    path = Path(path)
    manifest = read_manifest(path)
    blobs: dict[str, bytes] = {}
    contents: dict[str, bytes] = {}
    for uid, meta in manifest["operators"].items():
        f = path / meta["file"]
        try:
            whole = contents.get(meta["file"])
            if whole is None:
                whole = contents[meta["file"]] = f.read_bytes()
        except OSError as exc:
            raise CorruptCheckpointError(f"checkpoint {path}: state of operator {uid!r} is missing ({exc})") from exc
        off = int(meta.get("offset", 0))
        data = whole[off : off + meta["size"]]
        if verify and (len(data) != meta["size"] or hashlib.sha256(data).hexdigest() != meta["sha256"]):
            raise CorruptCheckpointError(
                f"checkpoint {path}: state of operator {uid!r} ({meta['file']}) is truncated or corrupt "
                f"({len(data)} bytes, expected {meta['size']}; checksum mismatch)"
            )
        blobs[uid] = data
        att = meta.get("attachment")
        if att is not None:
            for fname, size in att["files"].items():
                f = path / att["dir"] / fname
                try:
                    actual = f.stat().st_size
                except OSError as exc:
                    raise CorruptCheckpointError(
                        f"checkpoint {path}: file {att['dir']}/{fname} of operator {uid!r} is missing"
                    ) from exc
                if actual != size:
                    raise CorruptCheckpointError(
                        f"checkpoint {path}: file {att['dir']}/{fname} of operator {uid!r} is truncated "
                        f"({actual} bytes, expected {size})"
                    )
    return Checkpoint(path, manifest, blobs)


class CheckpointStorage:
    """The checkpoints of one job under ``root`` (see the module docstring). ``retain`` completed
    checkpoints are kept (oldest removed first)."""

    def __init__(self, root: str | os.PathLike[str], job_id: str, retain: int = 3) -> None:
        if retain < 1:
            raise CheckpointError(f"checkpoints to retain must be >= 1, got {retain}")
        self.root = Path(root)
        self.job_id = job_id
        self.retain = retain
        self.dir = self.root / job_dir_name(job_id)
        self.fallbacks: list[str] = []  # messages about corrupt checkpoints skipped on recovery
        self._last_files: dict[str, tuple[str, Path]] = {}  # uid -> (sha256, file) of the last checkpoint

    # -- setup --------------------------------------------------------------------------------------
    def open(self) -> None:
        """Create the job's directory, refuse a directory of another job, remove leftover temp dirs. A directory
        that cannot be created, listed or written is :class:`CheckpointDirectoryError`, naming it and why."""
        try:
            self._open()
            probe = self.dir / f".probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise CheckpointDirectoryError(
                f"the checkpoint directory {self.root} cannot be used: {exc.strerror or exc}"
                + (f" ({exc.filename})" if exc.filename else ""),
                hint="set a directory this process can create and write: -D execution.checkpointing.dir=DIR, "
                "set_checkpoint_storage_dir(DIR) or $MILLSTREAM_CHECKPOINT_DIR (for a reactive job, one every "
                "instance reaches)",
            ) from exc

    def _open(self) -> None:
        if (self.root / MANIFEST).exists():
            other = self._job_of(self.root)
            raise ForeignCheckpointError(
                f"{self.root} is a checkpoint of job {other!r}, not a checkpoint directory",
                hint="set the checkpoint storage to the parent directory that holds job directories",
            )
        if self.root.exists():
            stray = next((p for p in self.root.iterdir() if _CHK_RE.match(p.name)), None)
            if stray is not None:
                other = self._job_of(stray)
                raise ForeignCheckpointError(
                    f"{self.root} is the checkpoint directory of job {other!r} (it holds {stray.name}), not a "
                    "checkpoint storage root",
                    hint="set the checkpoint storage to the parent directory that holds job directories",
                )
        self.dir.mkdir(parents=True, exist_ok=True)
        for p in self.dir.iterdir():
            if p.name.startswith((".tmp-", ".work")):
                shutil.rmtree(p, ignore_errors=True)
        for cid in self.completed_ids():
            other = self._job_of(self.dir / f"chk-{cid:09d}")
            if other is not None and other != self.job_id:
                raise ForeignCheckpointError(
                    f"checkpoint directory {self.dir} holds checkpoints of job {other!r}, not of {self.job_id!r}",
                    hint="use another checkpoint directory or another job id (--job-id)",
                )

    @staticmethod
    def _job_of(path: Path) -> str | None:
        try:
            return str(json.loads((path / MANIFEST).read_bytes())["job_id"])
        except Exception:
            return None

    # -- listing ------------------------------------------------------------------------------------
    def completed_ids(self) -> list[int]:
        """Ids of the checkpoint directories present, ascending (not yet verified)."""
        if not self.dir.exists():
            return []
        ids = []
        for p in self.dir.iterdir():
            m = _CHK_RE.match(p.name)
            if m and p.is_dir():
                ids.append(int(m.group(1)))
        return sorted(ids)

    def path_of(self, checkpoint_id: int) -> Path:
        return self.dir / f"chk-{checkpoint_id:09d}"

    def latest_valid(self, max_id: int | None = None) -> Checkpoint | None:
        """The newest checkpoint (with id ≤ ``max_id``) that verifies; corrupt ones are skipped with a
        warning recorded in ``fallbacks``. ``None`` when there is none."""
        for cid in reversed(self.completed_ids()):
            if max_id is not None and cid > max_id:
                continue
            try:
                chk = load_checkpoint(self.path_of(cid))
            except CorruptCheckpointError as exc:
                msg = f"checkpoint {cid} is unusable ({exc}); falling back to the previous checkpoint"
                self.fallbacks.append(msg)
                log.warning(msg)
                continue
            if chk.job_id != self.job_id:
                raise ForeignCheckpointError(
                    f"checkpoint {chk.path} belongs to job {chk.job_id!r}, not {self.job_id!r}",
                    hint="use another checkpoint directory or another job id (--job-id)",
                )
            self._last_files = {
                uid: (meta["sha256"], chk.path / meta["file"]) for uid, meta in chk.manifest["operators"].items()
            }
            return chk
        return None

    def discard_after(self, checkpoint_id: int) -> list[int]:
        """Remove checkpoints newer than ``checkpoint_id`` (written but never committed); their ids."""
        gone = [cid for cid in self.completed_ids() if cid > checkpoint_id]
        for cid in gone:
            shutil.rmtree(self.path_of(cid), ignore_errors=True)
        return gone

    # -- writing ------------------------------------------------------------------------------------
    def write(
        self,
        checkpoint_id: int,
        blobs: dict[str, bytes],
        names: dict[str, str],
        extra: dict[str, Any] | None = None,
        kind: str = "checkpoint",
        target: Path | None = None,
        attachments: dict[str, Path] | None = None,
    ) -> tuple[Path, int]:
        """Write a checkpoint atomically; return its directory and the bytes written (hard-linked
        unchanged blobs are not counted). Raises :class:`CheckpointWriteError` and leaves nothing behind
        on any I/O failure."""
        final = target if target is not None else self.path_of(checkpoint_id)
        tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
        written = 0
        files: dict[str, tuple[str, Path]] = {}
        try:
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
            operators: dict[str, Any] = {}
            packed: list[bytes] = []
            pos = 0
            for i, (uid, data) in enumerate(blobs.items()):
                digest = hashlib.sha256(data).hexdigest()
                meta: dict[str, Any] = {"size": len(data), "sha256": digest, "name": names.get(uid, uid)}
                if len(data) < PACK_LIMIT:  # small blobs share one file: fewer files to fsync
                    meta.update(file=PACKED, offset=pos)
                    packed.append(data)
                    pos += len(data)
                else:
                    fname = f"op-{i:04d}.bin"
                    meta.update(file=fname, offset=0)
                    prev = self._last_files.get(uid)
                    linked = False
                    if prev is not None and prev[0] == digest and target is None:
                        with contextlib.suppress(OSError):
                            os.link(prev[1], tmp / fname)
                            linked = True
                    if not linked:
                        self._write_file(tmp / fname, data)
                        written += len(data)
                    files[uid] = (digest, final / fname)
                operators[uid] = meta
            if packed:
                self._write_file(tmp / PACKED, b"".join(packed))
                written += pos
            for i, (uid, src) in enumerate((attachments or {}).items()):
                # a directory of files (a RocksDB checkpoint) moved in whole; its files are hard links
                name = f"att-{i:04d}"
                os.rename(src, tmp / name)
                sizes = {p.name: p.stat().st_size for p in (tmp / name).iterdir()}
                for p in (tmp / name).iterdir():
                    with open(p, "rb") as fh:
                        os.fsync(fh.fileno())
                _fsync_dir(tmp / name)
                operators.setdefault(uid, {"size": 0, "sha256": hashlib.sha256(b"").hexdigest(), "file": PACKED})
                operators[uid]["attachment"] = {"dir": name, "files": sizes}
            manifest = {
                "format": FORMAT_VERSION,
                "job_id": self.job_id,
                "checkpoint_id": checkpoint_id,
                "kind": kind,
                "timestamp_ms": int(time.time() * 1000),
                "operators": operators,
                **(extra or {}),
            }
            mbytes = json.dumps(manifest, indent=1, sort_keys=True).encode()
            self._write_file(tmp / MANIFEST, mbytes)
            written += len(mbytes)
            _fsync_dir(tmp)
            if final.exists():
                shutil.rmtree(final)
            os.rename(tmp, final)
            _fsync_dir(final.parent)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            why = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
            raise CheckpointWriteError(
                f"writing checkpoint {checkpoint_id} to {final} failed: {why}",
                hint="free space in the checkpoint directory; the job keeps running on the previous checkpoint",
            ) from exc
        if target is None:
            self._last_files = files
        return final, written

    def _write_file(self, path: Path, data: bytes) -> None:
        """Write and fsync one file (overridable by tests that inject I/O faults)."""
        with open(path, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def prune(self) -> None:
        """Keep the newest ``retain`` checkpoints (called once a checkpoint is committed).

        Best effort, as Flink discards subsumed checkpoints: a directory that cannot be listed is logged and the
        old checkpoints stay; it never fails a checkpoint that has already been committed."""
        try:
            ids = self.completed_ids()
        except OSError as exc:
            log.warning("could not discard old checkpoints in %s: %s", self.dir, exc)
            return
        for cid in ids[: max(0, len(ids) - self.retain)]:
            shutil.rmtree(self.path_of(cid), ignore_errors=True)


__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointDirectoryError",
    "CheckpointStorage",
    "CheckpointWriteError",
    "CorruptCheckpointError",
    "ForeignCheckpointError",
    "job_dir_name",
    "load_checkpoint",
    "read_manifest",
]
