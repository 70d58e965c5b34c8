"""Log monitoring and alerting (seed article, section 3.4): error-rate spikes in a web server's access log.

A FileStreamSource connector follows the access log (Common Log Format) as a stream source; each line is
parsed into ``{"ts", "path", "status"}`` with the request time as event time; per path, 1-minute tumbling
windows count requests and 5xx errors; a window whose 5xx rate is above ``ERROR_RATE`` (default 0.2) with
at least ``MIN_REQUESTS`` (default 10) requests becomes an alert in the topic ``access-alerts`` (and on stdout).
Lines that do not parse go to the topic ``access-unparsed``.

Run:  ACCESS_LOG=examples/log_monitoring/access.log millstream run examples/log_monitoring/pipeline.py \
          --log file://./.millstream        (it keeps following the file; Ctrl-C stops it)
"""

import os
import re
from datetime import datetime
from pathlib import Path

from millstream import Duration, OutputTag, WatermarkStrategy
from millstream.connect.connectors.file import FileStreamSourceConnector
from millstream.connectors import LogSink
from millstream.functions import ProcessFunction, ProcessWindowFunction
from millstream.log import open_log
from millstream.stream.connector_descriptors import ConnectorSource
from millstream.windows import TumblingEventTimeWindows

ACCESS_LOG = os.environ.get("ACCESS_LOG", str(Path(__file__).with_name("access.log")))
ERROR_RATE = float(os.environ.get("ERROR_RATE", "0.2"))
MIN_REQUESTS = int(os.environ.get("MIN_REQUESTS", "10"))
WINDOW = Duration.of_minutes(1)

# 127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326
CLF = re.compile(r'^(\S+) \S+ (\S+) \[([^\]]+)\] "(\S+) (\S+)[^"]*" (\d{3}) (\S+)')
UNPARSED = OutputTag("unparsed")


class ParseAccessLine(ProcessFunction):
    """A Common Log Format line -> ``{"ts", "path", "status"}``; other lines go to the ``unparsed`` output."""

    def process_element(self, line, ctx):
        m = CLF.match(line)
        if m is None:
            ctx.output(UNPARSED, line)
            return
        ts = int(datetime.strptime(m.group(3), "%d/%b/%Y:%H:%M:%S %z").timestamp() * 1000)
        yield {"ts": ts, "path": m.group(5), "status": int(m.group(6))}


class ErrorRate(ProcessWindowFunction):
    """Requests, 5xx errors and their rate per path and window."""

    def process(self, key, context, elements):
        statuses = [e["status"] for e in elements]
        errors = sum(1 for s in statuses if s >= 500)
        w = context.window()
        yield {
            "path": key,
            "window_start": w.start,
            "window_end": w.end,
            "requests": len(statuses),
            "errors": errors,
            "error_rate": round(errors / len(statuses), 4),
        }


def build(env):
    with open_log() as log:
        for topic in ("access-alerts", "access-unparsed"):
            # the sample log is from 2024: keep its records regardless of age (no time-based retention)
            log.create_topic(topic, 1, {"retention.ms": "-1"}, exist_ok=True)
    lines = env.add_source(
        ConnectorSource.of(FileStreamSourceConnector, {"file": ACCESS_LOG, "topic": "access-log"}), "access log"
    )
    parsed = lines.process(ParseAccessLine()).uid("parse")
    rates = (
        parsed.assign_timestamps_and_watermarks(
            WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(5)).with_timestamp_assigner(
                lambda e, ts: e["ts"]
            )
        )
        .key_by(lambda e: e["path"])
        .window(TumblingEventTimeWindows.of(WINDOW))
        .process(ErrorRate())
        .uid("error-rate")
    )
    alerts = rates.filter(lambda r: r["requests"] >= MIN_REQUESTS and r["error_rate"] > ERROR_RATE)
    alerts.sink_to(LogSink.builder().set_topic("access-alerts").set_key_selector(lambda r: r["path"]).build())
    alerts.print("ALERT")
    parsed.get_side_output(UNPARSED).sink_to(
        LogSink.builder().set_topic("access-unparsed").set_value_format("string").build()
    )
