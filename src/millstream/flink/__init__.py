"""Run or export a pipeline's job graph on Apache Flink through PyFlink (``--engine flink``).

- :mod:`~millstream.flink.check` — what translates (pure; clear errors naming the operator and the fix);
- :mod:`~millstream.flink.config` — the job's configuration as Flink's (pure);
- :mod:`~millstream.flink.runner` — ``millstream run --engine flink``: check, then run where PyFlink is;
- :mod:`~millstream.flink.export` — ``millstream flink export``: a standalone PyFlink program;
- :mod:`~millstream.flink.translate`, :mod:`~millstream.flink.pyflink_functions`,
  :mod:`~millstream.flink.evicting` (windows with evictors or user-written triggers),
  :mod:`~millstream.flink.trigger_state` (their triggers' partitioned state), :mod:`~millstream.flink.glue` —
  the translation itself (import PyFlink; only where it is installed).

See ``docs/flink.md``.
"""

from .check import FlinkTranslationError, check_job, check_jobmanager
from .config import flink_configuration
from .runner import FlinkEngineError, FlinkOptions, check_pipeline, run_pipeline

__all__ = [
    "FlinkEngineError",
    "FlinkOptions",
    "FlinkTranslationError",
    "check_job",
    "check_jobmanager",
    "check_pipeline",
    "flink_configuration",
    "run_pipeline",
]
