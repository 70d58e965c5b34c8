"""A parallel job seen through the REST API and Prometheus: its vertices with their parallelism and max
parallelism, the ship strategies of the plan, records per subtask (``subtask_index``), checkpoints."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import LogSink
from millstream.observe import Monitoring
from millstream.windows import TumblingEventTimeWindows

from ..observe._support import get
from .conftest import events_source, write_events


def test_rest_and_metrics_show_every_subtask(tmp_path: Path, no_orphans: list[Any]) -> None:
    url = f"file://{tmp_path}/log"
    write_events(url, "events", 4, 4000)
    from millstream.log import open_log

    with open_log(url) as log:
        log.create_topic("out", 1)
    with Monitoring(0) as mon:
        env = StreamExecutionEnvironment.get_execution_environment()
        env.set_parallelism(2)
        env.enable_checkpointing(200)
        env.get_checkpoint_config().set_checkpoint_storage_dir(str(tmp_path / "cp"))
        source = events_source(url, bounded=False)
        strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(30)).with_timestamp_assigner(
            lambda e, ts: e["ts"]
        )
        (
            env.from_source(source, strategy, "events")
            .key_by(lambda e: e["page"])
            .window(TumblingEventTimeWindows.of(Duration.of_millis(500)))
            .reduce(lambda a, b: a)
            .name("first per window")
            .sink_to(LogSink.builder().set_log(url).set_topic("out").build())
        )
        client = env.execute_async("monitored")
        no_orphans.append(client.runner)
        try:
            jid = client.jid
            deadline = time.monotonic() + 60
            while True:
                status, detail = get(f"{mon.url}/jobs/{jid}")
                assert status == 200
                source_v = next(v for v in detail["vertices"] if v["name"] == "events")
                per = [s["metrics"]["write-records"] for s in source_v["subtasks"]]
                if sum(per) == 4000 or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            assert per[0] > 0 and per[1] > 0 and sum(per) == 4000  # 2 partitions read by each subtask
            assert [(v["name"], v["parallelism"], v["maxParallelism"]) for v in detail["vertices"]] == [
                ("events", 2, 128),
                ("first per window", 2, 128),
                ("LogSink", 2, 128),
            ]
            window = next(n for n in detail["plan"]["nodes"] if n["description"] == "first per window")
            assert window["inputs"][0]["ship_strategy"] == "HASH"
            status, overview = get(f"{mon.url}/jobs/overview")
            mine = next(j for j in overview["jobs"] if j["jid"] == jid)
            assert mine["tasks"]["total"] == 6  # every subtask of the 3 vertices
            status, text = get(f"{mon.url}/metrics")
            assert 'subtask_index="1"' in text
            vid = source_v["id"]
            status, ids = get(f"{mon.url}/jobs/{jid}/vertices/{vid}/metrics")
            assert {"0.numRecordsOut", "1.numRecordsOut"} <= {m["id"] for m in ids}
            while time.monotonic() < deadline:
                status, cps = get(f"{mon.url}/jobs/{jid}/checkpoints")
                if cps["counts"]["completed"] >= 1:
                    break
                time.sleep(0.2)
            assert cps["counts"]["completed"] >= 1
        finally:
            client.cancel()


def test_a_slow_operator_back_pressures_its_sources_and_the_rest_api_says_so(
    tmp_path: Path, no_orphans: list[Any]
) -> None:
    """Sources at parallelism 2 feed a map at parallelism 1 that takes 2 ms a record. Worker 1 runs only source
    subtask 1, whose records all go to worker 0: the exchange queue fills and subtask 1 waits on it
    (``backPressuredTimeMsPerSecond``, level ``high``); worker 0 runs the slow map (and source subtask 0, in
    the same thread: slot sharing), so they are busy, not back-pressured. Consumer lag is reported per source
    subtask."""
    import orjson

    from millstream.core.record import ProducerRecord
    from millstream.log import open_log

    url = f"file://{tmp_path}/log"
    pad = "x" * 4000
    with open_log(url) as log:
        log.create_topic("events", 2)
        log.create_topic("out", 2)
        for p in range(2):
            recs = [ProducerRecord(orjson.dumps({"k": i % 50, "pad": pad}), None, i) for i in range(6000)]
            log.append("events", p, recs)

    def slow(e: dict[str, Any]) -> int:
        time.sleep(0.002)
        return int(e["k"])

    with Monitoring(0) as mon:
        env = StreamExecutionEnvironment.get_execution_environment()
        env.set_parallelism(2)
        source = events_source(url, bounded=False)
        (
            env.from_source(source, None, "events")
            .rebalance()
            .map(slow)
            .name("slow")
            .set_parallelism(1)
            .sink_to(LogSink.builder().set_log(url).set_topic("out").build())
        )
        client = env.execute_async("back pressured")
        no_orphans.append(client.runner)
        try:
            jid = client.jid
            deadline = time.monotonic() + 60
            source_bp = slow_bp = None
            while time.monotonic() < deadline:
                time.sleep(0.5)
                _s, detail = get(f"{mon.url}/jobs/{jid}")
                ids = {v["name"]: v["id"] for v in detail["vertices"]}
                _s, source_bp = get(f"{mon.url}/jobs/{jid}/vertices/{ids['events']}/backpressure")
                _s, slow_bp = get(f"{mon.url}/jobs/{jid}/vertices/{ids['slow']}/backpressure")
                if (
                    source_bp["backpressureLevel"] == "high"
                    and slow_bp["subtasks"][0]["busyRatio"] > 0.5
                    and source_bp["subtasks"][0]["busyRatio"] > 0.5
                ):  # (each worker reports once a second, after its round: the busy one later, and a report can
                    break  # come between the two requests, so the condition holds for both answers)
            assert source_bp is not None and slow_bp is not None
            assert source_bp["backpressureLevel"] == "high", source_bp
            assert [s["subtask"] for s in source_bp["subtasks"]] == [0, 1]
            held, busy = source_bp["subtasks"][1], slow_bp["subtasks"][0]
            assert held["backpressureLevel"] == "high" and held["ratio"] > 0.5, source_bp
            assert busy["backpressureLevel"] == "ok" and busy["busyRatio"] > 0.5, slow_bp
            assert source_bp["subtasks"][0]["busyRatio"] > 0.5  # the same thread as the slow map
            lag_ids = "0.records-lag-max,1.records-lag-max"
            _s, lags = get(f"{mon.url}/jobs/{jid}/vertices/{ids['events']}/metrics?get={lag_ids}")
            # subtask 0 shares its thread with the slow map and is behind; subtask 1 read its partition at once
            assert [m["id"] for m in lags] == ["0.records-lag-max", "1.records-lag-max"]
            assert float(lags[0]["value"]) > 0, lags
            status, _body = get(f"{mon.url}/jobs/{jid}/vertices/nope/backpressure")
            assert status == 404
        finally:
            client.cancel()
