"""HTTP basic authentication from a users file, as Kafka Connect's ``BasicAuthSecurityRestExtension``
(whose ``PropertyFileLoginModule`` reads the same file format).

The file is Java-properties style, one user a line: ``alice=secret`` (``alice: secret`` works too); blank
lines and lines starting with ``#`` or ``!`` are ignored. Passwords are compared in constant time. A request
without valid credentials gets 401 with ``WWW-Authenticate: Basic realm="..."``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from pathlib import Path

from ..core.errors import ConfigError


class BasicAuth:
    """Checks ``Authorization: Basic ...`` headers against ``users`` (user → password)."""

    def __init__(self, users: dict[str, str], realm: str = "millstream") -> None:
        if not users:
            raise ConfigError("the basic-auth users file lists no users", hint="add a line user=password")
        self.users = dict(users)
        self.realm = realm

    @classmethod
    def from_file(cls, path: str | Path, realm: str = "millstream") -> BasicAuth:
        """Read users from ``path``; a missing, unreadable or empty file is a :class:`ConfigError`."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot read the basic-auth users file {path}: {exc.strerror}",
                hint="point the users file option at a readable file of user=password lines",
            ) from None
        users: dict[str, str] = {}
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line[0] in "#!":
                continue
            cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
            if cut <= 0:
                raise ConfigError(f"{path}:{n}: expected user=password, got {line!r}")
            users[line[:cut].strip()] = line[cut + 1 :].strip()
        return cls(users, realm)

    @property
    def challenge(self) -> str:
        """The ``WWW-Authenticate`` header value of a 401."""
        return f'Basic realm="{self.realm}", charset="UTF-8"'

    def authenticate(self, authorization: str | None) -> str | None:
        """The user an ``Authorization`` header value proves, or ``None``."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        expected = self.users.get(user)
        if not sep or expected is None:
            hmac.compare_digest(password.encode(), password.encode())  # same work for unknown users
            return None
        return user if hmac.compare_digest(password.encode("utf-8"), expected.encode("utf-8")) else None


__all__ = ["BasicAuth"]
