"""Runs the PyFlink corpus on real PyFlink 2.3 (the parity virtualenv, ``tests/parity/pyflink_env.py``) and on
millstream (``millstream run --pyflink``), and compares what they print.

PyFlink's outputs are cached per program under the virtualenv's cache directory, keyed by the program's
text and the oracle's own sources, so a program is run on Flink again whenever it or the harness changes.
``python -m tests.pyflink_corpus.harness [PROGRAM...]`` prints both outputs and a verdict per program.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tests.parity.pyflink_env import OracleEnv, OracleUnavailable, _pyflink_lib, provision

HERE = Path(__file__).parent
PROGRAMS = HERE / "programs"
JAVA = HERE / "java"
ORACLE = HERE / "oracle.py"
MARK = "=====millstream-corpus-program:"
ORACLE_VERSION = "1"
"""Part of every cache key: bump it when a change to ``oracle.py`` can change what programs print."""


@dataclass
class Outcome:
    """What a run printed on stdout, and the error if the program failed (``None`` when it succeeded)."""

    stdout: str
    error: str | None


def programs() -> list[Path]:
    return sorted(PROGRAMS.glob("p*.py"))


def _harness_hash() -> str:
    digest = hashlib.sha256(ORACLE_VERSION.encode())
    for path in sorted(JAVA.rglob("*.java")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _jar(env: OracleEnv, cache: Path) -> Path:
    jar = cache / f"corpus-{_harness_hash()}.jar"
    if jar.exists():
        return jar
    javac = shutil.which("javac")
    if javac is None:
        raise OracleUnavailable("no `javac` on PATH (the corpus oracle compiles tests/pyflink_corpus/java)")
    lib = _pyflink_lib(env.python)
    sources = [str(p) for p in sorted(JAVA.rglob("*.java"))]
    with tempfile.TemporaryDirectory(prefix="millstream-corpus-javac-") as classes:
        proc = subprocess.run(
            [javac, "--release", "11", "-nowarn", "-d", classes, "-cp", str(lib / "*"), *sources],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            raise OracleUnavailable(f"javac failed on tests/pyflink_corpus/java: {proc.stderr[-1500:]}")
        partial = jar.with_suffix(".partial")
        with zipfile.ZipFile(partial, "w") as zf:
            for path in sorted(Path(classes).rglob("*.class")):
                zf.write(path, path.relative_to(classes).as_posix())
        partial.replace(jar)
    return jar


def _key(program: Path) -> str:
    return hashlib.sha256(program.read_bytes() + _harness_hash().encode()).hexdigest()[:24]


def _run_oracle(env: OracleEnv, cache: Path, todo: list[Path]) -> None:
    """Run ``todo`` in one PyFlink process; each program's output is cached as soon as the next one starts,
    so an interrupted run keeps what it finished."""
    jar = _jar(env, cache)
    by_name = {p.name: p for p in todo}
    with tempfile.TemporaryDirectory(prefix="millstream-corpus-") as work:
        path_env = dict(os.environ, PATH=f"{env.python.parent}{os.pathsep}{os.environ.get('PATH', '')}")
        with subprocess.Popen(
            [str(env.python), str(ORACLE), str(jar), work, *map(str, todo)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=work,
            env=path_env,
        ) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            current: str | None = None
            lines: list[str] = []
            finished = False

            def store() -> None:
                if current is None:
                    return
                program = by_name[current]
                error_file = Path(work) / f"{current}.error"
                (cache / f"{_key(program)}.out").write_text("".join(lines), encoding="utf-8")
                if error_file.exists():
                    (cache / f"{_key(program)}.error").write_text(error_file.read_text(encoding="utf-8"))

            for line in proc.stdout:
                if line.startswith(MARK):
                    store()
                    name = line[len(MARK) :].strip()
                    current, lines = (None, []) if name == "END" else (name, [])
                    finished = name == "END"
                elif current is not None:
                    lines.append(line)
            err = proc.stderr.read()
            proc.wait()
        if not finished:
            raise OracleUnavailable(f"the PyFlink corpus run failed: {err[-3000:]}")


def flink_outcomes(selected: list[Path]) -> dict[str, Outcome]:
    """Each program's outcome on PyFlink 2.3 (from the cache, or run now: all uncached ones in one JVM)."""
    env = provision()
    cache = env.python.parent.parent.parent / "pyflink-corpus-cache"
    cache.mkdir(parents=True, exist_ok=True)
    todo = [p for p in selected if not (cache / f"{_key(p)}.out").exists()]
    if todo:
        _run_oracle(env, cache, todo)
    out = {}
    for p in selected:
        err = cache / f"{_key(p)}.error"
        out[p.name] = Outcome(
            (cache / f"{_key(p)}.out").read_text(encoding="utf-8"),
            err.read_text(encoding="utf-8") if err.exists() else None,
        )
    return out


def millstream_outcome(program: Path, timeout: float = 300) -> Outcome:
    """``millstream run --pyflink -q PROGRAM`` in a scratch directory: its stdout, and stderr on failure."""
    with tempfile.TemporaryDirectory(prefix="millstream-corpus-") as work:
        env = dict(os.environ, MILLSTREAM_LOG=f"file://{work}/log")
        proc = subprocess.run(
            [sys.executable, "-m", "millstream", "run", "--pyflink", "-q", str(program)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=work,
            env=env,
        )
    return Outcome(proc.stdout, None if proc.returncode == 0 else proc.stderr or f"exit {proc.returncode}")


def by_sink(text: str, *, ordered: bool = True) -> dict[str, list[str]]:
    """Lines grouped by print sink (the ``identifier> `` prefix; ``""`` for none), each group in order: several
    sinks of one job interleave by thread scheduling in Flink, so only each sink's own order is compared
    (``ordered=False``: each group sorted, for programs whose order Flink does not define at all)."""
    groups: dict[str, list[str]] = {}
    for line in text.splitlines():
        prefix, sep, _rest = line.partition("> ")
        key = prefix if sep and " " not in prefix and prefix else ""
        groups.setdefault(key, []).append(line)
    return groups if ordered else {k: sorted(v) for k, v in groups.items()}


def main(argv: list[str]) -> int:
    selected = [Path(a).resolve() for a in argv] or programs()
    flink = flink_outcomes(selected)
    bad = 0
    for p in selected:
        ms = millstream_outcome(p)
        fl = flink[p.name]
        same = fl.error is None and ms.error is None and by_sink(fl.stdout) == by_sink(ms.stdout)
        bad += not same
        print(f"{'SAME' if same else 'DIFF'} {p.name}")
        if not same:
            print(f"--- flink{' (failed)' if fl.error else ''}\n{fl.stdout}{fl.error or ''}")
            print(f"--- millstream{' (failed)' if ms.error else ''}\n{ms.stdout}{ms.error or ''}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
