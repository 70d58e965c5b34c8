"""The frozen job graph onto PyFlink's DataStream API, 1:1 (runs where PyFlink is installed).

:class:`FlinkJob` builds one PyFlink ``StreamExecutionEnvironment`` from a millstream job (or several,
for tests that batch many jobs into one Flink run) and executes it:

1. the job's configuration becomes Flink's (:func:`millstream.flink.config.flink_configuration`:
   checkpointing, restart strategy, state backend, parallelism, max parallelism);
2. the graph is planned with millstream's own planner (:func:`~millstream.stream.plan.plan_job`) and every
   operator gets the parallelism, max parallelism, name and uid the plan gives it, so that Flink runs the
   same tasks (collection sources with 1, the timestamps operator with its input's, ...);
3. each node becomes its PyFlink counterpart (see ``_node``); user functions travel as they are inside the
   wrappers of :mod:`millstream.flink.pyflink_functions`, values travel pickled;
4. watermarks: a strategy's bounded out-of-orderness ``d`` becomes ``PerElementWatermarks(d)`` (Java,
   ``wm = max_ts - d - 1`` after every element, as millstream does; compiled once by
   :mod:`millstream.flink.glue`) behind a Python timestamp extractor, as PyFlink's own
   ``assign_timestamps_and_watermarks`` does; without ``javac`` Flink's periodic generator is used and results
   may then depend on timing (a warning says so);
5. record timestamps: PyFlink's Python operators stamp an output with its input's timestamp; window,
   count-window and interval-join operators emit ``(timestamp, value)`` instead and the Java ``Restamp``
   operator (also in the glue jar) gives each record millstream's timestamp (window end - 1,
   ``Long.MAX_VALUE``, ``max(left, right)``); side outputs come from the Python operator;
6. collecting sinks (``millstream.testing.CollectingSink``) come back to the client through one
   ``execute_and_collect``; other sinks run in the job.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import sys
from collections.abc import Sequence
from typing import Any

from pyflink.common import Configuration, Time, Types
from pyflink.datastream import DataStream, KeyedStream, StreamExecutionEnvironment
from pyflink.datastream import window as pw
from pyflink.java_gateway import get_gateway

from ..log import default_log_url
from ..stream.connectors import CollectionSource, FileSink, FileSource, FunctionSink, LogSink, LogSource, PrintSink
from ..stream.graph import Transformation
from ..stream.operators.window import WindowFunctionSpec
from ..stream.plan import JobPlan, plan_job
from ..stream.windows import (
    ContinuousEventTimeTrigger,
    ContinuousProcessingTimeTrigger,
    CountTrigger,
    EventTimeSessionWindows,
    EventTimeTrigger,
    GlobalWindows,
    ProcessingTimeSessionWindows,
    ProcessingTimeTrigger,
    PurgingTrigger,
    SlidingEventTimeWindows,
    SlidingProcessingTimeWindows,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
)
from . import pyflink_functions as f
from .check import check_job, count_window_shape, is_builtin_trigger, is_collecting_sink, kafka_url
from .config import flink_configuration
from .evicting import EvictingWindow, constant_key

PICKLED = Types.PICKLED_BYTE_ARRAY
APPEND_BATCH = 1000  # records an embedded-log sink appends at once in a bounded job without checkpoints


def STAMPED() -> Any:
    """``(timestamp, pickled value)``: what a Python operator emits for the Java ``Restamp`` operator."""
    return Types.TUPLE([Types.LONG(), PICKLED()])


def _count_files(paths: Sequence[str]) -> int:
    """How many files (Flink's file splits) the paths name; directories are walked."""
    n = 0
    for path in paths:
        if os.path.isdir(path):
            n += sum(len(files) for _, _, files in os.walk(path))
        else:
            n += 1
    return n


def flink_python_jar() -> str:
    """PyFlink's ``flink-python`` jar (its Python operators): on the client's classpath, but in ``opt/``, not
    ``lib/``, of a Flink distribution, so it is shipped with a job for a remote cluster (as ``flink run -py``
    does)."""
    import glob

    from pyflink.find_flink_home import _find_flink_home

    opt = os.environ.get("FLINK_OPT_DIR") or os.path.join(_find_flink_home(), "opt")
    found = sorted(glob.glob(os.path.join(opt, "flink-python*.jar")))
    if not found:
        raise RuntimeError(f"PyFlink's flink-python jar is not in {opt}: the PyFlink install is incomplete")
    return found[0]


class FlinkJob:
    """One PyFlink environment built from millstream jobs. ``configuration`` is Flink's (``key -> value``),
    ``jars`` are added to the job (``--flink-jars``), ``glue_jar`` holds ``PerElementWatermarks`` (``None``:
    Flink's periodic watermarks), ``python_files`` are shipped to the Python workers (``add_python_file``)."""

    def __init__(
        self,
        configuration: dict[str, str],
        *,
        jars: Sequence[str] = (),
        glue_jar: str | None = None,
        python_files: Sequence[str] = (),
    ) -> None:
        conf = Configuration()
        for k, v in configuration.items():
            conf.set_string(k, v)
        remote = configuration.get("execution.target") == "remote"
        if remote:
            # getExecutionEnvironment(conf) is always a local mini-cluster outside `flink run`; the plain
            # environment picks its executor from execution.target (remote: RestClusterClient to rest.*)
            j_env_class = get_gateway().jvm.org.apache.flink.streaming.api.environment.StreamExecutionEnvironment
            self.env = StreamExecutionEnvironment(j_env_class(conf._j_configuration))
        else:
            self.env = StreamExecutionEnvironment.get_execution_environment(conf)
        self.env.set_python_executable(configuration.get("python.executable", sys.executable))
        all_jars = [*jars, *([glue_jar] if glue_jar else []), *([flink_python_jar()] if remote else [])]
        if all_jars:
            self.env.add_jars(*("file://" + os.path.abspath(j) for j in all_jars))
        for path in python_files:
            self.env.add_python_file(path)
        self.glue = glue_jar is not None
        self.remote = remote
        # a job that checkpoints (or restarts from one) may not hold sink records back across a barrier
        self.checkpointing = "execution.checkpointing.interval" in configuration
        self.jars = list(jars)
        self.jvm = get_gateway().jvm
        self.collect: list[DataStream] = []
        self.python_op: dict[int, Any] = {}  # node id -> its Python operator, when a Restamp operator follows
        self.collecting: list[Any] = []
        self.jobs = 0

    # -- building ------------------------------------------------------------------------------------------
    def add(self, sinks: list[Transformation], parallelism: int = 1, max_parallelism: int | None = None) -> JobPlan:
        """Translates the graph ending at ``sinks`` into the environment (checked first, see ``check.py``)."""
        check_job(sinks, self.jars, remote=self.remote)
        plan = plan_job(sinks, parallelism, max_parallelism)
        self.env.set_parallelism(parallelism)  # helper operators PyFlink adds (key maps, ...) default to it
        self.max_parallelism = max_parallelism
        self.jobs += 1
        self.plan = plan
        self.prefix = f"j{self.jobs}-" if self.jobs > 1 else ""
        self.out: dict[int, Any] = {}
        self.eff: dict[int, int] = {}
        for node in plan.nodes.values():
            t = node.t
            if t.kind == "source" and isinstance(t.params.get("source"), FileSource):
                self.eff[t.id] = max(1, min(node.parallelism, _count_files(t.params["source"].paths)))
            elif len(node.inputs) == 1 and node.inputs[0].local and t.parallelism is None:
                # forward from such a source in the plan: the subtasks without a split get nothing, so run
                # with the source's subtasks only (a rebalance would interleave one partition's elements)
                feed = node.inputs[0].source
                if feed in self.eff and t.kind != "sink":
                    self.eff[t.id] = self.eff[feed]
        for node in plan.nodes.values():
            self._node(node.t)
        return plan

    def _set(self, ds: Any, t: Transformation) -> Any:
        """Name, uid, parallelism and max parallelism of ``t`` on the PyFlink operator ``ds``."""
        ds.name(t.name)
        if t.uid:  # a user's uid (savepoint compatibility); others are left to Flink
            ds.uid(self.prefix + t.uid)
        node = self.plan.nodes[t.id]
        ds.set_parallelism(self._par(t))
        explicit = t.max_parallelism is not None or self.max_parallelism is not None
        if explicit and not (t.kind == "source" and isinstance(t.params.get("source"), CollectionSource)):
            ds.set_max_parallelism(node.max_parallelism)  # else Flink's default, which millstream's matches
        return ds

    def _par(self, t: Transformation) -> int:
        """The parallelism ``t`` runs with on Flink: the plan's, except that a file source runs with at most one
        subtask per file (and so do the operators that follow its parallelism): Flink's file splits are whole
        files, and a subtask without one would hold every watermark back until it finishes (millstream announces
        such channels as ended at once)."""
        return self.eff.get(t.id, self.plan.nodes[t.id].parallelism)  # see add() for which nodes

    def _helper(self, ds: Any, parallelism: int) -> Any:
        ds.set_parallelism(parallelism)
        return ds

    def _input(self, t: Transformation, index: int = 0) -> Any:
        """The PyFlink stream of input ``index`` of ``t``: partition nodes applied (``key_by`` gives a
        ``KeyedStream``), side outputs selected."""
        up, tag = t.inputs[index]
        return self._stream(up, tag)

    def _stream(self, up: Transformation, tag: Any = None) -> Any:
        if up.kind == "partition":
            return self._partition(up)
        ds = self.out[up.id]
        if tag is not None:
            side = self.python_op.get(up.id, ds).get_side_output(f.py_output_tag(tag.tag_id))
            self._helper(side, self._par(up))
            return side
        return ds

    def _partition(self, t: Transformation) -> Any:
        part = t.params["partitioning"]
        feed, tag = t.inputs[0]
        ds = self._stream(feed, tag)
        feed_p = self._parallelism_of(feed)
        s = part.strategy
        if s == "HASH":
            keyed = ds.key_by(f.Keys(part.key_fn), key_type=PICKLED())
            # the key-extracting map PyFlink adds runs with its input's parallelism
            keyed._j_data_stream.getTransformation().getInputs().get(0).setParallelism(feed_p)
            return keyed
        if s == "CUSTOM":
            part_fn = part.partitioner
            return ds.partition_custom(lambda key, n: part_fn(key, n), f.Keys(part.key_fn))
        method = {
            "FORWARD": "forward",
            "REBALANCE": "rebalance",
            "RESCALE": "rescale",
            "SHUFFLE": "shuffle",
            "BROADCAST": "broadcast",
            "GLOBAL": "global_",
        }[s]
        return getattr(ds, method)()

    def _parallelism_of(self, t: Transformation) -> int:
        while t.kind == "partition":
            t = t.inputs[0][0]
        return self._par(t)

    # -- nodes ---------------------------------------------------------------------------------------------
    def _node(self, t: Transformation) -> None:
        p = t.params
        kind = t.kind
        if kind == "source":
            self.out[t.id] = self._source(t)
            return
        if kind == "sink":
            self._sink(t)
            return
        if kind == "union":
            first = self._input(t, 0)
            self.out[t.id] = first.union(*(self._input(t, i) for i in range(1, len(t.inputs))))
            return
        if kind == "side":
            self.out[t.id] = self._input(t, 0)
            return
        ds = self._input(t, 0)
        if p.get("on_error") is not None:  # map, filter, flat_map, process (check.py refuses the rest)
            # failed-element records name the operator as millstream does: its subtask ("name (i/n)") in a
            # parallel job, the plain name in a job of parallelism 1 (millstream's one-thread runner)
            subtasks = self.plan.nodes[t.id].parallelism if self.plan.parallelism > 1 else None
            tolerant = f.Tolerant(kind, p["fn"], p.get("user_fn"), p["on_error"], t.name, subtasks)
            self.out[t.id] = self._set(ds.process(tolerant, output_type=PICKLED()), t)
            return
        if kind == "map":
            out = ds.map(f.Map(p["fn"], p.get("user_fn")), output_type=PICKLED())
        elif kind == "filter":
            out = ds.flat_map(f.Filter(p["fn"], p.get("user_fn")), output_type=PICKLED())
        elif kind == "flat_map":
            out = ds.flat_map(f.FlatMap(p["fn"], p.get("user_fn")), output_type=PICKLED())
        elif kind == "process":
            out = ds.process(f.Process(p["fn"], p.get("user_fn")), output_type=PICKLED())
        elif kind == "keyed_process":
            out = ds.process(f.KeyedProcess(p["fns"][0], p.get("on_timer"), p.get("user_fn")), output_type=PICKLED())
        elif kind == "co_process":
            connected = ds.connect(self._input(t, 1))
            if p.get("key_fns"):
                fn: Any = f.KeyedCoProcess(p["fns"], p.get("on_timer"), p.get("user_fn"))
            else:
                fn = f.CoProcess(p["fns"], p.get("user_fn"))
            out = connected.process(fn, output_type=PICKLED())
        elif kind == "rolling":
            out = ds.reduce(f.Reduce(p["fn"]))
        elif kind == "assign_timestamps":
            out = self._timestamps(ds, p["strategy"], self._par(t))
        elif kind == "window":
            out = self._window(t, ds)
        elif kind == "interval_join":
            late = p.get("late_tags", (None, None))
            join = f.IntervalJoinFunction(
                p["fn"],
                p.get("user_fn"),
                p["lower"],
                p["upper"],
                p["lower_exclusive"],
                p["upper_exclusive"],
                late,
                restamp=self.glue,
            )
            out = ds.connect(self._input(t, 1)).process(join, output_type=self._out_type())
        else:  # check_job refused it already
            raise ValueError(f"no Flink translation for {t.kind!r}")
        self.out[t.id] = self._set(out, t)
        if self.glue and kind in ("window", "interval_join"):
            self.python_op[t.id] = out
            self.out[t.id] = self._restamp(out, t)

    def _out_type(self) -> Any:
        """The output type of a window or interval join operator: stamped when ``Restamp`` follows."""
        return STAMPED() if self.glue else PICKLED()

    def _restamp(self, ds: Any, t: Transformation) -> Any:
        """The Java ``Restamp`` operator after ``ds`` (whose outputs are ``(timestamp, value)``): the records
        get the timestamps millstream gives them (window end - 1, ``Long.MAX_VALUE`` for count windows,
        ``max(left, right)`` for interval joins); PyFlink's Python operators cannot set one."""
        j = ds._j_data_stream.transform(
            f"{t.name} (timestamps)", PICKLED().get_java_type_info(), self.jvm.millstream.flink.Restamp()
        )
        j.setParallelism(self._par(t))
        if self.max_parallelism is not None or t.max_parallelism is not None:
            j.setMaxParallelism(self.plan.nodes[t.id].max_parallelism)
        return DataStream(j)

    # -- sources -------------------------------------------------------------------------------------------
    def _source(self, t: Transformation) -> Any:
        desc = t.params["source"]
        strategy = t.params.get("strategy")
        if isinstance(desc, CollectionSource):
            if desc.timestamps is not None:
                ds = self.env.from_collection(list(zip(desc.elements, desc.timestamps, strict=True)))
                self._set(ds, t)
                ds = self._assign(ds, f.ExtractTimestamp(None), None, self._par(t))
            else:
                ds = self._set(self.env.from_collection(list(desc.elements)), t)
        elif isinstance(desc, FileSource):
            ds = self._file_source(t, desc)
        elif isinstance(desc, LogSource):
            ds = self._kafka_source(t, desc)
        else:  # check_job refused it already
            raise ValueError(f"no Flink translation for source {type(desc).__name__}")
        if strategy is not None:
            ds = self._timestamps(ds, strategy, self._par(t))
        return ds

    def _file_source(self, t: Transformation, desc: FileSource) -> Any:
        from pyflink.common import WatermarkStrategy as PyWatermarkStrategy
        from pyflink.datastream.connectors.file_system import FileSource as PyFileSource
        from pyflink.datastream.connectors.file_system import StreamFormat

        paths = [os.path.abspath(p) for p in desc.paths]
        source = PyFileSource.for_record_stream_format(StreamFormat.text_line_format(), *paths).build()
        lines = self._set(self.env.from_source(source, PyWatermarkStrategy.no_watermarks(), t.name), t)
        p = self._par(t)
        if desc.format == "json":
            return self._helper(lines.flat_map(f.ParseJson(), output_type=PICKLED()).name("Parse JSON"), p)
        return self._helper(lines.map(f.Map(str, None), output_type=PICKLED()).name("Lines"), p)

    def _kafka_source(self, t: Transformation, desc: LogSource) -> Any:
        from pyflink.common import WatermarkStrategy as PyWatermarkStrategy
        from pyflink.common.serialization import SimpleStringSchema
        from pyflink.datastream.connectors.kafka import KafkaOffsetsInitializer, KafkaSource

        assert desc.log_url is not None
        builder = (
            KafkaSource.builder()
            .set_bootstrap_servers(desc.log_url.removeprefix("kafka://"))
            .set_value_only_deserializer(SimpleStringSchema())
        )
        if desc.topic_pattern:
            builder = builder.set_topic_pattern(desc.topic_pattern)
        else:
            builder = builder.set_topics(*desc.topics)
        if desc.group_id:
            builder = builder.set_group_id(desc.group_id)
        start = desc.starting_offsets
        if start.kind == "latest":
            builder = builder.set_starting_offsets(KafkaOffsetsInitializer.latest())
        elif start.kind == "timestamp" and start.ts_ms is not None:
            builder = builder.set_starting_offsets(KafkaOffsetsInitializer.timestamp(start.ts_ms))
        elif start.kind == "committed":
            builder = builder.set_starting_offsets(KafkaOffsetsInitializer.committed_offsets())
        else:
            builder = builder.set_starting_offsets(KafkaOffsetsInitializer.earliest())
        if desc.bounded is not None:
            builder = builder.set_bounded(KafkaOffsetsInitializer.latest())
        for k, v in desc.properties.items():
            builder = builder.set_property(k, v)
        ds = self._set(self.env.from_source(builder.build(), PyWatermarkStrategy.no_watermarks(), t.name), t)
        p = self.plan.nodes[t.id].parallelism
        if desc.value_format == "json":
            return self._helper(ds.flat_map(f.ParseJson(), output_type=PICKLED()).name("Parse JSON"), p)
        return self._helper(ds.map(f.Map(str, None), output_type=PICKLED()).name("Values"), p)

    # -- time ----------------------------------------------------------------------------------------------
    def _j_strategy(self, strategy: Any) -> Any:
        jvm = self.jvm
        eventtime = jvm.org.apache.flink.api.common.eventtime
        d = strategy.out_of_orderness
        if d is None:
            j = eventtime.WatermarkStrategy.noWatermarks()
        elif self.glue:
            j = jvm.millstream.flink.PerElementWatermarks(int(d))
        else:
            j = eventtime.WatermarkStrategy.forBoundedOutOfOrderness(jvm.java.time.Duration.ofMillis(int(d)))
        if strategy.idleness:
            j = j.withIdleness(jvm.java.time.Duration.ofMillis(int(strategy.idleness)))
        return j

    def _timestamps(self, ds: Any, strategy: Any, parallelism: int) -> Any:
        """``assign_timestamps_and_watermarks``: the assigner in Python, the watermarks in Java."""
        assigner = strategy.timestamp_assigner
        if assigner is None:
            j = ds._j_data_stream.assignTimestampsAndWatermarks(self._j_strategy(strategy))
            j.setParallelism(parallelism)
            return DataStream(j)
        fn = getattr(assigner, "extract_timestamp", assigner)
        return self._assign(ds, f.ExtractTimestamp(fn), strategy, parallelism)

    def _assign(self, ds: Any, extract: Any, strategy: Any, parallelism: int) -> Any:
        python = self.jvm.org.apache.flink.streaming.api.functions.python.eventtime
        stamped = ds.process(extract, output_type=Types.TUPLE([PICKLED(), Types.LONG()]))
        self._helper(stamped.name("Extract-Timestamp"), parallelism)
        if strategy is None:
            j_strategy = self.jvm.org.apache.flink.api.common.eventtime.WatermarkStrategy.noWatermarks()
        else:
            j_strategy = self._j_strategy(strategy)
        j = stamped._j_data_stream.assignTimestampsAndWatermarks(
            j_strategy.withTimestampAssigner(python.CustomTimestampAssigner())
        )
        j.setParallelism(parallelism)
        out = j.map(python.RemoveTimestampMapFunction(), PICKLED().get_java_type_info())
        out.setParallelism(parallelism)
        out.name("Remove-Timestamp")
        return DataStream(out)

    # -- windows -------------------------------------------------------------------------------------------
    @staticmethod
    def assigner(a: Any) -> Any:
        """PyFlink's window assigner for millstream's."""
        if isinstance(a, TumblingEventTimeWindows):
            return pw.TumblingEventTimeWindows(a.size, a.offset)
        if isinstance(a, SlidingEventTimeWindows):
            return pw.SlidingEventTimeWindows(a.size, a.slide, a.offset)
        if isinstance(a, TumblingProcessingTimeWindows):
            return pw.TumblingProcessingTimeWindows(a.size, a.offset)
        if isinstance(a, SlidingProcessingTimeWindows):
            return pw.SlidingProcessingTimeWindows(a.size, a.slide, a.offset)
        if isinstance(a, EventTimeSessionWindows):
            if a.gap_extractor is not None:
                return pw.EventTimeSessionWindows.with_dynamic_gap(f.GapExtractor(a.gap_extractor))
            return pw.EventTimeSessionWindows(a.gap)
        if isinstance(a, ProcessingTimeSessionWindows):
            if a.gap_extractor is not None:
                return pw.ProcessingTimeSessionWindows.with_dynamic_gap(f.GapExtractor(a.gap_extractor))
            return pw.ProcessingTimeSessionWindows(a.gap)
        if isinstance(a, GlobalWindows):
            return pw.GlobalWindows.create()
        raise ValueError(f"no Flink window assigner for {type(a).__name__}")

    @staticmethod
    def trigger(tr: Any) -> Any:
        """PyFlink's trigger for one of millstream's built-in triggers."""
        if isinstance(tr, PurgingTrigger):
            return pw.PurgingTrigger.of(FlinkJob.trigger(tr.nested))
        if isinstance(tr, EventTimeTrigger):
            return pw.EventTimeTrigger.create()
        if isinstance(tr, ProcessingTimeTrigger):
            return pw.ProcessingTimeTrigger.create()
        if isinstance(tr, ContinuousEventTimeTrigger):
            return pw.ContinuousEventTimeTrigger.of(Time.milliseconds(tr.interval))
        if isinstance(tr, ContinuousProcessingTimeTrigger):
            return pw.ContinuousProcessingTimeTrigger.of(Time.milliseconds(tr.interval))
        if isinstance(tr, CountTrigger):
            return pw.CountTrigger.of(tr.count)
        raise ValueError(f"no Flink trigger for {type(tr).__name__}")

    def _window(self, t: Transformation, ds: Any) -> Any:
        p = t.params
        spec = p["fn"]
        shape = count_window_shape(p)
        if shape is not None and p.get("key_fn") is not None and not p.get("key_fns"):
            every, purge, keep, after = shape
            window_fn = f.CountWindowFunction(spec, every, purge, keep, after, restamp=self.glue)
            return ds.process(window_fn, output_type=self._out_type())
        if p.get("evictor") is not None or shape is not None or not is_builtin_trigger(p.get("trigger")):
            return self._evicting_window(t, ds)  # (also a non-keyed count window, and a user-written trigger)
        if p.get("key_fns"):  # a window join: Flink's coGroup lowering (tagged union, keyed, windowed)
            windowed = self._tagged_union(t).window(self.assigner(p["assigner"]))
            non_keyed = False
        elif p.get("key_fn") is None:
            windowed = ds.window_all(self.assigner(p["assigner"]))
            non_keyed = True
        else:
            assert isinstance(ds, KeyedStream)
            windowed = ds.window(self.assigner(p["assigner"]))
            non_keyed = False
        if p.get("trigger") is not None:
            windowed = windowed.trigger(self.trigger(p["trigger"]))
        if p.get("lateness"):
            windowed = windowed.allowed_lateness(int(p["lateness"]))
        if p.get("late_tag") is not None:
            windowed = windowed.side_output_late_data(f.py_output_tag(p["late_tag"].tag_id))
        if spec.kind in ("reduce", "aggregate") and isinstance(
            p["assigner"], EventTimeSessionWindows | ProcessingTimeSessionWindows
        ):
            # PyFlink 2.3's Python window operator loses a window's reduced/aggregated state when a late
            # element merges two sessions that already fired (tests/parity case session-late-bridge); with
            # list state it merges correctly, so sessions keep their elements and reduce/aggregate at firing.
            spec = WindowFunctionSpec(
                "list", spec.user, spec.window_fn, non_keyed=spec.non_keyed, list_then=spec.kind, style=spec.style
            )
        wrapper = f.AllWindowProcess(spec, self.glue) if non_keyed else f.WindowProcess(spec, self.glue)
        out_type = self._out_type()
        if spec.kind == "reduce":
            return windowed.reduce(f.Reduce(spec.user), window_function=wrapper, output_type=out_type)
        if spec.kind == "aggregate":
            return windowed.aggregate(
                f.Aggregate(spec.user), window_function=wrapper, accumulator_type=PICKLED(), output_type=out_type
            )
        return windowed.process(wrapper, output_type=out_type)

    def _tagged_union(self, t: Transformation) -> Any:
        """A window join's inputs as Flink's ``coGroup`` lowers them: each input's elements tagged
        ``(index, value)``, unioned and keyed by the input's key selector."""
        sides = []
        for i in range(len(t.inputs)):
            up, _ = t.inputs[i]
            feed = up.inputs[0][0] if up.kind == "partition" else up
            raw = self._stream(feed, up.inputs[0][1] if up.kind == "partition" else None)
            tagged = raw.map(f.Tag(i), output_type=PICKLED()).name("Tag input")
            sides.append(self._helper(tagged, self._par(t)))  # the union feeds its key map forward
        union = sides[0].union(*sides[1:])
        keyed = union.key_by(f.Keys(None, list(t.params["key_fns"])), key_type=PICKLED())
        keyed._j_data_stream.getTransformation().getInputs().get(0).setParallelism(self._par(t))
        return keyed

    def _evicting_window(self, t: Transformation, ds: Any) -> Any:
        """A window with an evictor (other than a keyed count window's ``CountEvictor``) or a user-written
        trigger, and a non-keyed count window: PyFlink's Python API has no evictors and takes only Flink's
        built-in triggers, so :class:`~millstream.flink.evicting.EvictingWindow`, a keyed process function with
        Flink state and timers, runs Flink's ``EvictingWindowOperator`` (a
        non-keyed window is keyed by one constant key and runs with the plan's parallelism, 1; a window join's
        tagged inputs are keyed as without evictor)."""
        p = t.params
        if p.get("key_fns"):
            keyed = self._tagged_union(t)
        elif p.get("key_fn") is None:
            keyed = ds.key_by(f.Keys(constant_key), key_type=PICKLED())
            feed = t.inputs[0][0]
            keyed._j_data_stream.getTransformation().getInputs().get(0).setParallelism(self._parallelism_of(feed))
        else:
            assert isinstance(ds, KeyedStream)
            keyed = ds
        fn = EvictingWindow(
            p["assigner"],
            p.get("trigger"),
            p.get("evictor"),
            int(p.get("lateness") or 0),
            p.get("late_tag"),
            p["fn"],
            restamp=self.glue,
        )
        return keyed.process(fn, output_type=self._out_type())

    # -- sinks ---------------------------------------------------------------------------------------------
    def _discard(self, ds: Any, parallelism: int) -> None:
        sink = ds._j_data_stream.sinkTo(self.jvm.org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink())
        sink.setParallelism(parallelism)

    def _sink(self, t: Transformation) -> None:
        sink = t.params["sink"]
        ds = self._input(t, 0)
        node = self.plan.nodes[t.id]
        if is_collecting_sink(sink):
            index = len(self.collecting)
            self.collecting.append(sink)
            self.collect.append(self._set(ds.process(f.Stamp(index), output_type=PICKLED()), t))
        elif isinstance(sink, PrintSink):
            prefix = f"{sink.identifier}> " if sink.identifier else ""
            lines = self._set(ds.map(f.Map(lambda v: prefix + str(v), None), output_type=Types.STRING()), t)
            j = lines._j_data_stream.printToErr() if sink.stderr else lines._j_data_stream.print()
            j.setParallelism(1)
        elif isinstance(sink, FileSink) and sink.delivery_guarantee != "exactly-once":
            written = self._set(ds.process(f.WriteLines(os.path.abspath(sink.path), sink.format)), t)
            self._discard(written, node.parallelism)
        elif isinstance(sink, FileSink):
            from pyflink.common.serialization import Encoder
            from pyflink.datastream.connectors.file_system import FileSink as PyFileSink

            fmt = sink.format
            lines = self._set(ds.map(f.Map(lambda v: f.format_line(v, fmt), None), output_type=Types.STRING()), t)
            py_sink = PyFileSink.for_row_format(os.path.abspath(sink.path), Encoder.simple_string_encoder()).build()
            lines.sink_to(py_sink).set_parallelism(node.parallelism)
        elif isinstance(sink, FunctionSink):
            self._discard(self._set(ds.process(f.CallSink(sink.function)), t), node.parallelism)
        elif isinstance(sink, LogSink) and kafka_url(sink.log_url):
            self._kafka_sink(t, ds, sink)
        elif isinstance(sink, LogSink):
            self._embedded_log_sink(t, ds, sink)
        else:  # check_job refused it already
            raise ValueError(f"no Flink translation for sink {type(sink).__name__}")

    def _bounded(self) -> bool:
        """Every source of the job being added ends (collections, files, bounded Kafka sources)."""
        for node in self.plan.nodes.values():
            desc = node.t.params.get("source") if node.t.kind == "source" else None
            if isinstance(desc, LogSource) and desc.bounded is None:
                return False
        return True

    def _embedded_log_sink(self, t: Transformation, ds: Any, sink: LogSink) -> None:
        """A ``LogSink`` to the embedded ``file://`` log on a local Flink (``check.py`` refuses the rest):
        :class:`~millstream.flink.pyflink_functions.AppendToLog` in the Python workers, then a discarding sink.
        The log's URL is resolved here (the default log, a relative path) so that the workers, whatever their
        working directory, write the log this process opened. Records are appended in batches when every
        source ends and the job takes no checkpoints (the rest at the end of input), else one at a time, so
        that no record is held back across a checkpoint barrier (at-least-once either way)."""
        url = absolute_file_url(sink.log_url or default_log_url())
        batch = APPEND_BATCH if self._bounded() and not self.checkpointing else 1
        written = self._set(ds.process(f.AppendToLog(dataclasses.replace(sink, log_url=url), batch)), t)
        self._discard(written, self._par(t))

    def _kafka_sink(self, t: Transformation, ds: Any, sink: LogSink) -> None:
        from pyflink.common.serialization import SimpleStringSchema
        from pyflink.datastream.connectors.base import DeliveryGuarantee
        from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink

        assert sink.log_url is not None and sink.topic is not None
        fmt = "json" if sink.value_format == "json" else "text"
        lines = self._set(ds.map(f.Map(lambda v: f.format_line(v, fmt), None), output_type=Types.STRING()), t)
        guarantee = {
            "exactly-once": DeliveryGuarantee.EXACTLY_ONCE,
            "none": DeliveryGuarantee.NONE,
        }.get(sink.delivery_guarantee, DeliveryGuarantee.AT_LEAST_ONCE)
        builder = (
            KafkaSink.builder()
            .set_bootstrap_servers(sink.log_url.removeprefix("kafka://"))
            .set_record_serializer(
                KafkaRecordSerializationSchema.builder()
                .set_topic(sink.topic)
                .set_value_serialization_schema(SimpleStringSchema())
                .build()
            )
            .set_delivery_guarantee(guarantee)
        )
        if sink.transactional_id_prefix:
            builder = builder.set_transactional_id_prefix(sink.transactional_id_prefix)
        for k, v in sink.properties.items():
            builder = builder.set_property(k, v)
        lines.sink_to(builder.build()).set_parallelism(self.plan.nodes[t.id].parallelism)

    # -- running -------------------------------------------------------------------------------------------
    def execute(self, job_name: str) -> Any:
        """Runs the job; fills the collecting sinks (values and record timestamps, in arrival order) and
        returns Flink's ``JobExecutionResult`` (``None`` when results were collected)."""
        if not self.collect:
            return self.env.execute(job_name)
        stream = self.collect[0].union(*self.collect[1:]) if len(self.collect) > 1 else self.collect[0]
        with stream.execute_and_collect(job_name) as results:
            for index, ts, value in results:
                sink = self.collecting[index]
                sink.values.append(pickle.loads(value))
                sink.timestamps.append(ts)
        return None


def absolute_file_url(url: str) -> str:
    """A ``file://`` log URL with its path made absolute (against this process's working directory); the
    URL's options (``?synchronous=full``) are kept."""
    path, sep, query = url.removeprefix("file://").partition("?")
    return "file://" + os.path.abspath(path) + sep + query


def run_sinks(
    sinks: list[Transformation],
    job_config: Any,
    job_name: str,
    *,
    default_parallelism: int | None = None,
    jars: Sequence[str] = (),
    address: str | None = None,
    python_files: Sequence[str] = (),
    extra: dict[str, str] | None = None,
) -> Any:
    """Translate and run one millstream job on Flink (local mini-cluster, or the JobManager at ``address``)."""
    from .glue import glue_jar

    configuration = flink_configuration(job_config, address=address, extra=extra)
    job = FlinkJob(configuration, jars=jars, glue_jar=glue_jar(), python_files=python_files)
    job.add(sinks, job_config.parallelism or default_parallelism or 1, job_config.max_parallelism)
    return job.execute(job_name)


__all__ = ["FlinkJob", "absolute_file_url", "run_sinks"]
