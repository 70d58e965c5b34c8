"""Runs corpus programs on real PyFlink 2.3 (inside the parity virtualenv): ``python oracle.py JAR OUT PROG...``.

Every program runs unchanged, in this one process (one JVM for all, so the corpus takes seconds per program,
not a JVM start each), as ``__main__``; a marker line on stdout separates the programs' outputs, which
``OUT`` receives as one file per program. Two things are set around the programs, not in them:

- Flink's watermark generators emit after every element (``PerElementGenerator.java``: Flink's
  bounded-out-of-orderness value ``max_ts - d - 1``, emitted per element rather than every 200 ms of
  wall-clock time). Flink's periodic emission makes results depend on speed; per element is the schedule
  millstream's semantics define (SEMANTICS.md).
- ``python.fn-execution.bundle.size=1``, so Python operators hand on each result before the next input.
"""

from __future__ import annotations

import io
import os
import runpy
import sys
import traceback

MARK = "=====millstream-corpus-program:"


def _patch(jar: str) -> None:
    from pyflink.common import Configuration
    from pyflink.common.watermark_strategy import WatermarkStrategy
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.java_gateway import get_gateway

    original_get = StreamExecutionEnvironment.get_execution_environment

    def get_execution_environment(configuration: Configuration | None = None) -> StreamExecutionEnvironment:
        conf = Configuration(configuration) if configuration is not None else Configuration()
        conf.set_string("python.fn-execution.bundle.size", "1")
        conf.set_string("python.executable", sys.executable)
        conf.set_string("python.client.executable", sys.executable)
        env = original_get(conf)
        env.add_jars("file://" + os.path.abspath(jar))
        return env

    def per_element(delay_ms: int) -> WatermarkStrategy:
        jvm = get_gateway().jvm
        jws = jvm.org.apache.flink.api.common.eventtime.WatermarkStrategy
        return WatermarkStrategy(jws.forGenerator(jvm.millstream.corpus.PerElementGenerator(int(delay_ms))))

    StreamExecutionEnvironment.get_execution_environment = staticmethod(get_execution_environment)
    WatermarkStrategy.for_bounded_out_of_orderness = staticmethod(lambda d: per_element(d._j_duration.toMillis()))
    WatermarkStrategy.for_monotonous_timestamps = staticmethod(lambda: per_element(0))


def main(argv: list[str]) -> int:
    jar, out_dir, programs = argv[1], argv[2], argv[3:]
    _patch(jar)
    from pyflink.java_gateway import get_gateway

    get_gateway()  # start the JVM before the first marker
    for path in programs:
        name = os.path.basename(path)
        print(f"{MARK}{name}", flush=True)
        get_gateway().jvm.System.out.flush()
        saved = sys.argv
        sys.argv = [path]
        try:
            runpy.run_path(path, run_name="__main__")
        except BaseException:  # recorded as the program's outcome
            err = io.StringIO()
            traceback.print_exc(file=err)
            with open(os.path.join(out_dir, name + ".error"), "w", encoding="utf-8") as f:
                f.write(err.getvalue())
        finally:
            sys.argv = saved
        sys.stdout.flush()
        get_gateway().jvm.System.out.flush()
    print(f"{MARK}END", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
