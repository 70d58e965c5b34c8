"""The HTTP sink's keep-alive pool: many requests over few TCP connections (counted by a real local server)."""

from __future__ import annotations

import datetime
import ipaddress
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from millstream.connect.connectors.http.client import HttpPool, HttpRequestError, HttpSender
from millstream.connect.connectors.http.sink import HttpSinkTask
from millstream.connect.data import SinkRecord

from .dataset_server import Dataset, serve


@pytest.fixture
def dataset() -> Iterator[Dataset]:
    yield from serve()


def test_sink_requests_reuse_one_connection(dataset: Dataset) -> None:
    task = HttpSinkTask()
    task.start({"http.api.url": f"{dataset.base}/items", "batch.max.size": "1"})
    try:
        records = [SinkRecord("t", 0, None, None, None, {"n": i}, None, kafka_offset=i) for i in range(60)]
        task.put(records[:30])
        task.put(records[30:])
        assert task.requests_sent == 60 and len(dataset.paths) == 60
        assert dataset.accepted == 1 and task.pool.connections_opened == 1
    finally:
        task.stop()


def test_concurrent_senders_share_the_pool_up_to_its_size(dataset: Dataset) -> None:
    pool = HttpPool(2)
    senders = [HttpSender(f"{dataset.base}/items", pool=pool) for _ in range(4)]

    def send_many(sender: HttpSender) -> None:
        for _ in range(25):
            sender.send(b"[]")

    threads = [threading.Thread(target=send_many, args=(s,)) for s in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(dataset.paths) == 100
    # four threads at once may open more than the two kept connections, but nowhere near one per request
    assert dataset.accepted <= 20, dataset.accepted
    pool.close()


def test_a_connection_the_server_closed_when_idle_is_replaced_without_an_error() -> None:
    for dataset in serve(idle_timeout=0.2):
        sender = HttpSender(f"{dataset.base}/items", pool=HttpPool(1), max_retries=0)
        sender.send(b"[]")
        time.sleep(0.6)  # the server closes the idle kept-alive connection
        assert sender.send(b"[]").status == 200  # no retry allowed: the dead connection was noticed and replaced
        assert dataset.accepted == 2
        sender.send(b"[]")
        assert dataset.accepted == 2


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A PEM keystore (key + certificate for 127.0.0.1) and the certificate alone."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    keystore, ca = tmp_path / "keystore.pem", tmp_path / "ca.pem"
    keystore.write_bytes(key_pem + cert_pem)
    ca.write_bytes(cert_pem)
    return keystore, ca


def test_https_certificates_are_verified_unless_turned_off(tmp_path: Path) -> None:
    keystore, ca = self_signed(tmp_path)
    for dataset in serve(keystore=str(keystore)):
        url = f"{dataset.base}/items"
        records = [SinkRecord("t", 0, None, None, None, {"n": i}, None, kafka_offset=i) for i in range(5)]

        def sink(url: str = url, **options: str) -> HttpSinkTask:
            task = HttpSinkTask()
            task.start({"http.api.url": url, "batch.max.size": "1", "max.retries": "0", **options})
            return task

        untrusted = sink()
        with pytest.raises(HttpRequestError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusted.put(records)
        untrusted.stop()
        for options in ({"https.ssl.ca.location": str(ca)}, {"https.ssl.verify": "false"}):
            task = sink(**options)
            accepted = dataset.accepted
            task.put(records)
            assert task.requests_sent == 5 and dataset.accepted == accepted + 1  # one TLS connection, kept
            task.stop()
