"""Single message transforms and predicates, configured exactly as Kafka users write them."""

from __future__ import annotations

import datetime as dt

import pytest

from millstream.connect.connector_config import build_chain, config_errors, validate_connector_config
from millstream.connect.data import Header, Schema, SinkRecord, SourceRecord, struct_schema
from millstream.connect.errors import DataError
from millstream.connect.transforms.timestamps import java_format, java_parse

TS = 1_700_000_000_123  # 2023-11-14T22:13:20.123Z


def rec(value, key=None, topic="orders", headers=(), schema=None):
    return SourceRecord(topic, 2, None, key, schema, value, TS, list(headers), {"p": 1}, {"o": 1})


def sink_rec(value, topic="orders"):
    return SinkRecord(topic, 1, None, None, None, value, TS, [], 99)


def chain(**props):
    props = {k.replace("__", "."): v for k, v in props.items()}
    return build_chain(props)


def test_insert_field_adds_metadata_and_static_values():
    c = chain(
        transforms="ins",
        transforms__ins__type="org.apache.kafka.connect.transforms.InsertField$Value",
        **{
            "transforms.ins.topic.field": "t",
            "transforms.ins.partition.field": "p",
            "transforms.ins.timestamp.field": "ts",
            "transforms.ins.static.field": "src",
            "transforms.ins.static.value": "web",
        },
    )
    out = c.apply(rec({"id": 1}))
    assert out.value == {
        "id": 1,
        "t": "orders",
        "p": 2,
        "ts": dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=dt.UTC),
        "src": "web",
    }
    offs = chain(transforms="i", transforms__i__type="InsertField$Value", **{"transforms.i.offset.field": "off"})
    assert offs.apply(sink_rec({"a": 1})).value == {"a": 1, "off": 99}
    with pytest.raises(DataError, match="sink connectors"):
        offs.apply(rec({"a": 1}))


def test_replace_mask_valuetokey_extract_hoist_flatten():
    r = chain(
        transforms="r",
        transforms__r__type="ReplaceField$Value",
        **{"transforms.r.exclude": "secret", "transforms.r.renames": "id:order_id"},
    )
    assert r.apply(rec({"id": 1, "secret": "x", "n": 2})).value == {"order_id": 1, "n": 2}
    inc = chain(transforms="r", transforms__r__type="ReplaceField$Value", **{"transforms.r.include": "n"})
    assert inc.apply(rec({"id": 1, "n": 2})).value == {"n": 2}
    m = chain(transforms="m", transforms__m__type="MaskField$Value", **{"transforms.m.fields": "card,amount,ok"})
    assert m.apply(rec({"card": "4111", "amount": 12.5, "ok": True, "k": 1})).value == {
        "card": "",
        "amount": 0.0,
        "ok": False,
        "k": 1,
    }
    m2 = chain(
        transforms="m",
        transforms__m__type="MaskField$Value",
        **{"transforms.m.fields": "card", "transforms.m.replacement": "****"},
    )
    assert m2.apply(rec({"card": "4111"})).value == {"card": "****"}
    vk = chain(transforms="k", transforms__k__type="ValueToKey", **{"transforms.k.fields": "id"})
    assert vk.apply(rec({"id": 5, "n": 1})).key == {"id": 5}
    ex = chain(
        transforms="k,e",
        transforms__k__type="ValueToKey",
        transforms__e__type="ExtractField$Key",
        **{"transforms.k.fields": "id", "transforms.e.field": "id"},
    )
    assert ex.apply(rec({"id": 5})).key == 5
    h = chain(transforms="h", transforms__h__type="HoistField$Value", **{"transforms.h.field": "line"})
    assert h.apply(rec("text")).value == {"line": "text"}
    f = chain(transforms="f", transforms__f__type="Flatten$Value", **{"transforms.f.delimiter": "_"})
    assert f.apply(rec({"a": {"b": {"c": 1}}, "d": 2})).value == {"a_b_c": 1, "d": 2}


def test_schema_follows_the_value():
    schema = struct_schema("o", [("id", Schema("int32")), ("name", Schema("string"))])
    r = chain(transforms="r", transforms__r__type="ReplaceField$Value", **{"transforms.r.renames": "name:label"})
    out = r.apply(rec({"id": 1, "name": "x"}, schema=schema))
    assert [(f.name, f.schema.type) for f in out.value_schema.fields] == [
        ("id", "int32"),
        ("label", "string"),
    ]
    cast = chain(transforms="c", transforms__c__type="Cast$Value", **{"transforms.c.spec": "id:string"})
    out = cast.apply(rec({"id": 1, "name": "x"}, schema=schema))
    assert out.value == {"id": "1", "name": "x"} and out.value_schema.field("id").schema.type == "string"


def test_cast_fields_and_whole_values():
    c = chain(
        transforms="c",
        transforms__c__type="org.apache.kafka.connect.transforms.Cast$Value",
        **{"transforms.c.spec": "a:int32,b:float64,c:string,d:boolean,e:int8"},
    )
    assert c.apply(rec({"a": "12", "b": 3, "c": 4.5, "d": "true", "e": 300})).value == {
        "a": 12,
        "b": 3.0,
        "c": "4.5",
        "d": True,
        "e": 44,
    }
    w = chain(transforms="c", transforms__c__type="Cast$Key", **{"transforms.c.spec": "int64"})
    assert w.apply(rec(None, key="42")).key == 42
    infos = validate_connector_config(
        {
            "connector.class": "FileStreamSource",
            "name": "n",
            "topic": "t",
            "transforms": "c",
            "transforms.c.type": "Cast$Value",
            "transforms.c.spec": "a:int128",
        }
    )
    assert "int128" in config_errors(infos)["transforms.c.spec"][0]


def test_timestamp_converter_and_router():
    assert (
        java_format(dt.datetime(2024, 3, 9, 7, 5, 1, 42000), "yyyy-MM-dd'T'HH:mm:ss.SSS") == "2024-03-09T07:05:01.042"
    )
    assert java_parse("2024-03-09 07:05:01", "yyyy-MM-dd HH:mm:ss") == dt.datetime(2024, 3, 9, 7, 5, 1, tzinfo=dt.UTC)
    to_str = chain(
        transforms="t",
        transforms__t__type="TimestampConverter$Value",
        **{
            "transforms.t.field": "at",
            "transforms.t.target.type": "string",
            "transforms.t.format": "yyyy-MM-dd",
        },
    )
    assert to_str.apply(rec({"at": TS})).value == {"at": "2023-11-14"}
    to_unix = chain(
        transforms="t",
        transforms__t__type="TimestampConverter$Value",
        **{
            "transforms.t.field": "at",
            "transforms.t.target.type": "unix",
            "transforms.t.format": "yyyy-MM-dd",
            "transforms.t.unix.precision": "seconds",
        },
    )
    assert to_unix.apply(rec({"at": "2023-11-14"})).value == {"at": 1699920000}
    whole = chain(
        transforms="t",
        transforms__t__type="TimestampConverter$Value",
        **{"transforms.t.target.type": "Timestamp"},
    )
    assert whole.apply(rec(TS)).value == dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=dt.UTC)
    router = chain(
        transforms="r",
        transforms__r__type="TimestampRouter",
        **{"transforms.r.topic.format": "${topic}-${timestamp}", "transforms.r.timestamp.format": "yyyyMM"},
    )
    assert router.apply(rec({})).topic == "orders-202311"
    infos = validate_connector_config(
        {
            "connector.class": "FileStreamSource",
            "name": "n",
            "topic": "t",
            "transforms": "t",
            "transforms.t.type": "TimestampConverter$Value",
            "transforms.t.target.type": "string",
        }
    )
    assert "format" in config_errors(infos)["transforms.t.format"][0]


def test_regex_router_filter_and_predicates():
    rr = chain(
        transforms="r",
        transforms__r__type="RegexRouter",
        **{"transforms.r.regex": "(.*)-raw", "transforms.r.replacement": "$1-clean"},
    )
    assert rr.apply(rec({}, topic="orders-raw")).topic == "orders-clean"
    assert rr.apply(rec({}, topic="orders")).topic == "orders"
    c = chain(
        transforms="drop",
        transforms__drop__type="Filter",
        transforms__drop__predicate="isTest",
        predicates="isTest",
        predicates__isTest__type="org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
        **{"predicates.isTest.pattern": "test-.*"},
    )
    assert c.apply(rec({}, topic="test-1")) is None
    assert c.apply(rec({}, topic="prod")).topic == "prod"
    keep_only = chain(
        transforms="drop",
        transforms__drop__type="Filter",
        transforms__drop__predicate="h",
        transforms__drop__negate="true",
        predicates="h",
        predicates__h__type="HasHeaderKey",
        **{"predicates.h.name": "keep"},
    )
    assert keep_only.apply(rec({}, headers=[Header("keep", "1")])) is not None
    assert keep_only.apply(rec({})) is None
    tomb = chain(
        transforms="drop",
        transforms__drop__type="Filter",
        transforms__drop__predicate="t",
        predicates="t",
        predicates__t__type="RecordIsTombstone",
    )
    assert tomb.apply(rec(None)) is None and tomb.apply(rec({"a": 1})) is not None


def test_header_transforms():
    hf = chain(
        transforms="h",
        transforms__h__type="HeaderFrom$Value",
        **{
            "transforms.h.fields": "id,src",
            "transforms.h.headers": "x-id,x-src",
            "transforms.h.operation": "move",
        },
    )
    out = hf.apply(rec({"id": 1, "src": "web", "n": 2}))
    assert out.value == {"n": 2} and [(h.key, h.value) for h in out.headers] == [
        ("x-id", 1),
        ("x-src", "web"),
    ]
    ih = chain(
        transforms="i",
        transforms__i__type="InsertHeader",
        **{"transforms.i.header": "origin", "transforms.i.value.literal": "dc1"},
    )
    dh = chain(transforms="d", transforms__d__type="DropHeaders", **{"transforms.d.headers": "a"})
    out = ih.apply(rec({}))
    assert [(h.key, h.value) for h in out.headers] == [("origin", "dc1")]
    assert dh.apply(rec({}, headers=[Header("a", 1), Header("b", 2), Header("a", 3)])).headers == [Header("b", 2)]


def test_validation_of_transform_and_predicate_configs():
    base = {"connector.class": "FileStreamSource", "name": "n", "topic": "t"}
    errs = config_errors(validate_connector_config({**base, "transforms": "a,a"}))
    assert errs["transforms"] == ["Invalid value a,a for configuration transforms: Duplicate alias provided."]
    errs = config_errors(validate_connector_config({**base, "transforms": "a"}))
    assert "transforms.a.type" in errs
    errs = config_errors(
        validate_connector_config(
            {**base, "transforms": "a", "transforms.a.type": "Filter", "transforms.a.predicate": "nope"}
        )
    )
    assert "not defined" in errs["transforms.a.predicate"][0]
    errs = config_errors(
        validate_connector_config(
            {
                **base,
                "transforms": "a",
                "transforms.a.type": "RegexRouter",
                "transforms.a.regex": "(",
                "transforms.a.replacement": "x",
            }
        )
    )
    assert "transforms.a.regex" in errs
    errs = config_errors(
        validate_connector_config({**base, "transforms": "a", "transforms.a.type": "ExtractField$Value"})
    )
    assert errs == {
        "transforms.a.field": ['Missing required configuration "transforms.a.field" which has no default value.']
    }
    with pytest.raises(DataError, match="Only Map objects"):
        chain(transforms="e", transforms__e__type="ExtractField$Value", **{"transforms.e.field": "x"}).apply(rec("str"))
