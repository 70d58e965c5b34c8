"""HTTPS for an HTTP server, configured with Kafka Connect's listener keys.

``listeners=https://host:port`` with ``listeners.https.ssl.keystore.location`` (and, as in Kafka, the same keys
without the ``listeners.https.`` prefix as a fallback):

- ``ssl.keystore.type``: ``PEM`` (default here; one file with the private key and the certificate chain) or
  ``PKCS12`` (read with the ``cryptography`` package); ``JKS`` is refused with the ``keytool`` command that
  converts it;
- ``ssl.keystore.password`` (PKCS12) / ``ssl.key.password`` (an encrypted PEM key);
- ``ssl.truststore.location`` (PEM CA certificates) with ``ssl.client.auth`` = ``none`` | ``requested`` |
  ``required`` for client certificates.

TLS 1.2 is the minimum version.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError

_CLIENT_AUTH = {"none": ssl.CERT_NONE, "requested": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


@dataclass(frozen=True)
class TlsConfig:
    """A server certificate (``keystore`` file of ``keystore_type``), its passwords, and optionally CA
    certificates to verify clients with (``truststore``, ``client_auth``)."""

    keystore: str
    keystore_type: str = "PEM"
    keystore_password: str | None = None
    key_password: str | None = None
    truststore: str | None = None
    client_auth: str = "none"

    @classmethod
    def from_props(cls, props: Mapping[str, Any], listener: str = "https") -> TlsConfig:
        """From ``listeners.<listener>.ssl.*`` keys (falling back to ``ssl.*``); a missing keystore is a
        :class:`ConfigError` naming the key to set."""

        def get(key: str) -> str | None:
            for full in (f"listeners.{listener}.{key}", key):
                value = props.get(full)
                if value not in (None, ""):
                    return str(value)
            return None

        keystore = get("ssl.keystore.location")
        if keystore is None:
            raise ConfigError(
                f"an {listener} listener needs a certificate",
                hint=f"set listeners.{listener}.ssl.keystore.location to a PEM file with the key and certificate",
            )
        client_auth = (get("ssl.client.auth") or "none").lower()
        if client_auth not in _CLIENT_AUTH:
            raise ConfigError(f"ssl.client.auth={client_auth!r} is not one of none, requested, required")
        return cls(
            keystore=keystore,
            keystore_type=(get("ssl.keystore.type") or "PEM").upper(),
            keystore_password=get("ssl.keystore.password"),
            key_password=get("ssl.key.password"),
            truststore=get("ssl.truststore.location"),
            client_auth=client_auth,
        )

    def context(self) -> ssl.SSLContext:
        """A server-side :class:`ssl.SSLContext`; unreadable or wrong files are a :class:`ConfigError`."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            if self.keystore_type == "PEM":
                ctx.load_cert_chain(self.keystore, password=self.key_password or self.keystore_password)
            elif self.keystore_type == "PKCS12":
                self._load_pkcs12(ctx)
            else:
                raise ConfigError(
                    f"ssl.keystore.type={self.keystore_type} is not supported (PEM and PKCS12 are)",
                    hint=f"convert it: keytool -importkeystore -srckeystore {self.keystore} "
                    "-destkeystore keystore.p12 -deststoretype PKCS12",
                )
            if self.truststore:
                ctx.load_verify_locations(self.truststore)
            ctx.verify_mode = _CLIENT_AUTH[self.client_auth]
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise ConfigError(
                f"cannot load the TLS keystore {self.keystore} ({self.keystore_type}): {exc}",
                hint="check ssl.keystore.location, ssl.keystore.type and the passwords",
            ) from None
        return ctx

    def _load_pkcs12(self, ctx: ssl.SSLContext) -> None:
        try:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.serialization import pkcs12
        except ImportError:
            raise ConfigError(
                "PKCS12 keystores need the cryptography package",
                hint="pip install cryptography, or use ssl.keystore.type=PEM",
            ) from None
        password = self.keystore_password.encode() if self.keystore_password else None
        key, cert, chain = pkcs12.load_key_and_certificates(Path(self.keystore).read_bytes(), password)
        if key is None or cert is None:
            raise ConfigError(f"the PKCS12 keystore {self.keystore} holds no private key and certificate")
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ) + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [cert, *chain])
        # ssl loads chains only from files: a private one, removed right after loading
        with tempfile.TemporaryDirectory(prefix="millstream-tls-") as tmp:
            path = os.path.join(tmp, "keystore.pem")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
            ctx.load_cert_chain(path)


__all__ = ["TlsConfig"]
