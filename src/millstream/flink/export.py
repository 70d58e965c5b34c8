"""``millstream flink export PIPELINE.py -o job.py``: a standalone PyFlink program for Flink's own tooling.

The exported program is plain Python that runs with ``python job.py`` (or ``flink run -py job.py``) in any
interpreter that has PyFlink. It **imports millstream and runs the pipeline file** through
:func:`millstream.flink.runner.main`, rather than carrying cloudpickled functions: a pickle made by this
interpreter's cloudpickle need not load in the PyFlink one (PyFlink 2.3 pins cloudpickle 2.2), and the user's
functions stay readable, reviewable code. What is frozen at export time: the pipeline's path, the options
(parallelism, jars, JobManager address, default log, extra Flink configuration) and where millstream was
imported from (used only when ``millstream`` is not installed where the job runs).

The pipeline is checked (:func:`millstream.flink.runner.check_pipeline`) before anything is written.
"""

from __future__ import annotations

import datetime
import os

from .runner import FlinkOptions, check_pipeline, millstream_path

TEMPLATE = '''\
"""PyFlink job exported by `millstream flink export` from {pipeline} ({when}).

Run it with a Python that has PyFlink (apache-flink) installed:
    python {name}                      # local mini-cluster{remote}
It imports millstream (installed, or from {src}) and runs the pipeline file, translated onto
PyFlink's DataStream API (see millstream's docs/flink.md).
"""

import os
import sys

PIPELINE = {pipeline!r}
MILLSTREAM_SRC = {src!r}
ARGS = {args!r}

try:
    import millstream  # noqa: F401
except ImportError:
    sys.path.insert(0, MILLSTREAM_SRC)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (MILLSTREAM_SRC, os.environ.get("PYTHONPATH")) if p)

from millstream.flink.runner import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main([PIPELINE, *ARGS]))
'''


def export_program(path: str, output: str, options: FlinkOptions) -> str:
    """Checks the pipeline and writes the PyFlink program to ``output``; returns its text."""
    check_pipeline(path, options)
    pipeline = os.path.abspath(path)
    args: list[str] = []
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
    text = TEMPLATE.format(
        pipeline=pipeline,
        when=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        name=os.path.basename(output),
        remote=f"\n    (submits to the JobManager at {options.address})" if options.address else "",
        src=millstream_path(),
        args=args,
    )
    with open(output, "w", encoding="utf-8") as fh:
        fh.write(text)
    return text


__all__ = ["export_program"]
