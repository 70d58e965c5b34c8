"""Datagen: mock data from Confluent's quickstart schemas (``clickstream``, ``orders``, ``users``,
``pageviews``).

Options (Confluent's names): ``kafka.topic``, ``quickstart``, ``max.interval`` (ms; each record waits a random
time up to this), ``iterations`` (records per task; -1 = forever), ``schema.keyfield`` (the field used as the
string key; each quickstart has a default). millstream adds ``rate`` (records per second per task, overrides
``max.interval``) and ``random.seed`` (same seed → same data, also after a restart).

Values are structs with a schema, so ``JsonConverter`` with ``schemas.enable=true`` writes them with their
schema. Each task stores its progress (``{"task.id": n}`` → ``{"current.iteration": k}``) and resumes there.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..api import SourceConnector, SourceTask
from ..config import ConfigDef, Importance, Range, Type, ValidString
from ..data import Schema, SourceRecord, struct_schema

_S = Schema("string")
_I32 = Schema("int32")
_I64 = Schema("int64")
_F64 = Schema("float64")

_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 "
    "Safari/605.1.15",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
)
_REQUESTS = (
    "GET /index.html HTTP/1.1",
    "GET /site/user_status.html HTTP/1.1",
    "GET /site/login.html HTTP/1.1",
    "GET /images/track.png HTTP/1.1",
    "GET /images/logo-small.png HTTP/1.1",
)
_CITIES = (("City_1", "State_1"), ("City_2", "State_2"), ("City_3", "State_3"), ("City_4", "State_4"))


def _users(rng: random.Random, n: int, now: int) -> dict[str, Any]:
    return {
        "registertime": rng.randint(1487715775521, 1519273364600),
        "userid": f"User_{rng.randint(1, 9)}",
        "regionid": f"Region_{rng.randint(1, 9)}",
        "gender": rng.choice(("MALE", "FEMALE", "OTHER")),
    }


def _pageviews(rng: random.Random, n: int, now: int) -> dict[str, Any]:
    return {
        "viewtime": 1 + n * 10,
        "userid": f"User_{rng.randint(1, 9)}",
        "pageid": f"Page_{rng.randint(1, 99)}",
    }


def _orders(rng: random.Random, n: int, now: int) -> dict[str, Any]:
    city, state = rng.choice(_CITIES)
    return {
        "ordertime": rng.randint(1487715775521, 1519273364600),
        "orderid": n,
        "itemid": f"Item_{rng.randint(1, 999)}",
        "orderunits": round(rng.uniform(0.1, 10.0), 6),
        "address": {"city": city, "state": state, "zipcode": rng.randint(10000, 99999)},
    }


def _clickstream(rng: random.Random, n: int, now: int) -> dict[str, Any]:
    return {
        "ip": f"{rng.choice((111, 222))}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        "userid": rng.randint(1, 40),
        "remote_user": "-",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now / 1000)),
        "_time": now,
        "request": rng.choice(_REQUESTS),
        "status": rng.choice(("200", "302", "404", "405", "406", "407")),
        "bytes": rng.choice(("1289", "2048", "4096", "278", "14096")),
        "referrer": "-",
        "agent": rng.choice(_AGENTS),
    }


QUICKSTARTS: dict[str, tuple[Schema, str, Callable[[random.Random, int, int], dict[str, Any]]]] = {
    "users": (
        struct_schema("ksql.users", [("registertime", _I64), ("userid", _S), ("regionid", _S), ("gender", _S)]),
        "userid",
        _users,
    ),
    "pageviews": (
        struct_schema("ksql.pageviews", [("viewtime", _I64), ("userid", _S), ("pageid", _S)]),
        "viewtime",
        _pageviews,
    ),
    "orders": (
        struct_schema(
            "ksql.orders",
            [
                ("ordertime", _I64),
                ("orderid", _I32),
                ("itemid", _S),
                ("orderunits", _F64),
                ("address", struct_schema("ksql.address", [("city", _S), ("state", _S), ("zipcode", _I64)])),
            ],
        ),
        "orderid",
        _orders,
    ),
    "clickstream": (
        struct_schema(
            "ksql.clickstream",
            [
                ("ip", _S),
                ("userid", _I32),
                ("remote_user", _S),
                ("time", _S),
                ("_time", _I64),
                ("request", _S),
                ("status", _S),
                ("bytes", _S),
                ("referrer", _S),
                ("agent", _S),
            ],
        ),
        "ip",
        _clickstream,
    ),
}


class DatagenConnector(SourceConnector):
    """Generates quickstart mock data (see the module docstring)."""

    CONFIG_DEF = (
        ConfigDef()
        .define("kafka.topic", Type.STRING, importance=Importance.HIGH, documentation="Topic to write to.")
        .define(
            "quickstart",
            Type.STRING,
            "users",
            validator=ValidString(*QUICKSTARTS),
            importance=Importance.HIGH,
            documentation="Which quickstart schema: " + ", ".join(QUICKSTARTS),
        )
        .define(
            "max.interval",
            Type.LONG,
            500,
            validator=Range.at_least(0),
            importance=Importance.MEDIUM,
            documentation="Max ms between records (random wait up to this).",
        )
        .define(
            "iterations",
            Type.LONG,
            -1,
            validator=Range.at_least(-1),
            importance=Importance.MEDIUM,
            documentation="Records per task; -1 = forever.",
        )
        .define(
            "rate",
            Type.DOUBLE,
            0.0,
            validator=Range.at_least(0),
            importance=Importance.MEDIUM,
            documentation="millstream: records per second per task (0 = use max.interval).",
        )
        .define("schema.keyfield", Type.STRING, "", importance=Importance.LOW, documentation="Field used as key.")
        .define(
            "random.seed",
            Type.LONG,
            None,
            importance=Importance.LOW,
            documentation="millstream: seed for repeatable data.",
        )
    )

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)
        self.CONFIG_DEF.parse(props)

    def task_class(self) -> type[DatagenTask]:
        return DatagenTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        keys = [k.name for k in self.CONFIG_DEF.config_keys()]
        base = {k: v for k, v in self.props.items() if k in keys}
        return [{**base, "task.id": str(i)} for i in range(max_tasks)]

    def stop(self) -> None:
        pass

    def alter_offsets(self, connector_config: Mapping[str, str], offsets: Mapping[Any, Any]) -> bool:
        return True


class DatagenTask(SourceTask):
    """Generates records at the configured pace until ``iterations`` is reached."""

    def start(self, props: Mapping[str, str]) -> None:
        c = DatagenConnector.CONFIG_DEF.parse(props)
        self.topic = c["kafka.topic"]
        self.schema, default_key, self.make = QUICKSTARTS[c["quickstart"]]
        self.keyfield = c["schema.keyfield"] or default_key
        self.max_interval = int(c["max.interval"])
        self.iterations = int(c["iterations"])
        self.rate = float(c["rate"])
        self.seed = c["random.seed"]
        self.task_id = int(props.get("task.id", 0))
        self.partition = {"task.id": self.task_id}
        offset = self.context.offset_storage_reader().offset(self.partition)
        self.count = int(offset.get("current.iteration", 0)) if offset else 0
        self.rng = random.Random(None if self.seed is None else self.seed * 1000 + self.task_id)
        if self.seed is not None and self.count:
            self.rng = random.Random(self.seed * 1000 + self.task_id + self.count * 7919)
        self._stopping = threading.Event()
        self.started_at = time.monotonic()
        self.start_count = self.count

    def _record(self) -> SourceRecord:
        value = self.make(self.rng, self.count, int(time.time() * 1000))
        self.count += 1
        key = value.get(self.keyfield)
        return SourceRecord(
            self.topic,
            None,
            Schema("string", True) if key is not None else None,
            None if key is None else str(key),
            self.schema,
            value,
            None,
            [],
            self.partition,
            {"current.iteration": self.count},
        )

    def poll(self) -> list[SourceRecord] | None:
        if self.iterations >= 0 and self.count >= self.iterations:
            self._stopping.wait(0.5)
            return None
        if self._stopping.is_set():
            return None
        left = 1000 if self.iterations < 0 else self.iterations - self.count
        if self.rate > 0:
            due = int((time.monotonic() - self.started_at) * self.rate) - (self.count - self.start_count)
            if due <= 0:
                self._stopping.wait(min(0.1, 1.0 / self.rate))
                return None
            return [self._record() for _ in range(min(due, left, 1000))]
        if self.max_interval > 0:
            self._stopping.wait(self.rng.uniform(0, self.max_interval) / 1000.0)
            return [self._record()]
        return [self._record() for _ in range(min(left, 1000))]

    def stop(self) -> None:
        self._stopping.set()


__all__ = ["QUICKSTARTS", "DatagenConnector", "DatagenTask"]
