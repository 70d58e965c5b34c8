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
from .batch import apply_runtime_mode
from .connector_descriptors import ConnectorSource, is_source_connector
from .connectors import CollectionSource, FileSource, FunctionSource
from .datastream import DataStream
from .errors import JobConfigError
from .graph import Transformation, topological
from .keygroups import check_max_parallelism
from .plan import JobPlan, plan_job
from .restart import RestartStrategies, RestartStrategyConfiguration
from .time import WatermarkStrategy, to_millis


@dataclass
class JobConfig:
    """What a job runs with. ``batch_size`` is the most records a source hands to the operator chain at
    once (results never depend on it). ``checkpoint_interval`` ``None`` = checkpointing off;
    ``checkpoint_storage`` is the checkpoint directory (default ``./millstream-checkpoints``). ``job_id``
    (default: the job name) names the job's checkpoints: a job started again with the same id resumes from
    its latest completed checkpoint. ``from_savepoint`` restores a savepoint (state matched by operator uid;
    state without an operator is an error unless ``allow_non_restored_state``). ``parallelism`` ``None``
    (unset) lets ``millstream run -p N`` / ``MILLSTREAM_PARALLELISM`` choose (else 1); ``max_parallelism``
    ``None`` is Flink's default per operator (:mod:`millstream.stream.keygroups`). ``agg_phase_strategy`` is
    Flink SQL's ``table.optimizer.agg-phase-strategy``: ``AUTO`` (and ``TWO_PHASE``) pre-aggregates keyed
    tumbling window aggregates before their exchange when the job runs in parallel
    (:mod:`millstream.stream.operators.preagg`), ``ONE_PHASE`` sends every element."""

    parallelism: int | None = None
    max_parallelism: int | None = None
    batch_size: int = 4096
    checkpoint_interval: int | None = None
    checkpointing_mode: str = "EXACTLY_ONCE"
    checkpoint_storage: str | None = None
    checkpoints_retained: int = 3
    restart_strategy: RestartStrategyConfiguration = field(default_factory=RestartStrategies.no_restart)
    job_id: str | None = None
    from_savepoint: str | None = None
    allow_non_restored_state: bool = False
    state_backend: str = "hashmap"
    runtime_mode: str = "STREAMING"
    idle_poll_ms: int = 50
    idle_partition_warning_ms: int | None = 30_000
    min_pause_between_checkpoints: int = 0
    checkpoint_timeout: int = 600_000
    tolerable_checkpoint_failures: int | None = None
    max_concurrent_checkpoints: int = 1
    externalized_checkpoint_retention: str = "RETAIN_ON_CANCELLATION"
    unaligned_checkpoints: bool = False
    agg_phase_strategy: str = "AUTO"
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
        self._c.checkpoint_storage = str(path)
        return self

    def set_checkpoint_storage(self, path: Any) -> CheckpointConfig:
        """A directory path (``file://`` prefix allowed)."""
        text = str(getattr(path, "path", path))
        self._c.checkpoint_storage = text[len("file://") :] if text.startswith("file://") else text
        return self

    def get_checkpoint_storage(self) -> str | None:
        return self._c.checkpoint_storage

    def set_max_retained_checkpoints(self, n: int) -> CheckpointConfig:
        """How many completed checkpoints to keep (default 3)."""
        if not isinstance(n, int) or n < 1:
            raise JobConfigError(f"retained checkpoints must be an int >= 1, got {n!r}")
        self._c.checkpoints_retained = n
        return self

    def get_max_retained_checkpoints(self) -> int:
        return self._c.checkpoints_retained

    def set_min_pause_between_checkpoints(self, min_pause_between_checkpoints: Any) -> CheckpointConfig:
        """The least time (ms) from the end of one checkpoint to the start of the next: the job checkpoints
        every ``max(interval, min pause)`` (checkpoints are taken between batches, so this is exact)."""
        ms = to_millis(min_pause_between_checkpoints, "min pause between checkpoints")
        if ms < 0:
            raise JobConfigError(f"min pause between checkpoints must be >= 0 ms, got {ms}")
        self._c.min_pause_between_checkpoints = ms
        return self

    def get_min_pause_between_checkpoints(self) -> int:
        return self._c.min_pause_between_checkpoints

    def set_checkpoint_timeout(self, checkpoint_timeout: Any) -> CheckpointConfig:
        """Flink's checkpoint timeout (ms, > 0): accepted and validated, no effect. millstream takes a
        checkpoint between two batches and waits for it to complete or fail, so there is no checkpoint in
        progress to abandon."""
        ms = to_millis(checkpoint_timeout, "checkpoint timeout")
        if ms <= 0:
            raise JobConfigError(f"checkpoint timeout must be positive, got {ms} ms")
        self._c.checkpoint_timeout = ms
        return self

    def get_checkpoint_timeout(self) -> int:
        return self._c.checkpoint_timeout

    def set_tolerable_checkpoint_failure_number(self, tolerable_checkpoint_failure_number: int) -> CheckpointConfig:
        """How many checkpoint failures in a row the job survives; one more fails the job (Flink's meaning).
        Unset, a failed checkpoint never fails the job (millstream's default)."""
        n = tolerable_checkpoint_failure_number
        if type(n) is not int or n < 0:
            raise JobConfigError(f"tolerable checkpoint failure number must be an int >= 0, got {n!r}")
        self._c.tolerable_checkpoint_failures = n
        return self

    def get_tolerable_checkpoint_failure_number(self) -> int:
        n = self._c.tolerable_checkpoint_failures
        return 0 if n is None else n

    def set_max_concurrent_checkpoints(self, max_concurrent_checkpoints: int) -> CheckpointConfig:
        """Accepted (an int >= 1): millstream's checkpoints never overlap, so at most one is in progress."""
        n = max_concurrent_checkpoints
        if type(n) is not int or n < 1:
            raise JobConfigError(f"max concurrent checkpoints must be an int >= 1, got {n!r}")
        self._c.max_concurrent_checkpoints = n
        return self

    def get_max_concurrent_checkpoints(self) -> int:
        return self._c.max_concurrent_checkpoints

    def set_externalized_checkpoint_retention(self, retention: Any) -> CheckpointConfig:
        """``RETAIN_ON_CANCELLATION`` (what millstream always does: completed checkpoints stay in checkpoint
        storage, the newest ``max_retained`` of them) or ``DELETE_ON_CANCELLATION`` / ``NO_EXTERNALIZED_
        CHECKPOINTS`` (accepted; checkpoints are still kept, so a cancelled job can resume)."""
        name = str(getattr(retention, "name", retention))
        if name not in ("RETAIN_ON_CANCELLATION", "DELETE_ON_CANCELLATION", "NO_EXTERNALIZED_CHECKPOINTS"):
            raise JobConfigError(
                f"unknown externalized checkpoint retention {retention!r}",
                hint="use ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION",
            )
        self._c.externalized_checkpoint_retention = name
        return self

    enable_externalized_checkpoints = set_externalized_checkpoint_retention

    def get_externalized_checkpoint_retention(self) -> str:
        return self._c.externalized_checkpoint_retention

    def is_externalized_checkpoints_enabled(self) -> bool:
        return self._c.externalized_checkpoint_retention != "NO_EXTERNALIZED_CHECKPOINTS"

    def enable_unaligned_checkpoints(self, enabled: bool = True) -> CheckpointConfig:
        """Accepted and recorded, with no effect: unaligned checkpoints exist to skip in-flight buffers
        during back pressure; millstream checkpoints between batches, when nothing is in flight."""
        self._c.unaligned_checkpoints = bool(enabled)
        return self

    def disable_unaligned_checkpoints(self) -> CheckpointConfig:
        return self.enable_unaligned_checkpoints(False)

    def is_unaligned_checkpoints_enabled(self) -> bool:
        return self._c.unaligned_checkpoints

    def set_fail_on_checkpointing_errors(self, fail_on_checkpointing_errors: bool) -> CheckpointConfig:
        """Flink's older switch: ``True`` = tolerate no failed checkpoint (as ``set_tolerable_checkpoint_
        failure_number(0)``), ``False`` = tolerate any (millstream's default)."""
        self._c.tolerable_checkpoint_failures = 0 if fail_on_checkpointing_errors else None
        return self

    def is_fail_on_checkpointing_errors(self) -> bool:
        return self._c.tolerable_checkpoint_failures == 0


class ExecutionConfig:
    """PyFlink-shaped ``env.get_config()``: job parameters; watermark intervals are accepted and ignored
    (millstream advances the watermark after every element)."""

    def __init__(self, config: JobConfig) -> None:
        self._c = config

    def set_auto_watermark_interval(self, interval: int) -> ExecutionConfig:
        return self

    def get_auto_watermark_interval(self) -> int:
        return 0

    def set_idle_partition_warning(self, after: Any) -> ExecutionConfig:
        """Warn (log line, metric ``watermarkStalledPartitions``, progress table) when a source partition has had
        no data for ``after`` (a ``Duration`` or ms; default 30 s) and holds the source's watermark back while
        its other partitions are ahead — the usual reason windows never fire. ``None`` turns it off. Not a
        PyFlink method (Flink has no such warning; the fix is ``WatermarkStrategy.with_idleness``)."""
        self._c.idle_partition_warning_ms = None if after is None else to_millis(after, "idle partition warning")
        return self

    def set_global_job_parameters(self, params: Any) -> ExecutionConfig:
        self._c.params.update({str(k): str(v) for k, v in dict(params).items()})
        return self

    def get_global_job_parameters(self) -> dict[str, str]:
        return dict(self._c.params)

    def set_parallelism(self, parallelism: int) -> ExecutionConfig:
        _check_parallelism(parallelism)
        self._c.parallelism = parallelism
        return self

    def get_parallelism(self) -> int:
        return self._c.parallelism or 1

    def set_max_parallelism(self, max_parallelism: int) -> ExecutionConfig:
        self._c.max_parallelism = check_max_parallelism(max_parallelism, "the job")
        return self

    def get_max_parallelism(self) -> int:
        return self._c.max_parallelism or -1


class CheckpointingMode:
    EXACTLY_ONCE = "EXACTLY_ONCE"
    AT_LEAST_ONCE = "AT_LEAST_ONCE"


class RuntimeExecutionMode:
    STREAMING = "STREAMING"
    BATCH = "BATCH"
    AUTOMATIC = "AUTOMATIC"


def _parse_interval(text: str) -> int:
    """Flink's duration strings in configuration: ``"5000"`` (ms), ``"10 s"``, ``"1 min"``, ``"500ms"``."""
    import re

    m = re.fullmatch(
        r"\s*(\d+)\s*(ms|milli|millis|s|sec|secs|second|seconds|min|m|minute|minutes|h|hour|hours)?\s*", text
    )
    if m is None:
        raise JobConfigError(f"cannot read the duration {text!r}", hint="write e.g. 5000, '10 s' or '1 min'")
    unit = {
        "s": 1000,
        "sec": 1000,
        "secs": 1000,
        "second": 1000,
        "seconds": 1000,
        "min": 60_000,
        "m": 60_000,
        "minute": 60_000,
        "minutes": 60_000,
        "h": 3_600_000,
        "hour": 3_600_000,
        "hours": 3_600_000,
    }
    return int(m.group(1)) * unit.get(m.group(2) or "ms", 1)


def _check_parallelism(parallelism: Any) -> None:
    if type(parallelism) is not int or parallelism <= 0:
        raise JobConfigError(
            f"parallelism must be a positive int, got {parallelism!r}",
            hint="pass the number of parallel subtasks, e.g. set_parallelism(2)",
        )


Executor = Callable[..., Any]
_executor: Executor | None = None
_executor_loader: Callable[[], Any] | None = None


def register_executor(executor: Executor | None) -> None:
    """Install the function that runs jobs: ``executor(env, sinks, job_name, mode, collect)``."""
    global _executor
    _executor = executor


def register_executor_loader(loader: Callable[[], Any] | None) -> None:
    """Install a function that loads the runtime (which then registers its executor) when the first job
    runs, so that importing the API does not import the runtime (``import millstream`` installs one)."""
    global _executor_loader
    _executor_loader = loader


_default_configuration: dict[str, str] = {}


def set_default_configuration(options: dict[str, str]) -> dict[str, str]:
    """The configuration every new environment starts from (what ``millstream run -D KEY=VALUE`` gives, as
    ``flink run -D`` configures the environments of the program it runs); the previous one, to restore."""
    global _default_configuration
    previous, _default_configuration = _default_configuration, dict(options)
    return previous


def _get_executor() -> Executor:
    if _executor is None and _executor_loader is not None:
        _executor_loader()
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
        """A new environment, configured by the default configuration (``millstream run -D``), then by
        ``configuration`` (see :meth:`configure`); what the program sets on it afterwards wins over both."""
        env = StreamExecutionEnvironment()
        if _default_configuration:
            env.configure(_default_configuration)
        if configuration is not None:
            env.configure(configuration)
        return env

    def configure(self, configuration: Any) -> StreamExecutionEnvironment:
        """Apply Flink's options from a ``Configuration`` (or dict): ``parallelism.default``,
        ``pipeline.max-parallelism``, ``execution.runtime-mode``, ``execution.checkpointing.interval`` and the
        checkpoint directory, ``execution.checkpointing.dir`` (Flink 1.x: ``state.checkpoints.dir``; a path or a
        ``file://`` URI — for a reactive job, a directory every instance reaches), and
        ``table.optimizer.agg-phase-strategy`` (``AUTO``, ``ONE_PHASE``, ``TWO_PHASE``: see :class:`JobConfig`).
        Every key is also a job parameter; keys of other options are kept as parameters only."""
        if not hasattr(configuration, "items"):
            raise TypeError(f"configure() takes a Configuration or a dict, not {type(configuration).__name__}")
        for k, v in configuration.items():
            self.config.params[str(k)] = str(v)
        params = self.config.params
        if "parallelism.default" in params:
            self.set_parallelism(int(params["parallelism.default"]))
        if "pipeline.max-parallelism" in params:
            self.set_max_parallelism(int(params["pipeline.max-parallelism"]))
        if "execution.runtime-mode" in params:
            self.set_runtime_mode(params["execution.runtime-mode"].upper())
        if "execution.checkpointing.interval" in params:
            self.enable_checkpointing(_parse_interval(params["execution.checkpointing.interval"]))
        if "table.optimizer.agg-phase-strategy" in params:
            strategy = params["table.optimizer.agg-phase-strategy"].strip().upper()
            if strategy not in ("AUTO", "ONE_PHASE", "TWO_PHASE"):
                raise JobConfigError(
                    f"table.optimizer.agg-phase-strategy must be AUTO, ONE_PHASE or TWO_PHASE, not {strategy!r}",
                    hint="AUTO pre-aggregates window aggregates before their exchange; ONE_PHASE never does",
                )
            self.config.agg_phase_strategy = strategy
        for key in ("state.checkpoints.dir", "execution.checkpointing.dir"):  # (the newer name wins)
            if key in params:
                self.get_checkpoint_config().set_checkpoint_storage(params[key])
        return self

    # -- configuration --------------------------------------------------------------------------------
    def set_parallelism(self, parallelism: int) -> StreamExecutionEnvironment:
        """The default parallelism of the job's operators (each may set its own): that many subtasks, run by
        that many worker processes. Set here, it wins over ``millstream run -p`` (as in Flink)."""
        _check_parallelism(parallelism)
        self.config.parallelism = parallelism
        return self

    def get_parallelism(self) -> int:
        return self.config.parallelism or 1

    def set_max_parallelism(self, max_parallelism: int) -> StreamExecutionEnvironment:
        """The default max parallelism (number of key groups) of the job's operators, 1 to 32768. It bounds
        how far the job can be scaled out and must not change between a savepoint and its restore."""
        self.config.max_parallelism = check_max_parallelism(max_parallelism, "the job")
        return self

    def get_max_parallelism(self) -> int:
        return self.config.max_parallelism or -1

    def set_runtime_mode(self, mode: Any) -> StreamExecutionEnvironment:
        """``RuntimeExecutionMode.STREAMING`` (default), ``BATCH`` or ``AUTOMATIC``; see
        :func:`millstream.stream.batch.apply_batch_mode` for what BATCH changes."""
        name = str(getattr(mode, "name", mode)).upper()
        if name not in ("STREAMING", "BATCH", "AUTOMATIC"):
            raise JobConfigError(f"unknown runtime mode {mode!r}", hint="use RuntimeExecutionMode.STREAMING or BATCH")
        self.config.runtime_mode = name
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

    def set_restart_strategy(self, strategy: RestartStrategyConfiguration) -> StreamExecutionEnvironment:
        """What to do when the job fails: ``RestartStrategies.no_restart()`` (default),
        ``fixed_delay_restart(n, delay)`` or ``exponential_delay_restart(initial, max, ...)``."""
        if not isinstance(strategy, RestartStrategyConfiguration):
            raise JobConfigError(f"expected a RestartStrategies configuration, got {type(strategy).__name__}")
        self.config.restart_strategy = strategy
        return self

    def set_state_backend(self, backend: Any) -> StreamExecutionEnvironment:
        """``HashMapStateBackend()`` (in memory, the default) or ``EmbeddedRocksDBStateBackend()`` (keyed
        state of process functions, rolling aggregations and windows in RocksDB; needs the ``[rocksdb]``
        extra; its ``window_cache_entries`` becomes the job parameter that bounds the windows' write-behind
        cache)."""
        name = str(getattr(backend, "kind", backend)).lower()
        if name not in ("hashmap", "rocksdb"):
            raise JobConfigError(
                f"unknown state backend {backend!r}", hint="use HashMapStateBackend() or EmbeddedRocksDBStateBackend()"
            )
        self.config.state_backend = name
        cache = getattr(backend, "window_cache_entries", None)
        if cache is not None:
            from .operators.writebehind import CACHE_ENTRIES_PARAM

            self.config.params[CACHE_ENTRIES_PARAM] = str(cache)
        return self

    def get_restart_strategy(self) -> RestartStrategyConfiguration:
        return self.config.restart_strategy

    def get_checkpoint_config(self) -> CheckpointConfig:
        return CheckpointConfig(self.config)

    def get_config(self) -> ExecutionConfig:
        return ExecutionConfig(self.config)

    def set_buffer_timeout(self, timeout_millis: int) -> StreamExecutionEnvironment:
        """Flink's latency knob: here, the longest the job waits before polling its sources again when none
        had anything (``idle_poll_ms``, default 50). ``0`` polls again after 1 ms; ``-1`` keeps the default."""
        if not isinstance(timeout_millis, int) or timeout_millis < -1:
            raise JobConfigError(f"buffer timeout must be an int >= -1 ms, got {timeout_millis!r}")
        if timeout_millis >= 0:
            self.config.idle_poll_ms = max(1, timeout_millis)
        return self

    def get_buffer_timeout(self) -> int:
        return self.config.idle_poll_ms

    def get_checkpoint_interval(self) -> int:
        """The checkpoint interval in ms, ``-1`` when checkpointing is off."""
        return self.config.checkpoint_interval or -1

    def get_checkpointing_mode(self) -> str:
        return self.config.checkpointing_mode

    def is_unaligned_checkpoints_enabled(self) -> bool:
        return self.config.unaligned_checkpoints

    def set_default_savepoint_directory(self, directory: str) -> StreamExecutionEnvironment:
        """Where ``JobClient.trigger_savepoint`` writes when given no target (stored as a job parameter)."""
        self.config.params["execution.checkpointing.savepoint-dir"] = str(directory)
        return self

    def get_default_savepoint_directory(self) -> str | None:
        return self.config.params.get("execution.checkpointing.savepoint-dir")

    def close(self) -> None:
        """Accepted (PyFlink releases its gateway resources here); millstream holds none between jobs."""

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

    def add_jars(self, *jars_path: str) -> None:
        """Accepted, no effect: millstream runs no JVM, its Kafka and file connectors are built in (PyFlink
        jobs call this for the Kafka connector jar)."""

    def add_classpaths(self, *classpaths: str) -> None:
        """Accepted, no effect (no JVM)."""

    def add_python_file(self, file_path: str) -> None:
        """Accepted, no effect: user code runs in this Python process (and worker processes started from
        it), which imports modules from ``sys.path`` as usual."""

    def add_python_archive(self, archive_path: str, target_dir: str | None = None) -> None:
        """Accepted, no effect (as :meth:`add_python_file`)."""

    def set_python_requirements(self, requirements_file_path: str, requirements_cache_dir: str | None = None) -> None:
        """Accepted, no effect: install requirements into the environment that runs millstream."""

    def set_python_executable(self, python_exec: str) -> None:
        """Accepted, no effect: functions run in the interpreter that runs the job."""

    # -- sources --------------------------------------------------------------------------------------
    def _register(self, t: Transformation, *, sink: bool = False) -> None:
        self._transformations.append(t)
        if sink:
            self._sinks.append(t)

    def _source(
        self, descriptor: Any, strategy: WatermarkStrategy | None, name: str, type_info: Any = None
    ) -> DataStream:
        if strategy is not None and not isinstance(strategy, WatermarkStrategy):
            raise JobConfigError(f"expected a WatermarkStrategy, got {type(strategy).__name__}")
        params: dict[str, Any] = {"source": descriptor, "strategy": strategy}
        if type_info is not None:
            params["output_type"] = type_info
        t = Transformation("source", name, [], params)
        self._register(t)
        return DataStream(self, t)

    def from_collection(self, collection: Iterable[Any], type_info: Any = None) -> DataStream:
        """A bounded source of the collection's elements; ``type_info`` declares their type (see
        :mod:`millstream.stream.typeinfo`: it decides how ``print()`` writes them)."""
        return self._source(CollectionSource(tuple(collection)), None, "Collection Source", type_info)

    def from_source(
        self,
        source: Any,
        watermark_strategy: WatermarkStrategy | None = None,
        source_name: str | None = None,
        type_info: Any = None,
    ) -> DataStream:
        return self._source(
            source, watermark_strategy, str(source_name or getattr(source, "name", "Source")), type_info
        )

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
        """The planned job as Flink's execution plan JSON (operators with their parallelism and the ship
        strategy of every input; see :mod:`millstream.stream.plan`)."""
        return self.plan().to_json()

    def plan(self, default_parallelism: int | None = None) -> JobPlan:
        """The job as planned for execution (:func:`millstream.stream.plan.plan_job`); ``default_parallelism``
        applies where neither the operator nor the environment sets one."""
        consumed = {u.id for t in self._transformations for u, _ in t.inputs}
        ends = self._sinks or [t for t in self._transformations if t.id not in consumed]
        return plan_job(ends, self.config.parallelism or default_parallelism or 1, self.config.max_parallelism)

    def _take_sinks(self) -> list[Transformation]:
        if not self._sinks:
            raise JobConfigError("the job has no sinks", hint="add one with sink_to(...), add_sink(...) or print()")
        sinks, self._sinks = self._sinks, []
        return sinks

    def _run_options(self, job_id: str | None, from_savepoint: Any, allow_non_restored_state: bool | None) -> None:
        if job_id is not None:
            self.config.job_id = str(job_id)
        if from_savepoint is not None:
            self.config.from_savepoint = str(from_savepoint)
        if allow_non_restored_state is not None:
            self.config.allow_non_restored_state = bool(allow_non_restored_state)

    def execute(
        self,
        job_name: str | None = None,
        *,
        job_id: str | None = None,
        from_savepoint: Any = None,
        allow_non_restored_state: bool | None = None,
    ) -> Any:
        """Run the job to completion in this thread (bounded) and return a ``JobExecutionResult``; an
        unbounded job runs until cancelled. A failure raises ``JobFailedError``. With checkpointing, the
        job (``job_id``, default the job name) resumes from its latest checkpoint, or from ``from_savepoint``."""
        self._run_options(job_id, from_savepoint, allow_non_restored_state)
        sinks = self._take_sinks()
        apply_runtime_mode(self.config.runtime_mode, sinks, [])
        return _get_executor()(self, sinks, job_name or "Flink Streaming Job", "sync", None)

    def execute_async(
        self,
        job_name: str | None = None,
        *,
        job_id: str | None = None,
        from_savepoint: Any = None,
        allow_non_restored_state: bool | None = None,
    ) -> Any:
        """Start the job in a background thread and return a ``JobClient`` (``cancel()``,
        ``get_job_execution_result()``, ``wait()``); options as :meth:`execute`."""
        self._run_options(job_id, from_savepoint, allow_non_restored_state)
        sinks = self._take_sinks()
        apply_runtime_mode(self.config.runtime_mode, sinks, [])
        return _get_executor()(self, sinks, job_name or "Flink Streaming Job", "async", None)

    def execute_and_collect(self, job_name: str | None = None, limit: int | None = None) -> Any:
        """``execute_and_collect`` of the job's one dangling stream (a stream nothing reads); with several,
        call ``stream.execute_and_collect()`` on the one you want. See :meth:`DataStream.execute_and_collect`."""
        consumed = {u.id for t in self._transformations for u, _ in t.inputs}
        dangling = [t for t in self._transformations if t.id not in consumed and t.kind != "sink"]
        if len(dangling) != 1:
            raise JobConfigError(
                f"execute_and_collect() found {len(dangling)} streams without a consumer",
                hint="call execute_and_collect() on the stream whose results you want",
            )
        return self._collect_stream(dangling[0], job_name, limit)

    def _collect_stream(self, t: Transformation, job_name: str | None, limit: int | None) -> Any:
        """Start the job with ``t``'s elements collected; a :class:`CloseableIterator` over them, or with
        ``limit`` a list of at most ``limit`` elements (the job is cancelled once it has them)."""
        if limit is not None and (type(limit) is not int or limit < 0):
            raise JobConfigError(f"limit must be an int >= 0, got {limit!r}")
        sinks, self._sinks = self._sinks, []
        apply_runtime_mode(self.config.runtime_mode, sinks, [t])
        client = _get_executor()(self, sinks, job_name or "collect", "async", [t])
        it = CloseableIterator(client, 0)
        if limit is None:
            return it
        out: list[Any] = []
        with it:
            while len(out) < limit:
                try:
                    out.append(next(it))
                except StopIteration:
                    break
        return out


class CloseableIterator:
    """The elements a running job collects (``execute_and_collect()``), as PyFlink's ``CloseableIterator``.

    Elements arrive while the job runs, so an unbounded job streams its results; ``next()`` blocks until an
    element arrives, and raises ``StopIteration`` once the job has finished and every element was returned
    (or re-raises the job's failure). ``close()`` (also at the end of a ``with`` block) cancels a job that
    is still running. If the job restarts (a restart strategy), the results of the restarted run follow, so
    elements may repeat (at-least-once, as Flink's collect without checkpoints)."""

    _TRIM = 10_000

    def __init__(self, client: Any, index: int) -> None:
        self._client = client
        self._index = index
        self._list: list[Any] | None = None
        self._pos = 0
        self._done = False

    def __iter__(self) -> CloseableIterator:
        return self

    def __enter__(self) -> CloseableIterator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _results(self) -> list[Any] | None:
        collected = getattr(self._client.runner, "collected", None)
        if not collected or len(collected) <= self._index:
            return None
        lst: list[Any] = collected[self._index]
        if lst is not self._list or len(lst) < self._pos:  # first look, or the job restarted
            self._list, self._pos = lst, 0
        return lst

    def next(self) -> Any:
        return self.__next__()

    def __next__(self) -> Any:
        while not self._done:
            lst = self._results()
            if lst is not None and self._pos < len(lst):
                value = lst[self._pos]
                self._pos += 1
                if self._pos >= self._TRIM:  # drop what was returned (the job only appends)
                    del lst[: self._pos]
                    self._pos = 0
                return value
            if self._client.wait(0.02):
                lst = self._results()
                if lst is not None and self._pos < len(lst):
                    continue
                self._done = True
                self._client.get_job_execution_result()  # raises the job's failure, if any
        raise StopIteration("No more data.")

    def close(self) -> None:
        """Cancel the job if it still runs and wait for it to end (idempotent)."""
        if self._done:
            return
        self._done = True
        if not self._client.wait(0):
            self._client.cancel()
            self._client.wait(30)


__all__ = [
    "CheckpointConfig",
    "CheckpointingMode",
    "CloseableIterator",
    "JobConfig",
    "RuntimeExecutionMode",
    "StreamExecutionEnvironment",
    "register_executor",
]
