"""Secure defaults: loopback unless configured, basic authentication from a users file, HTTPS listeners
with Kafka Connect's ``listeners.https.ssl.*`` keys (a self-signed certificate made here)."""

from __future__ import annotations

import ssl

import httpx
import pytest
from kafka_connect import KafkaConnect

from millstream.connect.rest import RestServer, listener
from millstream.core.errors import ConfigError
from millstream.http import BasicAuth, TlsConfig
from millstream.observe import MetricRegistry, MonitoringServer

from .conftest import self_signed


def test_listener_defaults_to_loopback_and_honours_listeners_and_flags():
    assert listener({}) == listener({"rest.port": "8083"})
    assert (listener({}).scheme, listener({}).host, listener({}).port) == ("http", "127.0.0.1", 8083)
    assert listener({"listeners": "http://:9000"}).host == "0.0.0.0"  # Kafka: an empty host is every interface
    assert listener({"listeners": "HTTPS://10.1.2.3:8443"}).scheme == "https"
    assert listener({"listeners": "http://[::1]:8083"}).host == "::1"
    assert listener({"listeners": "http://h:1"}, 5, "0.0.0.0") == type(listener({}))("http", "0.0.0.0", 5)
    with pytest.raises(ConfigError, match="invalid listeners"):
        listener({"listeners": "tcp://x:1"})


def test_basic_auth_on_the_connect_api(herder, tmp_path):
    users = tmp_path / "users.properties"
    users.write_text("# who may call\nalice=s3cret\nbob: hunter2\n")
    server = RestServer.from_worker_props(
        {
            "rest.basic.auth.users.file": str(users),
            "rest.extension.classes": "org.apache.kafka.connect.rest."
            "basic.auth.extension.BasicAuthSecurityRestExtension",
        },
        rest_port=0,
    )
    server.attach(herder)
    server.start()
    try:
        r = httpx.get(server.url + "/connectors")
        assert r.status_code == 401 and r.json()["error_code"] == 401
        assert r.headers["www-authenticate"].startswith('Basic realm="millstream-connect"')
        assert httpx.get(server.url + "/connectors", auth=("alice", "wrong")).status_code == 401
        assert httpx.get(server.url + "/connectors", auth=("mallory", "s3cret")).status_code == 401
        assert httpx.get(server.url + "/connectors", auth=("bob", "hunter2")).json() == []
        assert httpx.get(server.url + "/openapi.json", auth=("alice", "s3cret")).json()["security"] == [{"basic": []}]
        kc = KafkaConnect(url=server.url, auth="alice:s3cret")
        assert kc.list_connectors() == []
    finally:
        server.stop()


def test_basic_auth_misconfigurations_are_named(tmp_path):
    ext = "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension"
    with pytest.raises(ConfigError, match="no users file"):
        RestServer.from_worker_props({"rest.extension.classes": ext}, rest_port=0)
    with pytest.raises(ConfigError, match="cannot read the basic-auth users file"):
        RestServer.from_worker_props({"rest.basic.auth.users.file": str(tmp_path / "missing")}, rest_port=0)
    with pytest.raises(ConfigError, match=r"com\.example\.MyExtension is not supported"):
        RestServer.from_worker_props({"rest.extension.classes": "com.example.MyExtension"}, rest_port=0)
    empty = tmp_path / "empty"
    empty.write_text("# nobody\n")
    with pytest.raises(ConfigError, match="lists no users"):
        BasicAuth.from_file(empty)


def test_https_listener_with_kafkas_keys(herder, tmp_path):
    keystore, ca = self_signed(tmp_path)
    props = {
        "listeners": "https://127.0.0.1:0",
        "listeners.https.ssl.keystore.location": str(keystore),
        "listeners.https.ssl.keystore.type": "PEM",
    }
    server = RestServer.from_worker_props(props)
    server.attach(herder)
    server.start()
    try:
        assert server.url.startswith("https://127.0.0.1:")
        assert httpx.get(server.url + "/connectors", verify=ssl.create_default_context(cafile=str(ca))).json() == []
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/connectors")  # not trusted without the CA
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(server.url.replace("https", "http") + "/connectors")
    finally:
        server.stop()


def test_https_and_auth_on_the_monitoring_server(tmp_path):
    keystore, ca = self_signed(tmp_path)
    server = MonitoringServer(MetricRegistry(), 0, tls=TlsConfig(str(keystore)), auth=BasicAuth({"ops": "pw"}))
    try:
        assert httpx.get(server.url + "/jobs", verify=ssl.create_default_context(cafile=str(ca))).status_code == 401
        r = httpx.get(server.url + "/jobs", verify=ssl.create_default_context(cafile=str(ca)), auth=("ops", "pw"))
        assert isinstance(r.json()["jobs"], list)  # the process-wide job directory may hold earlier jobs
    finally:
        server.close()


def test_tls_misconfigurations_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"listeners\.https\.ssl\.keystore\.location"):
        RestServer.from_worker_props({"listeners": "https://127.0.0.1:0"})
    with pytest.raises(ConfigError, match="keytool -importkeystore"):
        TlsConfig(str(tmp_path / "k.jks"), "JKS").context()
    with pytest.raises(ConfigError, match="cannot load the TLS keystore"):
        TlsConfig(str(tmp_path / "missing.pem")).context()
