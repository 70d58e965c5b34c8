"""``millstream connect``: run Kafka-Connect-compatible connectors.

``millstream connect standalone worker.properties conn1.properties [conn2.json ...]`` runs the given
connectors (configs not persisted; offsets are, in the log). ``millstream connect worker [worker.properties]``
starts with no connectors and keeps configs, target states, statuses and offsets in the log's
``connect-configs``/``connect-status``/``connect-offsets`` topics, so a restarted worker resumes its
connectors. ``millstream connect distributed worker.properties`` starts one worker of a cluster: workers with the
same ``group.id`` on the same log share the connectors (:mod:`millstream.connect.distributed_herder`).
All serve Kafka Connect's REST API (port 8083 by default; ``--rest-port 0`` picks a free port).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import orjson

from ..core.errors import ConfigError, MillstreamError


def load_connector_file(path: str) -> tuple[str | None, dict[str, Any], str | None]:
    """Read a connector config file: ``.json`` (``{"name", "config", "initial_state"?}`` or a flat map) or
    Java properties. Returns ``(name, config, initial_state)``."""
    from ..connect.config import load_properties

    text = Path(path).read_text(encoding="utf-8")
    if path.endswith(".json") or text.lstrip().startswith("{"):
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a JSON object")
        if isinstance(data.get("config"), dict):
            config = data["config"]
            return data.get("name") or config.get("name"), config, data.get("initial_state")
        return data.get("name"), data, None
    props = load_properties(text)
    return props.get("name"), dict(props), None


def _load_worker_props(path: str | None) -> dict[str, str]:
    from ..connect.config import load_properties

    if not path:
        return {}
    return load_properties(Path(path).read_text(encoding="utf-8"))


def _run(
    worker_props: dict[str, str],
    connector_files: tuple[str, ...],
    log_url: str | None,
    rest_port: int | None,
    rest_host: str | None,
    persist: bool,
) -> None:
    from ..connect.herder import Herder
    from ..connect.rest import RestServer
    from ..connect.worker_config import WorkerConfig

    config = WorkerConfig(worker_props)
    loaded = [load_connector_file(f) for f in connector_files]
    for (name, _cfg, _state), f in zip(loaded, connector_files, strict=True):
        if not name:
            raise ConfigError(f"{f} has no connector name", hint="add name=<connector name> to it")
    server = RestServer.from_worker_props(worker_props, rest_port, rest_host)
    host = server.host
    advertised = str(worker_props.get("rest.advertised.host.name") or "") or (
        "127.0.0.1" if host in ("0.0.0.0", "") else host
    )
    herder = Herder(config, log_url, persist_configs=persist, worker_id=f"{advertised}:{server.port}")
    server.attach(herder)
    server.start()

    def start() -> str:
        herder.start()
        for name, cfg, state in loaded:
            assert name is not None
            herder.create_connector(name, cfg, state)
        names = ", ".join(herder.connectors()) or "none"
        return f"millstream connect: REST API at {server.url} (log {herder.log.url}); connectors: {names}"

    _serve(server, herder, start)


def _serve(server: Any, herder: Any, start: Callable[[], str]) -> None:
    """``start()`` the worker and print what it returns, serve until SIGINT or SIGTERM, stop the REST server and
    the herder; Ctrl-C then exits 130 (128 + SIGINT, as run/produce/consume do), SIGTERM 0."""
    got = None
    signals = _Signals()  # before the banner: whoever reads it may signal at once
    try:
        click.echo(start())
        sys.stdout.flush()
        got = signals.wait()
        click.echo("millstream connect: shutting down")
    finally:
        server.stop()
        herder.stop()
    if got == signal.SIGINT:
        sys.exit(130)


class _Signals:
    """SIGINT and SIGTERM caught from construction on (in the main thread): :meth:`wait` returns the first."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.got: list[int] = []
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._on)
            signal.signal(signal.SIGTERM, self._on)

    def _on(self, signum: int, frame: Any) -> None:
        self.got.append(signum)
        self.stop.set()

    def wait(self) -> int | None:
        while not self.stop.wait(0.5):
            pass
        return self.got[0] if self.got else None


def _run_distributed(
    worker_props: dict[str, str], log_url: str | None, rest_port: int | None, rest_host: str | None
) -> None:
    from ..connect.distributed_herder import DistributedHerder
    from ..connect.rest import RestServer, listener
    from ..connect.worker_config import WorkerConfig

    config = WorkerConfig(worker_props)
    server = RestServer.from_worker_props(worker_props, rest_port, rest_host)
    host = server.host
    advertised = str(config.get("rest.advertised.host.name") or "") or (
        "127.0.0.1" if host in ("0.0.0.0", "") else host
    )
    port = int(config.get("rest.advertised.port"))
    port = server.port if port < 0 else port
    scheme = str(config.get("rest.advertised.listener") or "") or listener(worker_props, rest_port, rest_host).scheme
    worker_id = f"{advertised}:{port}"
    try:
        herder = DistributedHerder(config, log_url, worker_id=worker_id, url=f"{scheme}://{worker_id}")
    except BaseException:
        server.stop()
        raise
    server.attach(herder)
    server.start()

    def start() -> str:
        herder.start()
        return (
            f"millstream connect: distributed worker {worker_id} of group {herder.group_id}: REST API at "
            f"{server.url} (log {herder.log.url})"
        )

    _serve(server, herder, start)


def _main(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except MillstreamError as exc:
        click.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)


_log_option = click.option(
    "--log",
    "log_url",
    envvar="MILLSTREAM_LOG",
    help="Log URL (memory://, file://PATH, kafka://HOST:PORT). Default: worker log.url, bootstrap.servers, "
    "or file://./.millstream.",
)
_rest_port_option = click.option(
    "--rest-port",
    type=click.IntRange(0, 65535),
    help="REST API port (default 8083, or listeners=/rest.port=).",
)
_rest_host_option = click.option(
    "--rest-host",
    help="REST API bind address (default 127.0.0.1, or the host of listeners=; 0.0.0.0 = all interfaces).",
)
_level_option = click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
    help="Logging level for the worker's messages (stderr).",
)


@click.group("connect")
def connect() -> None:
    """Run Kafka-Connect-compatible connectors (standalone or as a worker with the REST API)."""


@connect.command()
@click.argument("worker_properties", type=click.Path(exists=True, dir_okay=False))
@click.argument("connector_configs", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@_log_option
@_rest_port_option
@_rest_host_option
@_level_option
def standalone(
    worker_properties: str,
    connector_configs: tuple[str, ...],
    log_url: str | None,
    rest_port: int | None,
    rest_host: str | None,
    log_level: str,
) -> None:
    """Run the connectors in CONNECTOR_CONFIGS (.properties or .json) with WORKER_PROPERTIES.

    Source offsets are stored in the log's offsets topic, so running the same command again resumes where it
    stopped. The REST API is served too (Kafka's standalone mode does the same).
    """
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _main(lambda: _run(_load_worker_props(worker_properties), connector_configs, log_url, rest_port, rest_host, False))


@connect.command()
@click.argument("worker_properties", required=False, type=click.Path(exists=True, dir_okay=False))
@_log_option
@_rest_port_option
@_rest_host_option
@_level_option
def worker(
    worker_properties: str | None,
    log_url: str | None,
    rest_port: int | None,
    rest_host: str | None,
    log_level: str,
) -> None:
    """Start a worker that serves the REST API with no connectors yet.

    Connectors created over REST (e.g. with `kc create`) are stored in the log with their target state; a
    restarted worker on the same log resumes them from their stored offsets.
    """
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _main(lambda: _run(_load_worker_props(worker_properties), (), log_url, rest_port, rest_host, True))


@connect.command()
@click.argument("worker_properties", type=click.Path(exists=True, dir_okay=False))
@_log_option
@_rest_port_option
@_rest_host_option
@_level_option
def distributed(
    worker_properties: str,
    log_url: str | None,
    rest_port: int | None,
    rest_host: str | None,
    log_level: str,
) -> None:
    """Start a worker of a distributed Connect cluster (Kafka Connect's distributed mode).

    Workers with the same group.id on the same log form one cluster: connectors and tasks are spread over
    them and move when a worker leaves (after scheduled.rebalance.max.delay.ms); configs, offsets and
    statuses live in the config/offset/status storage topics; any worker answers any REST request.
    """
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _main(lambda: _run_distributed(_load_worker_props(worker_properties), log_url, rest_port, rest_host))


__all__ = ["connect", "load_connector_file"]
