"""The job of the reactive scale-out tests, as a pipeline file for ``millstream run --reactive``: the parallel
checkpoint tests' exactly-once job (:mod:`tests.parallel.crash_job`: windows into an exactly-once log sink,
keyed state into an exactly-once file sink), over a bounded input, throttled so that instances can join, leave
and be killed while it runs. ``REACTIVE_OUT`` names the file sink's directory, ``REACTIVE_PAUSE_S`` the
throttle, ``REACTIVE_INTERVAL_MS`` the checkpoint interval (200 ms)."""

from __future__ import annotations

import os

from millstream import RestartStrategies, StreamExecutionEnvironment
from tests.parallel import crash_job


def build(env: StreamExecutionEnvironment) -> None:
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(1000, 200))
    env.set_batch_size(64)  # a throttled element costs ms: small batches let barriers through every interval
    crash_job.build(
        env,
        os.environ["MILLSTREAM_LOG"],
        os.environ["REACTIVE_OUT"],
        interval_ms=int(os.environ.get("REACTIVE_INTERVAL_MS", "200")),
        pause_s=float(os.environ.get("REACTIVE_PAUSE_S", "0.0005")),
    )
