"""connection.url parsing and connection errors (no server needed, except a closed port)."""

from __future__ import annotations

import socket

import pytest

from millstream.connect.connectors.jdbc.connection import JdbcConnectionError, connect, parse_connection_url
from millstream.core.errors import ConfigError


def test_jdbc_url_with_properties() -> None:
    p = parse_connection_url("jdbc:postgresql://db.example:6543/sales?user=app&password=s3cret&ssl=true")
    assert p["host"] == "db.example"
    assert p["port"] == 6543
    assert p["dbname"] == "sales"
    assert p["user"] == "app"
    assert p["password"] == "s3cret"
    assert p["sslmode"] == "require"


def test_jdbc_url_without_port_and_current_schema() -> None:
    p = parse_connection_url("jdbc:postgresql://localhost/app?currentSchema=reporting&ApplicationName=x")
    assert p["host"] == "localhost" and "port" not in p
    assert p["options"] == "-c search_path=reporting"
    assert p["application_name"] == "x"


def test_libpq_url_and_overrides() -> None:
    p = parse_connection_url("postgresql://u:pw@127.0.0.1:5433/db", user="other", password="pw2")
    assert (p["host"], str(p["port"]), p["dbname"], p["user"], p["password"]) == (
        "127.0.0.1",
        "5433",
        "db",
        "other",
        "pw2",
    )
    kv = parse_connection_url("host=h port=1 dbname=d")
    assert (kv["host"], kv["dbname"]) == ("h", "d")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("", "empty"),
        ("jdbc:oracle:thin:@h:1521/db", "'oracle'.*PostgreSQL, SQLite and MySQL/MariaDB"),
        ("mongodb://h/db", "scheme 'mongodb'"),
        ("jdbc:sqlite:", "names no SQLite database file"),
    ],
)
def test_bad_urls_name_the_problem(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_connection_url(url)


def test_unreachable_server_gives_readable_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        params = parse_connection_url(f"jdbc:postgresql://127.0.0.1:{port}/nowhere?password=hidden")
        with pytest.raises(JdbcConnectionError) as info:
            connect(params)
    text = str(info.value)
    assert f"127.0.0.1:{port}/nowhere" in text
    assert "hidden" not in text
    assert "check connection.url" in text
