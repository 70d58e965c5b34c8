"""Dead letters: orders whose parsing fails go to a dead-letter topic; the job goes on with the rest.

Each line of ``ORDERS`` (default: ``orders.jsonl`` beside this file) is a JSON order. ``parse_order`` raises on a
line that is not JSON, lacks a field or has a quantity that is not a number. Without ``on_error`` the first such
line would fail the job — and fail it again at the same line after every restart (a "poison pill"). With
``on_error(FAILED, max_errors=100)`` each failing line becomes a record of the side output ``FAILED``, written
to the topic ``orders-dead-letters`` with the error and the operator; good orders, with their totals, go to
``orders-priced``. More than 100 failures in one subtask fail the job anyway.

Run:  millstream run examples/dead_letters/pipeline.py --log file://./.millstream
      millstream consume orders-dead-letters --log file://./.millstream --from-beginning
"""

import json
import os
from pathlib import Path

from millstream import OutputTag
from millstream.connectors import FileSource, LogSink
from millstream.log import open_log

ORDERS = os.environ.get("ORDERS", str(Path(__file__).with_name("orders.jsonl")))
FAILED = OutputTag("failed")


def parse_order(line):
    order = json.loads(line)
    qty = order["qty"]
    if not isinstance(qty, int):
        raise ValueError(f"qty must be a whole number, got {qty!r}")
    return {"id": order["id"], "item": order["item"], "total": round(qty * order["price"], 2)}


def build(env):
    with open_log() as log:
        for topic in ("orders-priced", "orders-dead-letters"):
            log.create_topic(topic, 1, exist_ok=True)
    lines = env.from_source(FileSource.for_paths(ORDERS), None, "orders file")
    orders = lines.map(parse_order).name("parse order").on_error(FAILED, max_errors=100)
    orders.sink_to(LogSink.builder().set_topic("orders-priced").build())
    dead = orders.get_side_output(FAILED).map(
        lambda f: {"line": f["element"], "error": f["error"], "operator": f["operator"]}
    )
    dead.sink_to(LogSink.builder().set_topic("orders-dead-letters").build())
    dead.print("dead letter")
