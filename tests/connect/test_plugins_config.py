"""Plugin discovery (aliases, Kafka class names, dotted paths, the millstream.connectors entry point) and
config parsing (ConfigDef, Java properties files, secret masking)."""

from __future__ import annotations

import sys
import textwrap

import pytest

from millstream.connect.config import (
    ConfigDef,
    Password,
    Range,
    Type,
    ValidString,
    load_properties,
    mask_secrets,
)
from millstream.connect.connectors.file import FileStreamSinkConnector, FileStreamSourceConnector
from millstream.connect.errors import ConnectorConfigError, PluginNotFoundError
from millstream.connect.plugins import REGISTRY, Registry
from millstream.connect.transforms import InsertField


@pytest.mark.parametrize(
    "name",
    [
        "FileStreamSource",
        "FileStreamSourceConnector",
        "filestreamsource",
        "org.apache.kafka.connect.file.FileStreamSourceConnector",
        "millstream.connect.connectors.file.FileStreamSourceConnector",
    ],
)
def test_connectors_by_alias_kafka_name_or_class_path(name):
    assert REGISTRY.load(name, "connector") is FileStreamSourceConnector


def test_transforms_and_converters_by_kafka_names_and_dotted_paths():
    assert REGISTRY.load("org.apache.kafka.connect.transforms.InsertField$Value", "transformation") is InsertField.Value
    assert REGISTRY.load("millstream.connect.transforms.fields.InsertField$Key", "transformation") is InsertField.Key
    assert REGISTRY.load("org.apache.kafka.connect.json.JsonConverter", "converter").__name__ == "JsonConverter"
    with pytest.raises(PluginNotFoundError) as e:
        REGISTRY.load("org.apache.kafka.connect.transforms.Nope", "transformation")
    assert "InsertField" in str(e.value)


def test_third_party_connectors_via_the_entry_point_group(tmp_path, monkeypatch):
    pkg = tmp_path / "acme_connect"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent("""
        from millstream.connect import SinkConnector, SinkTask

        class AcmeTask(SinkTask):
            def start(self, props): pass
            def put(self, records): pass
            def stop(self): pass

        class AcmeSink(SinkConnector):
            def start(self, props): pass
            def task_class(self): return AcmeTask
            def task_configs(self, n): return [{}]
            def stop(self): pass
    """)
    )
    dist = tmp_path / "acme_connect-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-connect\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[millstream.connectors]\nAcme = acme_connect:AcmeSink\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry()
    cls = reg.load("Acme", "connector")
    assert cls.__name__ == "AcmeSink"
    assert reg.load("acme_connect.AcmeSink", "connector") is cls
    assert any(d.class_name == "acme_connect.AcmeSink" and d.type == "sink" for d in reg.plugins())
    sys.modules.pop("acme_connect", None)


def test_unknown_connector_lists_known_ones():
    with pytest.raises(PluginNotFoundError) as e:
        REGISTRY.load("S3SinkConnector", "connector")
    msg = str(e.value)
    assert "S3SinkConnector" in msg and "JdbcSink" in msg and "FileStreamSink" in msg and "Datagen" in msg
    assert REGISTRY.load("FileStreamSink", "connector") is FileStreamSinkConnector


def test_configdef_parses_types_defaults_and_reports_every_error():
    d = (
        ConfigDef()
        .define("a", Type.INT, validator=Range.between(1, 10))
        .define("b", Type.BOOLEAN, False)
        .define("c", Type.LIST, "x,y")
        .define("d", Type.STRING, "one", validator=ValidString("one", "two"))
        .define("e", Type.PASSWORD, None)
        .define("f", Type.DOUBLE, 1.5)
    )
    assert d.parse({"a": "3", "b": "TRUE", "e": "s3cret"}) == {
        "a": 3,
        "b": True,
        "c": ["x", "y"],
        "d": "one",
        "e": Password("s3cret"),
        "f": 1.5,
    }
    assert str(d.parse({"a": 1, "e": "s3cret"})["e"]) == "[hidden]"
    with pytest.raises(ConnectorConfigError) as e:
        d.parse({"a": "11", "b": "yes", "d": "three"})
    assert e.value.errors == {
        "a": ["Invalid value 11 for configuration a: Value must be no more than 10"],
        "b": ["Invalid value yes for configuration b: Expected value to be either true or false"],
        "d": ["Invalid value three for configuration d: String must be one of: one, two"],
    }
    assert "3 error(s)" in str(e.value)
    keys = {k.name: k.to_json() for k in d.config_keys()}
    assert keys["a"]["required"] is True and keys["c"]["default_value"] == "x,y"


def test_java_properties_files():
    text = textwrap.dedent(r"""
        # comment
        ! another
        name = local-file-source
        connector.class:FileStreamSource
        file /tmp/test.txt
        topics.regex=a\.b.*
        long.value = first \
                     second
        unicode=caf\u00e9
        empty=
    """)
    assert load_properties(text) == {
        "name": "local-file-source",
        "connector.class": "FileStreamSource",
        "file": "/tmp/test.txt",
        "topics.regex": "a.b.*",
        "long.value": "first second",
        "unicode": "café",
        "empty": "",
    }


def test_secrets_are_masked():
    masked = mask_secrets(
        {
            "connection.password": "p",
            "api.token": "t",
            "key.converter": "JsonConverter",
            "aws.secret.access.key": "s",
            "topic": "x",
        }
    )
    assert masked == {
        "connection.password": "[hidden]",
        "api.token": "[hidden]",
        "key.converter": "JsonConverter",
        "aws.secret.access.key": "[hidden]",
        "topic": "x",
    }
