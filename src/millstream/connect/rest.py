"""Kafka Connect's REST API (default port 8083) over a :class:`~millstream.connect.herder.Herder`.

:class:`ConnectRestApi` is the framework-free surface (an :class:`~millstream.http.api.HttpApi`): paths,
methods, status codes and JSON shapes follow Kafka Connect (see CONNECT.md); errors are
``{"error_code": <status>, "message": "..."}`` for every status, including 404, 405, 413, 415 and 501.
:class:`RestServer` serves it on the shared HTTP stack (:mod:`millstream.http`: Starlette on uvicorn) with
request size limits (1 MiB by default, ``rest.request.max.bytes``), read and idle timeouts, optional HTTPS
(``listeners=https://...`` with ``listeners.https.ssl.*``) and basic authentication, bound to 127.0.0.1
unless told otherwise. Handlers run on worker threads and only call herder methods that never run connector
code on the request thread, so a blocked connector cannot block the API. The API is described at
``GET /openapi.json``. Clients' quirks are accepted: trailing slashes, ``includeTasks=False`` (any case),
bodiless PUTs without a Content-Type, and a JSON body that is itself a JSON-encoded string (what
``kc validate-config`` sends).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import orjson

from ..core.errors import ConfigError, MillstreamError
from ..http.api import ApiRequest, ApiResponse, HttpError
from ..http.auth import BasicAuth
from ..http.limits import ServerLimits
from ..http.tls import TlsConfig
from .config import ConfigDef
from .errors import (
    AlreadyExistsError,
    BadRequestError,
    ConnectorConfigError,
    NotFoundError,
    PluginNotFoundError,
    RebalanceNeededError,
)
from .forwarding import forward_to_leader, is_forwarded
from .herder import Herder
from .plugins import REGISTRY
from .rest_openapi import connect_openapi

log = logging.getLogger("millstream.connect.rest")


#: a handler's result (status, JSON body or ``None``, extra headers)
Response = ApiResponse


def _bool_param(query: dict[str, list[str]], name: str) -> bool:
    values = query.get(name)
    if not values:
        return False
    v = values[-1].strip().lower()
    if v in ("true", "false", ""):
        return v == "true"
    raise HttpError(400, f"query parameter {name}={values[-1]!r} is not a boolean (use true or false)")


Handler = Callable[..., Response]


@dataclass(frozen=True)
class RestRoute:
    """One endpoint: method, OpenAPI path template (``/connectors/{name}``), its matcher and handler."""

    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler


class ConnectRestApi:
    """Routes requests to herder operations (framework-free, so it can be tested without sockets); an
    :class:`~millstream.http.api.HttpApi`."""

    blocking = True

    def __init__(self, herder: Herder) -> None:
        self.herder = herder
        self.logger_levels: dict[str, int] = {}
        self.routes: list[RestRoute] = []
        r = self._route
        r("GET", "/", self.root)
        r("GET", "/health", self.health)
        r("GET", "/connectors", self.list_connectors)
        r("POST", "/connectors", self.create_connector)
        r("GET", "/connectors/{name}", self.get_connector)
        r("DELETE", "/connectors/{name}", self.delete_connector)
        r("GET", "/connectors/{name}/config", self.get_config)
        r("PUT", "/connectors/{name}/config", self.put_config)
        r("PATCH", "/connectors/{name}/config", self.patch_config)
        r("GET", "/connectors/{name}/status", self.get_status)
        r("POST", "/connectors/{name}/restart", self.restart)
        r("PUT", "/connectors/{name}/pause", self.pause)
        r("PUT", "/connectors/{name}/resume", self.resume)
        r("PUT", "/connectors/{name}/stop", self.stop)
        r("GET", "/connectors/{name}/tasks", self.get_tasks)
        r("GET", "/connectors/{name}/tasks/{task}/status", self.task_status)
        r("POST", "/connectors/{name}/tasks/{task}/restart", self.restart_task)
        r("GET", "/connectors/{name}/topics", self.topics)
        r("PUT", "/connectors/{name}/topics/reset", self.reset_topics)
        r("GET", "/connectors/{name}/offsets", self.get_offsets)
        r("PATCH", "/connectors/{name}/offsets", self.patch_offsets)
        r("DELETE", "/connectors/{name}/offsets", self.delete_offsets)
        r("GET", "/connector-plugins", self.plugins)
        r("GET", "/connector-plugins/{plugin}/config", self.plugin_config)
        r("PUT", "/connector-plugins/{plugin}/config/validate", self.validate)
        r("GET", "/admin/loggers", self.loggers)
        r("GET", "/admin/loggers/{logger}", self.get_logger)
        r("PUT", "/admin/loggers/{logger}", self.set_logger)

    def _route(self, method: str, template: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template.rstrip("/"))
        self.routes.append(RestRoute(method, template, re.compile(regex + "/?$"), handler))

    # -- HttpApi --------------------------------------------------------------------------------------
    @staticmethod
    def _path(raw_path: str) -> str:
        return raw_path.rstrip("/") if raw_path not in ("", "/") else ""

    def allowed_methods(self, raw_path: str) -> list[str]:
        """The methods the path accepts (empty: no such endpoint)."""
        path = self._path(raw_path)
        return [r.method for r in self.routes if r.pattern.match(path)]

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        """Kafka Connect's error shape."""
        return {"error_code": status, "message": message}

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3 document of this API."""
        from .. import __version__

        return connect_openapi([(r.method, r.template) for r in self.routes], __version__)

    def handle(self, request: ApiRequest) -> Response:
        """Serve one request; never raises. ``request.base_url`` (``http://host:port``) makes ``Location``
        absolute."""
        resp = self._handle(request)
        location = resp.headers.get("Location", "")
        if request.base_url and location.startswith("/"):
            resp.headers["Location"] = request.base_url + location
        return resp

    def _handle(self, request: ApiRequest) -> Response:
        path = self._path(request.raw_path)
        method = request.method
        writes = method != "GET" and (path == "/connectors" or path.startswith("/connectors/"))
        if writes and not is_forwarded(request):  # distributed mode: writes are the leader's
            forwarded = forward_to_leader(request, self.herder.leader_url, self.herder.timeout + 5.0)
            if forwarded is not None:
                return forwarded
        allowed = []
        for route in self.routes:
            match = route.pattern.match(path)
            if match is None:
                continue
            if route.method != method:
                allowed.append(route.method)
                continue
            args = {k: unquote(v) for k, v in match.groupdict().items()}
            try:
                return route.handler(query=request.query, body=request.body, **args)
            except HttpError as exc:
                return _error(exc.status, exc.message)
            except NotFoundError as exc:
                return _error(404, exc.message)
            except (AlreadyExistsError, RebalanceNeededError) as exc:
                return _error(409, exc.message)
            except (BadRequestError, ConnectorConfigError, PluginNotFoundError, ConfigError) as exc:
                return _error(400, str(exc))
            except MillstreamError as exc:
                return _error(500, str(exc))
            except Exception as exc:  # a bug: report it, keep serving
                log.exception("%s %s failed", method, request.raw_path)
                return _error(500, f"{type(exc).__name__}: {exc}")
        if allowed:
            return _error(405, "HTTP 405 Method Not Allowed", {"Allow": ", ".join(allowed)})
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


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, {"error_code": status, "message": message}, headers or {})


#: Kafka's basic-auth REST extension; naming it in ``rest.extension.classes`` needs a users file
BASIC_AUTH_EXTENSION = "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension"


@dataclass(frozen=True)
class Listener:
    """Where the REST API listens: ``scheme`` (``http``/``https``), ``host``, ``port``."""

    scheme: str = "http"
    host: str = "127.0.0.1"
    port: int = 8083


class RestServer:
    """The REST API on ``host:port`` (port 0 picks a free one; see :attr:`port`), on 127.0.0.1 by default,
    within ``limits``, over HTTPS with ``tls``, asking for basic credentials with ``auth``. Binds in the
    constructor (:class:`OSError` when it cannot); :meth:`start` serves, :meth:`stop` stops. Requests that
    arrive before :meth:`attach` get 503."""

    def __init__(
        self,
        herder: Herder | None = None,
        host: str = "127.0.0.1",
        port: int = 8083,
        *,
        limits: ServerLimits | None = None,
        tls: TlsConfig | None = None,
        auth: BasicAuth | None = None,
    ) -> None:
        from ..http.app import ApiApp
        from ..http.server import HttpServer

        self._app_class = ApiApp
        self.limits = limits or ServerLimits()
        self.auth = auth
        self._app: Any = None
        self.server = HttpServer(self._asgi, host, port, self.limits, tls, name="connect-rest")
        self.host = host
        self.port = self.server.port
        if herder is not None:
            self.attach(herder)

    async def _asgi(self, scope: Any, receive: Any, send: Any) -> None:
        app = self._app
        if app is None:
            body = orjson.dumps({"error_code": 503, "message": "The worker is still starting up; retry shortly."})
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    def attach(self, herder: Herder) -> None:
        """Serve this herder (the server may be bound before the herder exists, to learn the port)."""
        self.api = ConnectRestApi(herder)
        served: Any = self.api
        try:  # the web console at /console/ (millstream.console, above this layer: imported when serving)
            from ..console import connect_console

            served = connect_console(self.api, herder)
        except ImportError:
            pass
        self._app = self._app_class(served, self.limits, self.auth).app

    @property
    def url(self) -> str:
        """``http(s)://host:port`` (loopback when bound to all interfaces)."""
        return self.server.url

    def start(self) -> None:
        """Serve from a background thread."""
        self.server.start()

    def stop(self) -> None:
        """Stop serving and free the port."""
        self.server.stop()

    @classmethod
    def from_worker_props(
        cls, worker_props: dict[str, Any], rest_port: int | None = None, rest_host: str | None = None
    ) -> RestServer:
        """Bind as the worker properties say (:func:`listener`, :meth:`ServerLimits.from_props`, HTTPS keys,
        basic auth); a taken port or bad settings are a :class:`ConfigError` naming the fix."""
        where = listener(worker_props, rest_port, rest_host)
        tls = TlsConfig.from_props(worker_props, "https") if where.scheme == "https" else None
        try:
            return cls(
                None,
                where.host,
                where.port,
                limits=ServerLimits.from_props(worker_props),
                tls=tls,
                auth=basic_auth(worker_props),
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {where.host}:{where.port} for the REST API: {exc.strerror}",
                hint="pick another port with --rest-port (0 = any free port) or listeners=",
            ) from None


def basic_auth(worker_props: dict[str, Any]) -> BasicAuth | None:
    """Basic authentication from ``rest.basic.auth.users.file`` (a file of ``user=password`` lines), or
    ``None``. Naming Kafka's ``BasicAuthSecurityRestExtension`` in ``rest.extension.classes`` without a users
    file is a :class:`ConfigError`; other extension classes are refused (Java classes cannot run here)."""
    users = str(worker_props.get("rest.basic.auth.users.file") or "").strip()
    extensions = [c.strip() for c in str(worker_props.get("rest.extension.classes") or "").split(",") if c.strip()]
    for ext in extensions:
        if ext.rsplit(".", 1)[-1] != BASIC_AUTH_EXTENSION.rsplit(".", 1)[-1]:
            raise ConfigError(
                f"rest.extension.classes: {ext} is not supported",
                hint=f"only {BASIC_AUTH_EXTENSION} (with rest.basic.auth.users.file) is",
            )
    if extensions and not users:
        raise ConfigError(
            "rest.extension.classes names the basic-auth extension but no users file is set",
            hint="set rest.basic.auth.users.file to a file of user=password lines",
        )
    return BasicAuth.from_file(users, realm="millstream-connect") if users else None


def listener(worker_props: dict[str, Any], rest_port: int | None = None, rest_host: str | None = None) -> Listener:
    """Where to listen, from (highest first) ``--rest-port``/``--rest-host``, the first of ``listeners``
    (``http://host:port`` or ``https://host:port``; an empty host means all interfaces, as in Kafka), and
    ``rest.host.name``/``rest.port``. Without any of them: ``http://127.0.0.1:8083``."""
    scheme = "http"
    host = str(worker_props.get("rest.host.name") or "127.0.0.1")
    port = int(worker_props.get("rest.port", 8083))
    entries = [e.strip() for e in str(worker_props.get("listeners") or "").split(",") if e.strip()]
    if entries:
        m = re.match(r"^(https?)://(\[[^\]]*\]|[^:/]*)(?::(\d+))?/?$", entries[0], re.IGNORECASE)
        if m is None:
            raise ConfigError(f"invalid listeners={entries[0]!r}", hint="use e.g. listeners=http://127.0.0.1:8083")
        scheme = m.group(1).lower()
        host = m.group(2).strip("[]") or "0.0.0.0"
        port = int(m.group(3) or 8083)
        if len(entries) > 1:
            log.warning("listeners: serving %s only; %s ignored", entries[0], ", ".join(entries[1:]))
    if rest_port is not None:
        port = rest_port
    if rest_host:
        host = rest_host
    return Listener(scheme, host, port)


def listener_address(worker_props: dict[str, Any], rest_port: int | None) -> tuple[str, int]:
    """Host and port of :func:`listener` (kept for callers that only need the address)."""
    where = listener(worker_props, rest_port)
    return where.host, where.port


__all__ = [
    "BASIC_AUTH_EXTENSION",
    "ConnectRestApi",
    "HttpError",
    "Listener",
    "Response",
    "RestServer",
    "basic_auth",
    "listener",
    "listener_address",
]
