"""The Java side of the translation: ``PerElementWatermarks`` (millstream's watermark rule on Flink) and
``Restamp`` (the record timestamps PyFlink's Python operators cannot set: window end - 1, a count window's
``Long.MAX_VALUE``, an interval join's ``max(left, right)``).

The source (``java/millstream/flink/*.java``) ships with millstream and is compiled once, with the ``javac``
of the JDK Flink runs on, against the jars of the installed PyFlink, into
``${XDG_CACHE_HOME:-~/.cache}/millstream/flink/millstream-flink-<hash>.jar`` (the hash covers the sources and
the PyFlink version). The jar is added to every translated job (``env.add_jars``), so it also reaches a
remote cluster. :func:`glue_jar` returns ``None`` (with a warning on stderr) when there is no ``javac``:
Flink's periodic bounded-out-of-orderness watermarks are used then, whose results can depend on timing, and
records keep the timestamps PyFlink's Python operators give them.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

JAVA_DIR = Path(__file__).with_name("java")


def cache_dir() -> Path:
    """Where the compiled glue jar is kept."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "millstream" / "flink"


def _pyflink_lib() -> Path:
    import pyflink

    return Path(pyflink.__file__).parent / "lib"


def glue_jar() -> str | None:
    """The compiled glue jar (built on first use; see the module docstring), or ``None`` without ``javac``."""
    from pyflink.version import __version__

    sources = sorted(JAVA_DIR.rglob("*.java"))
    digest = hashlib.sha256(__version__.encode())
    for src in sources:
        digest.update(src.relative_to(JAVA_DIR).as_posix().encode())
        digest.update(src.read_bytes())
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    jar = folder / f"millstream-flink-{digest.hexdigest()[:16]}.jar"
    if jar.exists():
        return str(jar)
    javac = shutil.which("javac")
    if javac is None:
        print(
            "warning: no `javac` on PATH: millstream's per-element watermarks cannot be compiled for Flink; "
            "using Flink's periodic watermarks (results may depend on timing), and window, count-window and "
            "interval-join outputs keep PyFlink's record timestamps. Install a JDK to fix this.",
            file=sys.stderr,
        )
        return None
    with open(folder / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if jar.exists():
            return str(jar)
        with tempfile.TemporaryDirectory(prefix="millstream-flink-javac-") as classes:
            proc = subprocess.run(
                [javac, "--release", "11", "-nowarn", "-d", classes, "-cp", str(_pyflink_lib() / "*")]
                + [str(s) for s in sources],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"javac failed on millstream's Flink glue: {proc.stderr.strip()[-1500:]}")
            partial = jar.with_suffix(".partial")
            with zipfile.ZipFile(partial, "w") as zf:
                for path in sorted(Path(classes).rglob("*.class")):
                    zf.write(path, path.relative_to(classes).as_posix())
            partial.replace(jar)
    return str(jar)


__all__ = ["cache_dir", "glue_jar"]
