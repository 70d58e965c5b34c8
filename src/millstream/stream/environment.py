"""``StreamExecutionEnvironment``: where a job is built (sources, configuration) and started.

Layering: ``millstream.stream`` never imports ``millstream.runtime``. The runtime registers itself as the
executor with :func:`register_executor` when it is imported, and ``import millstream`` imports it, so
``env.execute()`` always finds one in practice. Without a registered executor ``execute`` raises a
:class:`JobConfigError` saying to ``import millstream.runtime``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..core.clock import SYSTEM_CLOCK, Clock
from .connector_descriptors import ConnectorSource, is_source_connector
from .connectors import CollectionSource, FileSource, FunctionSource
from .datastream import DataStream
from .errors import JobConfigError
from .graph import Transformation, topological
from .time import WatermarkStrategy, to_millis


@dataclass
class JobConfig:
    """What a job runs with. ``batch_size`` is the most records a source hands to the operator chain at
    once (results never depend on it). ``checkpoint_interval`` ``None`` = checkpointing off."""

    parallelism: int = 1
    batch_size: int = 4096
    checkpoint_interval: int | None = None
    checkpointing_mode: str = "EXACTLY_ONCE"
    checkpoint_storage: str | None = None
    runtime_mode: str = "STREAMING"
    idle_poll_ms: int = 50
    params: dict[str, str] = field(default_factory=dict)


class CheckpointConfig:
    """PyFlink-shaped view of the checkpoint settings stored on the job config."""

    def __init__(self, config: JobConfig) -> None:
        self._c = config

    def get_checkpoint_interval(self) -> int:
        return self._c.checkpoint_interval or -1

    def set_checkpoint_interval(self, interval: Any) -> CheckpointConfig:
        self._c.checkpoint_interval = to_millis(interval, "checkpoint interval")
        return self

    def is_checkpointing_enabled(self) -> bool:
        return self._c.checkpoint_interval is not None

    def get_checkpointing_mode(self) -> str:
        return self._c.checkpointing_mode

    def set_checkpointing_mode(self, mode: Any) -> CheckpointConfig:
        self._c.checkpointing_mode = str(getattr(mode, "name", mode))
        return self

    def set_checkpoint_storage_dir(self, path: str) -> CheckpointConfig:
        self._c.checkpoint_storage = path
        return self


class ExecutionConfig:
    """PyFlink-shaped ``env.get_config()``: job parameters; watermark intervals are accepted and ignored
    (millstream advances the watermark after every element)."""

    def __init__(self, config: JobConfig) -> None:
        self._c = config

    def set_auto_watermark_interval(self, interval: int) -> ExecutionConfig:
        return self

    def get_auto_watermark_interval(self) -> int:
        return 0

    def set_global_job_parameters(self, params: Any) -> ExecutionConfig:
        self._c.params.update({str(k): str(v) for k, v in dict(params).items()})
        return self

    def get_global_job_parameters(self) -> dict[str, str]:
        return dict(self._c.params)

    def set_parallelism(self, parallelism: int) -> ExecutionConfig:
        self._c.parallelism = parallelism
        return self

    def get_parallelism(self) -> int:
        return self._c.parallelism


class CheckpointingMode:
    EXACTLY_ONCE = "EXACTLY_ONCE"
    AT_LEAST_ONCE = "AT_LEAST_ONCE"


class RuntimeExecutionMode:
    STREAMING = "STREAMING"
    BATCH = "BATCH"
    AUTOMATIC = "AUTOMATIC"


Executor = Callable[..., Any]
_executor: Executor | None = None


def register_executor(executor: Executor | None) -> None:
    """Install the function that runs jobs: ``executor(env, sinks, job_name, mode, collect)``."""
    global _executor
    _executor = executor


def _get_executor() -> Executor:
    if _executor is None:
        raise JobConfigError("no job executor is registered", hint="import millstream (or millstream.runtime) first")
    return _executor


class StreamExecutionEnvironment:
    """Builds and runs a streaming job (PyFlink's names)."""

    def __init__(self) -> None:
        self.config = JobConfig()
        self.clock: Clock = SYSTEM_CLOCK
        self._transformations: list[Transformation] = []
        self._sinks: list[Transformation] = []

    @staticmethod
    def get_execution_environment(configuration: Any = None) -> StreamExecutionEnvironment:
        env = StreamExecutionEnvironment()
        if configuration is not None and hasattr(configuration, "items"):
            for k, v in configuration.items():
                env.config.params[str(k)] = str(v)
        return env

    # -- configuration --------------------------------------------------------------------------------
    def set_parallelism(self, parallelism: int) -> StreamExecutionEnvironment:
        if not isinstance(parallelism, int) or parallelism <= 0:
            raise JobConfigError(f"parallelism must be a positive int, got {parallelism!r}")
        self.config.parallelism = parallelism
        return self

    def get_parallelism(self) -> int:
        return self.config.parallelism

    def set_max_parallelism(self, max_parallelism: int) -> StreamExecutionEnvironment:
        return self

    def set_runtime_mode(self, mode: Any) -> StreamExecutionEnvironment:
        self.config.runtime_mode = str(getattr(mode, "name", mode))
        return self

    def enable_checkpointing(self, interval: Any, mode: Any = None) -> StreamExecutionEnvironment:
        """Store the checkpoint interval (ms) and mode on the job config (used by the checkpoint runtime)."""
        ms = to_millis(interval, "checkpoint interval")
        if ms <= 0:
            raise JobConfigError(f"checkpoint interval must be positive, got {ms} ms")
        self.config.checkpoint_interval = ms
        if mode is not None:
            self.config.checkpointing_mode = str(getattr(mode, "name", mode))
        return self

    def get_checkpoint_config(self) -> CheckpointConfig:
        return CheckpointConfig(self.config)

    def get_config(self) -> ExecutionConfig:
        return ExecutionConfig(self.config)

    def set_buffer_timeout(self, timeout_millis: int) -> StreamExecutionEnvironment:
        return self

    def set_batch_size(self, batch_size: int) -> StreamExecutionEnvironment:
        """Most records a source hands to the operators at once (results do not depend on it)."""
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise JobConfigError(f"batch size must be a positive int, got {batch_size!r}")
        self.config.batch_size = batch_size
        return self

    def set_clock(self, clock: Clock) -> StreamExecutionEnvironment:
        """The processing-time clock (a ``ManualClock`` in tests)."""
        self.clock = clock
        return self

    def add_python_file(self, file_path: str) -> None:
        pass

    def set_python_executable(self, python_exec: str) -> None:
        pass

    # -- sources --------------------------------------------------------------------------------------
    def _register(self, t: Transformation, *, sink: bool = False) -> None:
        self._transformations.append(t)
        if sink:
            self._sinks.append(t)

    def _source(self, descriptor: Any, strategy: WatermarkStrategy | None, name: str) -> DataStream:
        if strategy is not None and not isinstance(strategy, WatermarkStrategy):
            raise JobConfigError(f"expected a WatermarkStrategy, got {type(strategy).__name__}")
        t = Transformation("source", name, [], {"source": descriptor, "strategy": strategy})
        self._register(t)
        return DataStream(self, t)

    def from_collection(self, collection: Iterable[Any], type_info: Any = None) -> DataStream:
        return self._source(CollectionSource(tuple(collection)), None, "Collection Source")

    def from_source(
        self,
        source: Any,
        watermark_strategy: WatermarkStrategy | None = None,
        source_name: str | None = None,
        type_info: Any = None,
    ) -> DataStream:
        return self._source(source, watermark_strategy, str(source_name or getattr(source, "name", "Source")))

    def add_source(self, source_func: Any, source_name: str = "Custom Source", type_info: Any = None) -> DataStream:
        """A legacy ``SourceFunction``, a generator function, a source descriptor, or any object with
        ``create_reader(clock)`` returning a :class:`millstream.runtime.sources.SourceReader` (connectors).
        A Kafka-Connect ``SourceConnector`` (class or instance) runs its tasks as the source."""
        if is_source_connector(source_func):
            desc = ConnectorSource.of(source_func)
            return self._source(desc, None, desc.name if source_name == "Custom Source" else source_name)
        if (
            hasattr(source_func, "create_reader")
            or hasattr(source_func, "elements")
            or hasattr(source_func, "topics")
            or isinstance(source_func, FileSource)
        ):
            return self._source(source_func, None, source_name)
        if not (callable(source_func) or hasattr(source_func, "run")):
            raise JobConfigError("add_source needs a SourceFunction, a source descriptor or a generator function")
        return self._source(FunctionSource(source_func), None, source_name)

    def read_text_file(self, file_path: str, charset_name: str = "UTF-8") -> DataStream:
        return self._source(FileSource.for_paths(file_path), None, f"File {file_path}")

    # -- execution ------------------------------------------------------------------------------------
    def get_stream_graph(self) -> list[Transformation]:
        return topological(self._sinks)

    def get_execution_plan(self) -> str:
        """The job graph as JSON (nodes with id, kind, name, uid and inputs)."""
        import json

        nodes = [
            {
                "id": t.id,
                "kind": t.kind,
                "name": t.name,
                "uid": t.uid,
                "inputs": [{"id": u.id, "port": tag.tag_id if tag else None} for u, tag in t.inputs],
            }
            for t in topological(self._sinks or self._transformations)
        ]
        return json.dumps({"nodes": nodes})

    def _take_sinks(self) -> list[Transformation]:
        if not self._sinks:
            raise JobConfigError("the job has no sinks", hint="add one with sink_to(...), add_sink(...) or print()")
        sinks, self._sinks = self._sinks, []
        return sinks

    def execute(self, job_name: str | None = None) -> Any:
        """Run the job to completion in this thread (bounded) and return a ``JobExecutionResult``; an
        unbounded job runs until cancelled. A failure raises ``JobFailedError``."""
        return _get_executor()(self, self._take_sinks(), job_name or "Flink Streaming Job", "sync", None)

    def execute_async(self, job_name: str | None = None) -> Any:
        """Start the job in a background thread and return a ``JobClient`` (``cancel()``,
        ``get_job_execution_result()``, ``wait()``)."""
        return _get_executor()(self, self._take_sinks(), job_name or "Flink Streaming Job", "async", None)

    def _execute_collect(self, streams: list[DataStream], job_name: str | None) -> list[list[Any]]:
        sinks, self._sinks = self._sinks, []
        return _get_executor()(
            self,
            sinks,
            job_name or "collect",
            "collect",
            [s.transformation for s in streams],
        )

    def execute_and_collect(self, job_name: str | None = None, limit: int | None = None) -> list[Any]:
        """Run a bounded job and return the elements of its one dangling stream (a stream nothing reads);
        with several, call ``stream.execute_and_collect()`` on the one you want."""
        consumed = {u.id for t in self._transformations for u, _ in t.inputs}
        dangling = [t for t in self._transformations if t.id not in consumed and t.kind != "sink"]
        if len(dangling) != 1:
            raise JobConfigError(
                f"execute_and_collect() found {len(dangling)} streams without a consumer",
                hint="call execute_and_collect() on the stream whose results you want",
            )
        results = self._execute_collect([DataStream(self, dangling[0])], job_name)[0]
        return results[:limit] if limit is not None else results


__all__ = [
    "CheckpointConfig",
    "CheckpointingMode",
    "JobConfig",
    "RuntimeExecutionMode",
    "StreamExecutionEnvironment",
    "register_executor",
]
