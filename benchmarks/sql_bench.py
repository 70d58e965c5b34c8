"""Workload W as Flink SQL against the same job written with the DataStream API, measured in one run.

Writes N JSON events ``{"page", "ms", "value"}`` (100 pages, 1 ms apart, slightly out of order) to a
one-partition topic of the embedded log (``file://`` in a temp dir), then runs, alternating, ``--repeat``
times each:

- SQL, twice (columns nullable, and declared ``NOT NULL``, which lets COUNT/SUM run as the
  engine's built-in aggregates):
  ``CREATE TABLE events (..., ts AS TO_TIMESTAMP_LTZ(ms, 3), WATERMARK FOR ts AS ts - INTERVAL '0.1'
  SECOND) WITH ('connector' = 'millstream', ...)`` and ``INSERT INTO counts SELECT page, window_start,
  COUNT(*), SUM(value) FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY
  window_start, window_end, page`` into a log topic;
- DataStream: log source (JSON) → key_by(page) → 1-second tumbling windows → count + sum → log sink, with a
  100 ms bounded-out-of-orderness watermark.

Rates are per CPU second of this process (``time.process_time``), best run of each side; prints both and
their ratio. Everything runs in one thread (one core).

    PYTHONPATH=src python benchmarks/sql_bench.py [--events 300000] [--repeat 3]

Bar (from the project issue): SQL >= 80% of the DataStream job.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

import orjson

import millstream  # noqa: F401 - registers the runtime
from millstream import Duration, StreamExecutionEnvironment, WatermarkStrategy
from millstream.connectors import LogSink, LogSource, OffsetsInitializer
from millstream.core.record import ProducerRecord
from millstream.functions import Aggregates, Count, ProcessWindowFunction, Sum
from millstream.log import Log, open_log
from millstream.sql import StreamTableEnvironment
from millstream.windows import TumblingEventTimeWindows

RATIO_BAR = 0.80


def produce(log: Log, n: int) -> None:
    for topic in ("events", "sql_counts", "ds_counts"):
        log.create_topic(topic, 1, {"retention.ms": -1})
    base = 1_700_000_000_000
    batch: list[ProducerRecord] = []
    for i in range(n):
        ms = base + i - (i % 7) * 10  # up to 60 ms out of order
        batch.append(ProducerRecord(orjson.dumps({"page": f"p{i % 100}", "ms": ms, "value": i % 1000}), None, ms))
        if len(batch) == 10_000:
            log.append("events", 0, batch)
            batch = []
    if batch:
        log.append("events", 0, batch)


class WithPage(ProcessWindowFunction):
    def process(self, key: Any, context: Any, elements: Any) -> Any:
        for r in elements:
            yield {"page": key, "window_start": context.window().start, "views": r["count"], "total": r["sum"]}


def run_datastream(url: str) -> tuple[float, int]:
    env = StreamExecutionEnvironment.get_execution_environment()
    source = (
        LogSource.builder()
        .set_log(url)
        .set_topics("events")
        .set_starting_offsets(OffsetsInitializer.earliest())
        .set_bounded(OffsetsInitializer.latest())
        .set_value_format("json")
        .build()
    )
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(100)).with_timestamp_assigner(
        lambda e, ts: e["ms"]
    )
    (
        env.from_source(source, strategy, "events")
        .key_by(lambda e: e["page"])
        .window(TumblingEventTimeWindows.of(Duration.of_seconds(1)))
        .aggregate(Aggregates(count=Count(), sum=Sum("value")), WithPage())
        .sink_to(LogSink.builder().set_log(url).set_topic("ds_counts").build())
    )
    started = time.process_time()
    result = env.execute("datastream W")
    return time.process_time() - started, sum(result.records_written.values())


def run_sql(url: str, not_null: bool) -> tuple[float, int]:
    env = StreamExecutionEnvironment.get_execution_environment()
    t_env = StreamTableEnvironment.create(env)
    nn = "NOT NULL" if not_null else ""
    t_env.execute_sql(f"""
        CREATE TABLE events (page STRING {nn}, ms BIGINT {nn}, `value` INT {nn},
            ts AS TO_TIMESTAMP_LTZ(ms, 3), WATERMARK FOR ts AS ts - INTERVAL '0.1' SECOND)
        WITH ('connector' = 'millstream', 'log' = '{url}', 'topic' = 'events', 'format' = 'json',
              'scan.bounded.mode' = 'latest-offset')""")
    t_env.execute_sql(f"""
        CREATE TABLE counts (page STRING, window_start TIMESTAMP(3), views BIGINT, total INT)
        WITH ('connector' = 'millstream', 'log' = '{url}', 'topic' = 'sql_counts', 'format' = 'json')""")
    started = time.process_time()
    result = t_env.execute_sql("""
        INSERT INTO counts
        SELECT page, window_start, COUNT(*), SUM(`value`)
        FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' SECOND))
        GROUP BY window_start, window_end, page""")
    result.wait()
    job = result.get_job_client().get_job_execution_result()
    return time.process_time() - started, sum(job.records_written.values())


def _values(log: Log, topic: str, start: int, n: int) -> list[Any]:
    out: list[Any] = []
    while len(out) < n:
        recs = log.read(topic, 0, start + len(out), max_records=min(10_000, n - len(out)))
        out.extend(orjson.loads(r.value) for r in recs)
    return out


def _ms(text: str) -> int:
    from millstream.sql.values import parse_timestamp

    return parse_timestamp(text)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side, alternating; the best counts")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"file://{tmp}/log"
        log = open_log(url)
        produce(log, args.events)
        sqls, sqls_nn, dss = [], [], []
        for _ in range(max(1, args.repeat)):
            dss.append(run_datastream(url))
            sqls.append(run_sql(url, False))
            sqls_nn.append(run_sql(url, True))
        ds_total = log.latest_offset("ds_counts", 0)
        sql_total = log.latest_offset("sql_counts", 0)
        per_run = ds_total // len(dss)
        ds_rows = {
            (v["page"], v["window_start"], v["views"], v["total"]) for v in _values(log, "ds_counts", 0, per_run)
        }
        sql_rows = {
            (v["page"], _ms(v["window_start"]), v["views"], v["total"]) for v in _values(log, "sql_counts", 0, per_run)
        }
        log.close()
    if ds_rows != sql_rows:
        raise SystemExit(f"the jobs disagree on {len(ds_rows ^ sql_rows)} window results")
    ds_s, _ = min(dss)
    sql_s, _ = min(sqls)
    nn_s, _ = min(sqls_nn)
    if ds_total * 2 != sql_total:
        raise SystemExit(f"the jobs disagree: {ds_total} DataStream results, {sql_total} SQL results (2 SQL runs each)")
    ds_rate, sql_rate = args.events / ds_s, args.events / sql_s
    ratio = sql_rate / ds_rate
    print(f"events: {args.events:,}  best of {len(dss)} runs each  ({ds_total // len(dss):,} window results per run)")
    print(f"DataStream API: {ds_rate:12,.0f} events/s  ({ds_s:.2f} s CPU)")
    nn_rate = args.events / nn_s
    print(f"Flink SQL:      {sql_rate:12,.0f} events/s  ({sql_s:.2f} s CPU)  nullable columns")
    print(f"Flink SQL:      {nn_rate:12,.0f} events/s  ({nn_s:.2f} s CPU)  NOT NULL columns (built-in aggregates)")
    print(f"ratio SQL/DataStream: {ratio:.1%} nullable, {nn_rate / ds_rate:.1%} NOT NULL")
    best = max(ratio, nn_rate / ds_rate)
    print(
        f"bar >= {RATIO_BAR:.0%}: nullable {'PASS' if ratio >= RATIO_BAR else 'FAIL'}, NOT NULL "
        f"{'PASS' if best >= RATIO_BAR else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
