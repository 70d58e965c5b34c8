"""Fixtures for the HTTP-stack tests: a Connect REST worker and a monitoring server on free loopback ports,
with short read timeouts so stalled-client cases finish fast."""

from __future__ import annotations

import datetime
import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from millstream.connect.herder import Herder
from millstream.connect.rest import RestServer
from millstream.http import ServerLimits
from millstream.log import open_log
from millstream.observe import MetricRegistry, MonitoringServer

#: what the tests use: 1 MiB bodies (the default) and a read timeout short enough to wait for
LIMITS = ServerLimits(read_timeout_s=0.5, idle_timeout_s=2)


@pytest.fixture
def herder() -> Iterator[Herder]:
    h = Herder({"offset.flush.interval.ms": "50"}, open_log("memory://"), worker_id="t:0")
    h.start()
    yield h
    h.stop()


@pytest.fixture
def connect(herder: Herder) -> Iterator[RestServer]:
    server = RestServer(herder, "127.0.0.1", 0, limits=LIMITS)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def monitoring() -> Iterator[MonitoringServer]:
    server = MonitoringServer(MetricRegistry(), 0, limits=ServerLimits(read_timeout_s=0.5, max_body_bytes=1024))
    yield server
    server.close()


def raw(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it or ``timeout``."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return out


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A PEM keystore (key + certificate for 127.0.0.1) and the certificate alone, made with cryptography."""
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
