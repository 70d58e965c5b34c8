"""Provision the Flink oracle: a dedicated PyFlink 2.3 virtualenv plus the small Java glue jar.

PyFlink is *not* installed into the test environment: apache-flink 2.3.0 pulls in ~50 packages with hard
pins (apache-beam 2.61, protobuf 5.x, numpy 2.1.3, pandas 2.2.3, pyarrow 16, dill 0.3.1.1, cloudpickle
2.2.1, grpcio 1.65) that would hold millstream's own dependencies back. Instead the parity suite keeps a
virtualenv of its own, built once and reused:

- location: ``$MILLSTREAM_PYFLINK_VENV`` or ``${XDG_CACHE_HOME:-~/.cache}/millstream-tests/pyflink-venv``;
- ``<venv>/.millstream-complete`` marks a finished install (an interrupted one is rebuilt from scratch);
- an exclusive ``flock`` on ``<venv>.lock`` serialises parallel test sessions;
- ``$MILLSTREAM_PYFLINK_PYTHON`` may name an existing interpreter that has ``apache-flink==2.3.0``.

The Java sources in ``java/`` (key selector, window/join formatting functions) are compiled with
``javac`` against the jars PyFlink ships and cached as ``<venv>/millstream-parity-<hash>.jar``; they let
the oracle drive Flink's Java DataStream API (joins, Java count windows), which PyFlink's Python API lacks.

Nothing here runs at import time: the parity conftest calls :func:`provision` from a session fixture,
so only tests that ask for the oracle pay for it. Run ``python tests/parity/pyflink_env.py`` to provision
by hand (it prints where and how long it took).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PYFLINK_VERSION = "2.3.0"
PIP_TIMEOUT_S = 1800
JAVA_DIR = Path(__file__).with_name("java")
MARKER = ".millstream-complete"
# what millstream itself needs on the Flink side that PyFlink does not bring (it brings orjson and fastavro):
# msgpack, for the embedded log that `--engine flink` writes on a local mini-cluster
RUNTIME_DEPS = {"msgpack": "msgpack>=1.0"}

FIX_HINT = (
    "The Flink parity tests need Java 17 (`java` on PATH; Debian: `apt-get install openjdk-17-jdk-headless`) "
    f"and PyPI access to install apache-flink=={PYFLINK_VERSION} (~840 MB) into "
    "${XDG_CACHE_HOME:-~/.cache}/millstream-tests/pyflink-venv; or point MILLSTREAM_PYFLINK_PYTHON at a "
    f"Python that already has apache-flink=={PYFLINK_VERSION}."
)


class OracleUnavailable(RuntimeError):
    """PyFlink cannot be provisioned here; the message says why and how to fix it."""


@dataclass(frozen=True)
class OracleEnv:
    """A ready Flink oracle.

    ``python`` runs ``flink_runner.py``; ``jar`` holds the compiled Java glue, or is ``None`` when it
    could not be built (``java_error`` says why) and only Python-API cases can run.
    ``install_seconds`` is how long the virtualenv took to build (``None`` when it was reused).
    """

    python: Path
    jar: Path | None
    java_error: str | None
    install_seconds: float | None
    reused: bool


def default_venv_dir() -> Path:
    """Where the dedicated PyFlink virtualenv lives (see the module docstring)."""
    explicit = os.environ.get("MILLSTREAM_PYFLINK_VENV")
    if explicit:
        return Path(explicit).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "millstream-tests" / "pyflink-venv"


def java_major_version() -> int:
    """Major version of the ``java`` on PATH; raises :class:`OracleUnavailable` when there is none."""
    java = shutil.which("java")
    if java is None:
        raise OracleUnavailable(f"no `java` on PATH. {FIX_HINT}")
    proc = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if proc.returncode != 0 or match is None:
        raise OracleUnavailable(f"`java -version` failed: {proc.stderr.strip()[:300]}. {FIX_HINT}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0"
        major = int(match.group(2))
    if major < 11:
        raise OracleUnavailable(f"PyFlink {PYFLINK_VERSION} needs Java 11+ (17 tested), found {major}. {FIX_HINT}")
    return major


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _check_pyflink(python: Path) -> str:
    """Returns the PyFlink version importable by ``python`` (raises OracleUnavailable otherwise)."""
    proc = subprocess.run(
        [str(python), "-c", "from pyflink.version import __version__; print(__version__)"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise OracleUnavailable(f"{python} cannot import pyflink: {proc.stderr.strip()[-500:]}. {FIX_HINT}")
    return proc.stdout.strip()


def _install_venv(venv: Path, log: Path) -> float:
    """Builds the virtualenv from scratch; returns the seconds it took."""
    started = time.monotonic()
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=600)
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.run(
            [
                str(_venv_python(venv)),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                f"apache-flink=={PYFLINK_VERSION}",
                *RUNTIME_DEPS.values(),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=PIP_TIMEOUT_S,
        )
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-8:]
        shutil.rmtree(venv, ignore_errors=True)
        raise OracleUnavailable(
            f"pip could not install apache-flink=={PYFLINK_VERSION} (exit {proc.returncode}; log {log}):\n  "
            + "\n  ".join(tail)
            + f"\n{FIX_HINT}"
        )
    return time.monotonic() - started


def _ensure_runtime_deps(python: Path, log: Path) -> None:
    """Installs the :data:`RUNTIME_DEPS` a virtualenv built before they were added lacks."""
    missing = [
        spec
        for module, spec in RUNTIME_DEPS.items()
        if subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, timeout=120).returncode
    ]
    if not missing:
        return
    with open(log, "a", encoding="utf-8") as out:
        proc = subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", *missing],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=PIP_TIMEOUT_S,
        )
    if proc.returncode != 0:
        raise OracleUnavailable(f"pip could not install {', '.join(missing)} into {python} (log {log}). {FIX_HINT}")


def _pyflink_lib(python: Path) -> Path:
    proc = subprocess.run(
        [
            str(python),
            "-c",
            "import os, pyflink; print(os.path.join(os.path.dirname(pyflink.__file__), 'lib'))",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return Path(proc.stdout.strip())


def java_sources_hash() -> str:
    """Hash of the Java glue sources, so an edited source gets a freshly compiled jar."""
    digest = hashlib.sha256()
    for src in sorted(JAVA_DIR.rglob("*.java")):
        digest.update(src.relative_to(JAVA_DIR).as_posix().encode())
        digest.update(src.read_bytes())
    return digest.hexdigest()[:16]


def build_glue_jar(python: Path, cache_dir: Path) -> Path:
    """Compiles ``java/`` against PyFlink's jars into ``cache_dir`` (cached by source hash)."""
    jar = cache_dir / f"millstream-parity-{java_sources_hash()}.jar"
    if jar.exists():
        return jar
    javac = shutil.which("javac")
    if javac is None:
        raise OracleUnavailable(
            "no `javac` on PATH (a JDK, not only a JRE, is needed for the Java-API oracle cases: joins and "
            "Java count windows; Debian: `apt-get install openjdk-17-jdk-headless`)"
        )
    lib = _pyflink_lib(python)
    sources = [str(p) for p in sorted(JAVA_DIR.rglob("*.java"))]
    with tempfile.TemporaryDirectory(prefix="millstream-parity-javac-") as classes:
        proc = subprocess.run(
            [javac, "--release", "11", "-nowarn", "-d", classes, "-cp", str(lib / "*"), *sources],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            raise OracleUnavailable(f"javac failed on tests/parity/java: {proc.stderr.strip()[-1500:]}")
        partial = jar.with_suffix(".jar.partial")
        with zipfile.ZipFile(partial, "w") as zf:
            for path in sorted(Path(classes).rglob("*.class")):
                zf.write(path, path.relative_to(classes).as_posix())
        partial.replace(jar)
    return jar


def provision(venv: Path | None = None) -> OracleEnv:
    """Makes the oracle ready (installing PyFlink on first use) or raises :class:`OracleUnavailable`."""
    java_major_version()
    explicit = os.environ.get("MILLSTREAM_PYFLINK_PYTHON")
    venv = venv or default_venv_dir()
    install_seconds: float | None = None
    with _locked(venv.with_name(venv.name + ".lock")):
        if explicit:
            python = Path(explicit)
            cache_dir = venv.parent
            cache_dir.mkdir(parents=True, exist_ok=True)
        else:
            python = _venv_python(venv)
            cache_dir = venv
            marker = venv / MARKER
            if not (marker.exists() and python.exists()):
                install_seconds = _install_venv(venv, venv.with_name(venv.name + "-install.log"))
            else:
                _ensure_runtime_deps(python, venv.with_name(venv.name + "-install.log"))
        version = _check_pyflink(python)
        if install_seconds is not None:
            (venv / MARKER).write_text(json.dumps({"pyflink": version, "install_seconds": install_seconds}))
        if version != PYFLINK_VERSION:
            raise OracleUnavailable(f"{python} has PyFlink {version}, the oracle needs {PYFLINK_VERSION}. {FIX_HINT}")
        jar: Path | None = None
        java_error: str | None = None
        try:
            jar = build_glue_jar(python, cache_dir)
        except OracleUnavailable as exc:
            java_error = str(exc)
    return OracleEnv(python, jar, java_error, install_seconds, reused=install_seconds is None)


if __name__ == "__main__":
    t0 = time.monotonic()
    try:
        env = provision()
    except OracleUnavailable as exc:
        print(f"PyFlink oracle unavailable: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"PyFlink oracle ready in {time.monotonic() - t0:.1f}s: {env}")
