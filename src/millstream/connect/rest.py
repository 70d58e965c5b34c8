"""Kafka Connect's REST API (default port 8083) over a :class:`~millstream.connect.herder.Herder`.

Served by the standard library's ``ThreadingHTTPServer``: each request has its own thread, and handlers only
call herder methods that never run connector code on the request thread, so a blocked connector cannot
block the API. Paths, methods, status codes and JSON shapes follow Kafka Connect (see CONNECT.md);
errors are ``{"error_code": <status>, "message": "..."}``. Clients' quirks are accepted: trailing slashes,
``includeTasks=False`` (any case), bodiless PUTs without a Content-Type, and a JSON body that is itself a
JSON-encoded string (what ``kc validate-config`` sends).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import orjson

from ..core.errors import ConfigError, MillstreamError
from .config import ConfigDef
from .errors import (
    AlreadyExistsError,
    BadRequestError,
    ConnectorConfigError,
    NotFoundError,
    PluginNotFoundError,
)
from .herder import Herder
from .plugins import REGISTRY

log = logging.getLogger("millstream.connect.rest")


class HttpError(Exception):
    """An error response: status code and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Response:
    """A handler's result: status, JSON body (or ``None`` for no body) and extra headers."""

    def __init__(self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


def _bool_param(query: dict[str, list[str]], name: str) -> bool:
    values = query.get(name)
    if not values:
        return False
    v = values[-1].strip().lower()
    if v in ("true", "false", ""):
        return v == "true"
    raise HttpError(400, f"query parameter {name}={values[-1]!r} is not a boolean (use true or false)")


Handler = Callable[..., Response]


class ConnectRestApi:
    """Routes requests to herder operations (framework-free, so it can be tested without sockets)."""

    def __init__(self, herder: Herder) -> None:
        self.herder = herder
        self.logger_levels: dict[str, int] = {}
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        r = self._route
        r("GET", r"", self.root)
        r("GET", r"/health", self.health)
        r("GET", r"/connectors", self.list_connectors)
        r("POST", r"/connectors", self.create_connector)
        r("GET", r"/connectors/(?P<name>[^/]+)", self.get_connector)
        r("DELETE", r"/connectors/(?P<name>[^/]+)", self.delete_connector)
        r("GET", r"/connectors/(?P<name>[^/]+)/config", self.get_config)
        r("PUT", r"/connectors/(?P<name>[^/]+)/config", self.put_config)
        r("PATCH", r"/connectors/(?P<name>[^/]+)/config", self.patch_config)
        r("GET", r"/connectors/(?P<name>[^/]+)/status", self.get_status)
        r("POST", r"/connectors/(?P<name>[^/]+)/restart", self.restart)
        r("PUT", r"/connectors/(?P<name>[^/]+)/pause", self.pause)
        r("PUT", r"/connectors/(?P<name>[^/]+)/resume", self.resume)
        r("PUT", r"/connectors/(?P<name>[^/]+)/stop", self.stop)
        r("GET", r"/connectors/(?P<name>[^/]+)/tasks", self.get_tasks)
        r("GET", r"/connectors/(?P<name>[^/]+)/tasks/(?P<task>[^/]+)/status", self.task_status)
        r("POST", r"/connectors/(?P<name>[^/]+)/tasks/(?P<task>[^/]+)/restart", self.restart_task)
        r("GET", r"/connectors/(?P<name>[^/]+)/topics", self.topics)
        r("PUT", r"/connectors/(?P<name>[^/]+)/topics/reset", self.reset_topics)
        r("GET", r"/connectors/(?P<name>[^/]+)/offsets", self.get_offsets)
        r("PATCH", r"/connectors/(?P<name>[^/]+)/offsets", self.patch_offsets)
        r("DELETE", r"/connectors/(?P<name>[^/]+)/offsets", self.delete_offsets)
        r("GET", r"/connector-plugins", self.plugins)
        r("GET", r"/connector-plugins/(?P<plugin>[^/]+)/config", self.plugin_config)
        r("PUT", r"/connector-plugins/(?P<plugin>[^/]+)/config/validate", self.validate)
        r("GET", r"/admin/loggers", self.loggers)
        r("GET", r"/admin/loggers/(?P<logger>[^/]+)", self.get_logger)
        r("PUT", r"/admin/loggers/(?P<logger>[^/]+)", self.set_logger)

    def _route(self, method: str, path: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(path + "/?$"), handler))

    # -- dispatch -------------------------------------------------------------------------------------
    def handle(self, method: str, target: str, body: bytes | None, base_url: str = "") -> Response:
        """Serve one request; never raises. ``base_url`` (``http://host:port``) makes ``Location``
        absolute."""
        resp = self._handle(method, target, body)
        if base_url and resp.headers.get("Location", "").startswith("/"):
            resp.headers["Location"] = base_url + resp.headers["Location"]
        return resp

    def _handle(self, method: str, target: str, body: bytes | None) -> Response:
        parts = urlsplit(target)
        path = parts.path.rstrip("/") if parts.path not in ("", "/") else ""
        query = parse_qs(parts.query, keep_blank_values=True)
        allowed = []
        for m, pattern, handler in self.routes:
            match = pattern.match(path)
            if match is None:
                continue
            if m != method:
                allowed.append(m)
                continue
            args = {k: unquote(v) for k, v in match.groupdict().items()}
            try:
                return handler(query=query, body=body, **args)
            except HttpError as exc:
                return _error(exc.status, exc.message)
            except NotFoundError as exc:
                return _error(404, exc.message)
            except AlreadyExistsError as exc:
                return _error(409, exc.message)
            except (BadRequestError, ConnectorConfigError, PluginNotFoundError, ConfigError) as exc:
                return _error(400, str(exc))
            except MillstreamError as exc:
                return _error(500, str(exc))
            except Exception as exc:  # a bug: report it, keep serving
                log.exception("%s %s failed", method, target)
                return _error(500, f"{type(exc).__name__}: {exc}")
        if allowed:
            return _error(405, "HTTP 405 Method Not Allowed")
        return _error(404, "HTTP 404 Not Found")

    @staticmethod
    def _json(body: bytes | None, *, required: bool = True) -> Any:
        if not body or not body.strip():
            if required:
                raise HttpError(400, "Request body is empty; expected a JSON object")
            return None
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise HttpError(400, f"Request body is not valid JSON: {exc}") from None
        if isinstance(data, str):  # a JSON document sent as a JSON string
            try:
                data = orjson.loads(data)
            except orjson.JSONDecodeError:
                pass
        return data

    @staticmethod
    def _object(data: Any, what: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise HttpError(400, f"{what} must be a JSON object, got {type(data).__name__}")
        return data

    # -- cluster --------------------------------------------------------------------------------------
    def root(self, **_: Any) -> Response:
        from .. import __version__

        return Response(
            200, {"version": __version__, "commit": "millstream", "kafka_cluster_id": self.herder.cluster_id}
        )

    def health(self, **_: Any) -> Response:
        if self.herder.ready:
            return Response(
                200,
                {
                    "status": "healthy",
                    "message": "Worker has completed startup and is ready to handle requests.",
                },
            )
        return Response(503, {"status": "starting", "message": "Worker is still starting up."})

    # -- connectors -----------------------------------------------------------------------------------
    def list_connectors(self, query: dict[str, list[str]], **_: Any) -> Response:
        expand = query.get("expand", [])
        names = self.herder.connectors()
        if not expand:
            return Response(200, names)
        out: dict[str, Any] = {}
        for n in names:
            entry: dict[str, Any] = {}
            try:
                if "status" in expand:
                    entry["status"] = self.herder.connector_status(n)
                if "info" in expand:
                    entry["info"] = self.herder.connector_info(n)
            except NotFoundError:
                continue  # deleted meanwhile
            out[n] = entry
        return Response(200, out)

    def create_connector(self, body: bytes | None, **_: Any) -> Response:
        req = self._object(self._json(body), "The request body")
        config = req.get("config")
        if config is None:
            raise HttpError(400, 'The request body must contain a "config" object (and a "name")')
        config = self._object(config, '"config"')
        name = req.get("name") or config.get("name")
        if not isinstance(name, str) or not name.strip():
            raise HttpError(400, 'A connector "name" is required in the request body')
        if config.get("name") not in (None, name):
            raise HttpError(
                400,
                f"Connector name configuration ({config.get('name')}) doesn't match connector name in the URL ({name})",
            )
        info = self.herder.create_connector(name, config, req.get("initial_state"))
        return Response(201, info, {"Location": "/connectors/" + quote(name, safe="")})

    def get_connector(self, name: str, **_: Any) -> Response:
        return Response(200, self.herder.connector_info(name))

    def delete_connector(self, name: str, **_: Any) -> Response:
        self.herder.delete_connector(name)
        return Response(204)

    def get_config(self, name: str, **_: Any) -> Response:
        return Response(200, self.herder.connector_config(name))

    def put_config(self, name: str, body: bytes | None, **_: Any) -> Response:
        config = self._object(self._json(body), "The connector config")
        if config.get("name") not in (None, name):
            raise HttpError(
                400,
                f"Connector name configuration ({config.get('name')}) doesn't match connector name in the URL ({name})",
            )
        created, info = self.herder.put_connector_config(name, config)
        if created:
            return Response(201, info, {"Location": "/connectors/" + quote(name, safe="")})
        return Response(200, info)

    def patch_config(self, name: str, body: bytes | None, **_: Any) -> Response:
        patch = self._object(self._json(body), "The config patch")
        return Response(200, self.herder.patch_connector_config(name, patch))

    def get_status(self, name: str, **_: Any) -> Response:
        return Response(200, self.herder.connector_status(name))

    def restart(self, name: str, query: dict[str, list[str]], **_: Any) -> Response:
        include = _bool_param(query, "includeTasks")
        only_failed = _bool_param(query, "onlyFailed")
        status = self.herder.restart_connector(name, include, only_failed)
        if status is None:
            return Response(204)
        return Response(202, status)

    def pause(self, name: str, **_: Any) -> Response:
        self.herder.pause_connector(name)
        return Response(202)

    def resume(self, name: str, **_: Any) -> Response:
        self.herder.resume_connector(name)
        return Response(202)

    def stop(self, name: str, **_: Any) -> Response:
        self.herder.stop_connector(name)
        return Response(204)

    def get_tasks(self, name: str, **_: Any) -> Response:
        return Response(200, self.herder.tasks(name))

    @staticmethod
    def _task_id(task: str) -> int:
        try:
            return int(task)
        except ValueError:
            raise HttpError(404, f"Task id {task!r} is not a number") from None

    def task_status(self, name: str, task: str, **_: Any) -> Response:
        return Response(200, self.herder.task_status(name, self._task_id(task)))

    def restart_task(self, name: str, task: str, **_: Any) -> Response:
        self.herder.restart_task(name, self._task_id(task))
        return Response(204)

    def topics(self, name: str, **_: Any) -> Response:
        return Response(200, {name: {"topics": self.herder.active_topics(name)}})

    def reset_topics(self, name: str, **_: Any) -> Response:
        self.herder.reset_active_topics(name)
        return Response(202)

    def get_offsets(self, name: str, **_: Any) -> Response:
        return Response(200, {"offsets": self.herder.connector_offsets(name)})

    def patch_offsets(self, name: str, body: bytes | None, **_: Any) -> Response:
        req = self._object(self._json(body), "The request body")
        if "offsets" not in req:
            raise HttpError(400, 'The request body must be {"offsets": [{"partition": {...}, "offset": {...}}]}')
        return Response(200, {"message": self.herder.alter_offsets(name, req["offsets"])})

    def delete_offsets(self, name: str, **_: Any) -> Response:
        return Response(200, {"message": self.herder.reset_offsets(name)})

    # -- plugins --------------------------------------------------------------------------------------
    def plugins(self, query: dict[str, list[str]], **_: Any) -> Response:
        values = query.get("connectorsOnly")
        connectors_only = True if not values else values[-1].strip().lower() != "false"
        kinds = ("source", "sink") if connectors_only else None
        out = []
        for d in REGISTRY.plugins() if kinds is None else REGISTRY.plugins(kinds):
            version = "unknown"
            try:
                version = REGISTRY.load_plugin(d)().version()
            except Exception:
                pass
            out.append(d.to_json(version))
        return Response(200, out)

    def plugin_config(self, plugin: str, **_: Any) -> Response:
        for group in ("connector", "transformation", "predicate", "converter", "header_converter"):
            try:
                cls = REGISTRY.load(plugin, group)
            except PluginNotFoundError:
                continue
            if group == "connector":
                definition: ConfigDef = cls().config()
            else:
                definition = cls.CONFIG_DEF
            return Response(200, [k.to_json() for k in definition.config_keys()])
        raise HttpError(
            404, f"Unknown plugin {plugin}. Known connectors: {', '.join(REGISTRY.known_names('connector'))}"
        )

    def validate(self, plugin: str, body: bytes | None, **_: Any) -> Response:
        config = self._object(self._json(body), "The connector config")
        try:
            cls = REGISTRY.load(plugin, "connector")
        except PluginNotFoundError as exc:
            raise HttpError(400, exc.message) from None
        included = config.get("connector.class")
        if included:
            try:
                if REGISTRY.load(str(included), "connector") is not cls:
                    raise HttpError(400, f"Included connector type {included} does not match request type {plugin}")
            except PluginNotFoundError:
                raise HttpError(
                    400, f"Included connector type {included} does not match request type {plugin}"
                ) from None
        config = dict(config)
        config["connector.class"] = plugin
        return Response(200, self.herder.validate(config, cls))

    # -- loggers --------------------------------------------------------------------------------------
    def _logger_json(self, name: str, logger: logging.Logger) -> dict[str, Any]:
        out: dict[str, Any] = {"level": logging.getLevelName(logger.getEffectiveLevel())}
        if name in self.logger_levels:
            out["last_modified"] = self.logger_levels[name]
        return out

    def loggers(self, **_: Any) -> Response:
        out = {"root": self._logger_json("root", logging.getLogger())}
        for name in sorted(logging.root.manager.loggerDict):
            obj = logging.root.manager.loggerDict[name]
            if isinstance(obj, logging.Logger) and obj.level != logging.NOTSET:
                out[name] = self._logger_json(name, obj)
        return Response(200, out)

    def get_logger(self, logger: str, **_: Any) -> Response:
        if logger == "root":
            return Response(200, self._logger_json("root", logging.getLogger()))
        if logger not in logging.root.manager.loggerDict:
            raise HttpError(404, f"Logger {logger} not found.")
        return Response(200, self._logger_json(logger, logging.getLogger(logger)))

    def set_logger(self, logger: str, body: bytes | None, query: dict[str, list[str]], **_: Any) -> Response:
        req = self._object(self._json(body), "The request body")
        level = req.get("level")
        if not isinstance(level, str) or level.upper() not in (
            "TRACE",
            "DEBUG",
            "INFO",
            "WARN",
            "WARNING",
            "ERROR",
            "FATAL",
            "CRITICAL",
            "OFF",
        ):
            raise HttpError(400, f"Invalid log level '{level}'.")
        py_level = {"TRACE": "DEBUG", "WARN": "WARNING", "FATAL": "CRITICAL", "OFF": "CRITICAL"}.get(
            level.upper(), level.upper()
        )
        now = int(time.time() * 1000)
        affected = []
        if logger == "root":
            logging.getLogger().setLevel(py_level)
            self.logger_levels["root"] = now
            affected.append("root")
        else:
            logging.getLogger(logger).setLevel(py_level)
            for name in sorted(logging.root.manager.loggerDict):
                obj = logging.root.manager.loggerDict[name]
                if name == logger or (name.startswith(logger + ".") and isinstance(obj, logging.Logger)):
                    if name != logger and isinstance(obj, logging.Logger):
                        obj.setLevel(py_level)
                    self.logger_levels[name] = now
                    affected.append(name)
        if query.get("scope", [""])[-1].lower() == "cluster":
            return Response(204)
        return Response(200, affected)


def _error(status: int, message: str) -> Response:
    return Response(status, {"error_code": status, "message": message})


class _Handler(BaseHTTPRequestHandler):
    api: ConnectRestApi
    server_version = "millstream-connect"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def _serve(self) -> None:
        length = self.headers.get("Content-Length")
        body = None
        if length:
            try:
                body = self.rfile.read(int(length))
            except ValueError:
                body = None
        host = self.headers.get("Host")
        resp = self.api.handle(self.command, self.path, body, f"http://{host}" if host else "")
        payload = b"" if resp.body is None else orjson.dumps(resp.body)
        self.send_response(resp.status)
        if resp.body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class RestServer:
    """The REST API on ``host:port`` (port 0 picks a free one; see :attr:`port` after :meth:`start`)."""

    def __init__(self, herder: Herder | None = None, host: str = "0.0.0.0", port: int = 8083) -> None:
        handler = type("Handler", (_Handler,), {})
        self._handler = handler
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.host = host
        self.port = self.httpd.server_address[1]
        self._thread: threading.Thread | None = None
        if herder is not None:
            self.attach(herder)

    def attach(self, herder: Herder) -> None:
        """Serve this herder (the server may be bound before the herder exists, to learn the port)."""
        self.api = ConnectRestApi(herder)
        self._handler.api = self.api  # type: ignore[attr-defined]

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="connect-rest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)


def listener_address(worker_props: dict[str, Any], rest_port: int | None) -> tuple[str, int]:
    """Host and port from ``--rest-port``, ``listeners=http://host:port`` or
    ``rest.host.name``/``rest.port``."""
    host = str(worker_props.get("rest.host.name") or "0.0.0.0")
    port = int(worker_props.get("rest.port", 8083))
    listeners = str(worker_props.get("listeners") or "").split(",")[0].strip()
    if listeners:
        m = re.match(r"^(https?)://([^:/]*)(?::(\d+))?/?$", listeners)
        if m is None:
            raise ConfigError(f"invalid listeners={listeners!r}", hint="use e.g. listeners=http://:8083")
        if m.group(1) == "https":
            raise ConfigError("https listeners are not supported", hint="use listeners=http://HOST:PORT")
        host = m.group(2) or "0.0.0.0"
        port = int(m.group(3) or 8083)
    if rest_port is not None:
        port = rest_port
    return host, port


__all__ = ["ConnectRestApi", "HttpError", "Response", "RestServer", "listener_address"]
