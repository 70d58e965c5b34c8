"""A millstream job's configuration as Flink configuration (pure: no PyFlink needed).

:func:`flink_configuration` carries over what Flink has a key for:

| millstream (``env.``)                          | Flink                                                    |
|------------------------------------------------|----------------------------------------------------------|
| ``set_parallelism`` / ``-p``                   | ``parallelism.default`` (each operator also gets its own) |
| ``set_max_parallelism``                        | ``pipeline.max-parallelism``                             |
| ``enable_checkpointing(ms, mode)``             | ``execution.checkpointing.interval`` / ``.mode``         |
| ``get_checkpoint_config().set_checkpoint_storage_dir`` | ``execution.checkpointing.dir`` (``file://`` URI)  |
| ``set_max_retained_checkpoints``               | ``state.checkpoints.num-retained``                       |
| ``set_restart_strategy(...)``                  | ``restart-strategy.type`` (+ its delay keys)              |
| ``set_state_backend``                          | ``state.backend.type`` (``hashmap`` / ``rocksdb``)       |
| ``set_global_job_parameters``                  | ``pipeline.global-job-parameters``                       |
| ``--flink-address host:port``                  | ``execution.target: remote``, ``execution.attached``, ``rest.*`` |

Python execution is made deterministic the way millstream is: ``python.fn-execution.bundle.size: 1`` (each
element goes through the Python operators before the next watermark), unless ``extra`` sets it.
"""

from __future__ import annotations

import os
from typing import Any

from .check import parse_address


def _ms(ms: int) -> str:
    return f"{int(ms)} ms"


def flink_configuration(
    job_config: Any, *, address: str | None = None, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """Flink configuration (``key -> value`` strings) for a millstream ``JobConfig`` (see the module table)."""
    conf: dict[str, str] = {
        "python.fn-execution.bundle.size": "1",
        "pipeline.auto-watermark-interval": "200 ms",
    }
    if job_config.parallelism:
        conf["parallelism.default"] = str(job_config.parallelism)
    if job_config.max_parallelism:
        conf["pipeline.max-parallelism"] = str(job_config.max_parallelism)
    if job_config.checkpoint_interval:
        conf["execution.checkpointing.interval"] = _ms(job_config.checkpoint_interval)
        mode = str(job_config.checkpointing_mode).upper()
        conf["execution.checkpointing.mode"] = "AT_LEAST_ONCE" if "LEAST" in mode else "EXACTLY_ONCE"
        conf["state.checkpoints.num-retained"] = str(job_config.checkpoints_retained)
        if job_config.checkpoint_storage:
            storage = str(job_config.checkpoint_storage)
            if "://" not in storage:
                storage = "file://" + os.path.abspath(storage)
            conf["execution.checkpointing.dir"] = storage
    restart = job_config.restart_strategy
    if restart.kind == "fixed-delay":
        conf["restart-strategy.type"] = "fixed-delay"
        conf["restart-strategy.fixed-delay.attempts"] = str(restart.attempts)
        conf["restart-strategy.fixed-delay.delay"] = _ms(restart.delay_ms)
    elif restart.kind == "exponential-delay":
        conf["restart-strategy.type"] = "exponential-delay"
        conf["restart-strategy.exponential-delay.initial-backoff"] = _ms(restart.delay_ms)
        conf["restart-strategy.exponential-delay.max-backoff"] = _ms(restart.max_delay_ms)
        conf["restart-strategy.exponential-delay.backoff-multiplier"] = str(float(restart.multiplier))
        if restart.reset_threshold_ms is not None:
            conf["restart-strategy.exponential-delay.reset-backoff-threshold"] = _ms(restart.reset_threshold_ms)
    else:
        conf["restart-strategy.type"] = "none"
    if job_config.state_backend in ("hashmap", "rocksdb"):
        conf["state.backend.type"] = job_config.state_backend
    if job_config.params:
        conf["pipeline.global-job-parameters"] = ",".join(f"{k}:{v}" for k, v in sorted(job_config.params.items()))
    if address:
        host, port = parse_address(address)
        conf["execution.target"] = "remote"
        conf["execution.attached"] = "true"  # wait for the job's end, as `flink run` does by default
        conf["rest.address"] = host
        conf["rest.port"] = str(port)
    conf.update(extra or {})
    return conf


__all__ = ["flink_configuration"]
