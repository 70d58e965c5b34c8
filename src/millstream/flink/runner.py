"""``millstream run PIPELINE.py --engine flink``: a pipeline file's jobs on Apache Flink through PyFlink.

Protocol (every check happens before anything is submitted):

1. In the user's interpreter the pipeline file runs as with the millstream engine
   (:class:`~millstream.runtime.pipeline_file.PipelineRunner`: ``env.execute()``, ``build(env)`` or ``main()``),
   but each job it executes is only *checked* (:func:`millstream.flink.check.check_job`: translatable
   operators, Kafka connector jar, ``--flink-jars`` paths) and, with ``--flink-address``, the JobManager's REST
   endpoint must answer (:func:`~millstream.flink.check.check_jobmanager`).
2. Then the file runs again where PyFlink is importable — this interpreter if it has ``pyflink``, else
   ``--flink-python`` / ``$MILLSTREAM_FLINK_PYTHON`` with millstream and the file's folder on its
   ``PYTHONPATH`` (``python -m millstream.flink``) — and each job is translated
   (:mod:`millstream.flink.translate`) and executed: on a local mini-cluster, or submitted to the JobManager
   at ``--flink-address`` (what ``flink run -m`` does).

The pipeline file is run (not its graph pickled) on the PyFlink side, so user functions travel as the code
of the file, and PyFlink's own cloudpickle ships them to the Python workers.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import ConfigError
from ..stream import environment as _environment
from .check import FlinkTranslationError, check_jars, check_job, check_jobmanager

ENV_PYTHON = "MILLSTREAM_FLINK_PYTHON"


class FlinkEngineError(ConfigError):
    """The Flink engine cannot be started as asked (no PyFlink, a bad ``--flink-python``)."""


@dataclass
class FlinkOptions:
    """``--engine flink`` options: ``address`` of a remote JobManager's REST endpoint (``None``: a local
    mini-cluster), ``jars`` added to every job, ``python`` with PyFlink (``None``: this one or
    ``$MILLSTREAM_FLINK_PYTHON``), the default ``parallelism``, ``default_log`` for log sources/sinks naming none,
    and extra Flink configuration (``key -> value``)."""

    address: str | None = None
    jars: Sequence[str] = ()
    python: str | None = None
    parallelism: int | None = None
    default_log: str | None = None
    conf: dict[str, str] = field(default_factory=dict)


def millstream_path() -> str:
    """The directory holding the ``millstream`` package (what Python workers need on their path)."""
    import millstream

    return os.path.dirname(os.path.dirname(os.path.abspath(millstream.__file__)))


class _Done:
    """What ``env.execute`` returns while a file is only checked: a finished job client without results."""

    def __init__(self, result: Any = None) -> None:
        self.result = result

    def wait(self, timeout: float | None = None) -> bool:
        return True

    def get_job_execution_result(self) -> Any:
        return self.result

    def stop(self) -> None:
        return None

    def cancel(self) -> None:
        return None


def _with_executor(executor: Any, path: str, options: FlinkOptions) -> int:
    from ..runtime.pipeline_file import PipelineRunner

    previous = _environment._get_executor()
    _environment.register_executor(executor)
    try:
        runner = PipelineRunner(path, default_log=options.default_log, parallelism=options.parallelism)
        runner.run()
        return runner.jobs_run
    finally:
        _environment.register_executor(previous)


def check_pipeline(path: str, options: FlinkOptions) -> int:
    """Step 1: runs the file with every job checked, not run; returns how many jobs it executes. Raises
    :class:`FlinkTranslationError` naming the first operator that cannot run on Flink."""
    check_jars(options.jars)
    checked: list[str] = []

    def execute(env: Any, sinks: list[Any], job_name: str, mode: str, collect: Any) -> Any:
        if mode == "collect":
            raise FlinkTranslationError(
                f"job {job_name!r}: execute_and_collect() inside a pipeline file is not supported with --engine flink",
                hint="write the results to a sink (print(), a FileSink or a KafkaSink)",
            )
        check_job(sinks, options.jars, remote=bool(options.address))
        checked.append(job_name)
        return _Done()

    jobs = _with_executor(execute, path, options)
    if options.address:
        check_jobmanager(options.address)
    return jobs


def pyflink_here() -> bool:
    """True when this interpreter can import PyFlink."""
    return importlib.util.find_spec("pyflink") is not None


def _zip(target: str, root: str, files: Sequence[str]) -> str:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(set(files)):
            zf.write(file, os.path.relpath(file, root))
    return target


def _tree(top: str, suffix: str = "") -> list[str]:
    return [
        os.path.join(d, name)
        for d, dirs, names in os.walk(top)
        if "__pycache__" not in d.split(os.sep)
        for name in names
        if name.endswith(suffix) and not name.endswith(".pyc")
    ]


def millstream_zip(into: str) -> str:
    """``millstream.zip`` in ``into``: the ``millstream`` package (top-level ``millstream/``), for a remote
    cluster's Python workers. Flink puts a shipped *directory* itself on the workers' ``PYTHONPATH``, so the
    package directory cannot be shipped as it is (its ``http`` subpackage would shadow the standard library's)."""
    root = millstream_path()
    return _zip(os.path.join(into, "millstream.zip"), root, _tree(os.path.join(root, "millstream")))


def folder_modules_zip(folder: str, into: str) -> str | None:
    """The modules of the pipeline's ``folder`` that are imported at this point (the file runs as ``__main__``
    and its own functions are pickled by value, but what it imports is pickled by reference), as a zip in
    ``into`` whose root is the folder: a top-level module's file, or every ``.py`` file of a top-level package.
    ``None`` when the file imports nothing from its folder."""
    folder = os.path.abspath(folder)
    ours = os.path.join(millstream_path(), "millstream") + os.sep
    files: list[str] = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or not os.path.abspath(file).startswith(folder + os.sep) or file.startswith(ours):
            continue
        top = os.path.relpath(os.path.abspath(file), folder).split(os.sep)[0]
        if name.split(".")[0] != top.removesuffix(".py"):
            continue  # below the folder, but not imported from it (a virtualenv's site-packages, ...)
        if top.endswith(".py"):
            files.append(os.path.join(folder, top))
        else:
            files += _tree(os.path.join(folder, top), ".py")
    if not files:
        return None
    name = f"{os.path.basename(folder) or 'pipeline'}-modules.zip"
    return _zip(os.path.join(into, name), folder, files)


def run_here(path: str, options: FlinkOptions) -> list[Any]:
    """Step 2 in this interpreter (PyFlink importable): every job of the file translated and run on Flink;
    returns Flink's job execution results.

    On the local mini-cluster the Python workers find millstream and the file's modules through
    ``PYTHONPATH``. Submitted to a JobManager (``options.address``), each job carries them instead
    (``add_python_file``, Flink's ``python.files``): :func:`millstream_zip` and :func:`folder_modules_zip`;
    the TaskManagers only need a Python with PyFlink at ``python.executable`` (default: this interpreter's
    path; ``--conf python.executable=...`` names another)."""
    from .translate import run_sinks

    results: list[Any] = []
    folder = os.path.dirname(os.path.abspath(path))

    with tempfile.TemporaryDirectory(prefix="millstream-flink-ship-") as into:

        def execute(env: Any, sinks: list[Any], job_name: str, mode: str, collect: Any) -> Any:
            ship: list[str] = []
            if options.address:
                ship.append(millstream_zip(into))
                modules = folder_modules_zip(folder, into)
                if modules:
                    ship.append(modules)
            result = run_sinks(
                sinks,
                env.config,
                job_name,
                default_parallelism=options.parallelism,
                jars=options.jars,
                address=options.address,
                python_files=ship,
                extra=options.conf,
            )
            results.append(result)
            return _Done(result)

        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (millstream_path(), folder, os.environ.get("PYTHONPATH")) if p
        )  # the mini-cluster's Python workers import millstream and the file's modules
        _with_executor(execute, path, options)
    return results


def flink_python(options: FlinkOptions) -> str | None:
    """The interpreter that runs the Flink side: ``None`` for this one (it has PyFlink), else the named one."""
    named = options.python or os.environ.get(ENV_PYTHON)
    if named:
        if not (os.path.isfile(named) and os.access(named, os.X_OK)):
            raise FlinkEngineError(
                f"--flink-python {named} is not an executable file",
                hint=f"name a Python that has apache-flink installed (or set {ENV_PYTHON})",
            )
        return named
    if pyflink_here():
        return None
    raise FlinkEngineError(
        "PyFlink is not installed in this Python, and no Python with PyFlink was named",
        hint=f"pip install 'millstream[flink]' (apache-flink, ~840 MB, needs Java 11+), or name a Python that has "
        f"it with --flink-python PATH or {ENV_PYTHON}=PATH",
    )


def subprocess_args(path: str, options: FlinkOptions) -> list[str]:
    """The arguments of ``python -m millstream.flink`` for ``options``."""
    args = ["-m", "millstream.flink", os.path.abspath(path)]
    if options.address:
        args += ["--flink-address", options.address]
    for jar in options.jars:
        args += ["--flink-jars", os.path.abspath(jar)]
    if options.parallelism:
        args += ["--parallelism", str(options.parallelism)]
    if options.default_log:
        args += ["--log", options.default_log]
    for k, v in options.conf.items():
        args += ["--conf", f"{k}={v}"]
    return args


def run_pipeline(path: str, options: FlinkOptions) -> int:
    """``millstream run --engine flink``: check (step 1), then run (step 2) here or in the PyFlink Python.
    Returns the exit code of the Flink side (0: every job finished)."""
    python = flink_python(options)
    check_pipeline(path, options)
    if python is None:
        run_here(path, options)
        return 0
    folder = os.path.dirname(os.path.abspath(path))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (millstream_path(), folder, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([python, *subprocess_args(path, options)], env=env, check=False)
    return proc.returncode


def main(argv: list[str] | None = None) -> int:
    """``python -m millstream.flink PIPELINE.py [...]``: step 2 in a Python that has PyFlink (also what
    an exported job runs)."""
    parser = argparse.ArgumentParser(prog="python -m millstream.flink")
    parser.add_argument("pipeline")
    parser.add_argument("--flink-address")
    parser.add_argument("--flink-jars", action="append", default=[])
    parser.add_argument("--parallelism", "-p", type=int)
    parser.add_argument("--log")
    parser.add_argument("--conf", action="append", default=[])
    ns = parser.parse_args(argv)
    options = FlinkOptions(
        address=ns.flink_address,
        jars=ns.flink_jars,
        parallelism=ns.parallelism,
        default_log=ns.log,
        conf=dict(c.split("=", 1) for c in ns.conf),
    )
    try:
        check_pipeline(ns.pipeline, options)
        run_here(ns.pipeline, options)
    except ConfigError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    return 0


__all__ = ["FlinkEngineError", "FlinkOptions", "check_pipeline", "flink_python", "main", "run_here", "run_pipeline"]


if __name__ == "__main__":
    sys.exit(main())
