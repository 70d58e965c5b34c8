"""The OpenAPI 3 document of Kafka Connect's REST API as millstream serves it (``GET /openapi.json``).

Built from the routes :class:`~millstream.connect.rest.ConnectRestApi` registers, with the request and answer
shapes of each (Kafka Connect's), so the document cannot list an endpoint the server lacks. Every operation
may also answer an error, ``{"error_code": <status>, "message": "..."}``.
"""

from __future__ import annotations

from typing import Any

_OBJ: dict[str, Any] = {"type": "object"}
_STRINGS: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
_STATE = {"type": "object", "required": ["state", "worker_id"], "properties": {"state": {"type": "string"}}}
_TASK_ID = {
    "type": "object",
    "required": ["connector", "task"],
    "properties": {"connector": {"type": "string"}, "task": {"type": "integer"}},
}
_INFO = {
    "type": "object",
    "required": ["name", "config", "tasks"],
    "properties": {
        "name": {"type": "string"},
        "config": _STRINGS,
        "tasks": {"type": "array", "items": _TASK_ID},
        "type": {"type": "string"},
    },
}
_STATUS = {
    "type": "object",
    "required": ["name", "connector", "tasks"],
    "properties": {
        "name": {"type": "string"},
        "connector": _STATE,
        "tasks": {"type": "array", "items": {**_STATE, "required": ["id", "state", "worker_id"]}},
        "type": {"type": "string"},
    },
}
_CREATE = {
    "type": "object",
    "required": ["config"],
    "properties": {
        "name": {"type": "string"},
        "config": _STRINGS,
        "initial_state": {"type": "string", "enum": ["RUNNING", "PAUSED", "STOPPED"]},
    },
}
_OFFSETS = {
    "type": "object",
    "required": ["offsets"],
    "properties": {
        "offsets": {
            "type": "array",
            "items": {"type": "object", "properties": {"partition": _OBJ, "offset": {"type": ["object", "null"]}}},
        }
    },
}
_MESSAGE = {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}
_ERROR = {
    "type": "object",
    "required": ["error_code", "message"],
    "properties": {"error_code": {"type": "integer"}, "message": {"type": "string"}},
}
_LIST = {"type": "array", "items": {"type": "string"}}
_BOOL_QUERY = {"type": "string", "enum": ["true", "false"]}

#: (method, path) → (summary, request body schema or None, {status: answer schema or None}, query params)
OPERATIONS: dict[tuple[str, str], tuple[str, Any, dict[int, Any], dict[str, Any]]] = {
    ("GET", "/"): ("Worker version and Kafka cluster id", None, {200: _OBJ}, {}),
    ("GET", "/health"): ("Worker health", None, {200: _OBJ, 503: _OBJ}, {}),
    ("GET", "/connectors"): (
        "Connector names, or with expand=status / expand=info a map of details",
        None,
        {200: {"type": ["array", "object"]}},
        {"expand": {"type": "string", "enum": ["status", "info"]}},
    ),
    ("POST", "/connectors"): ("Create a connector", _CREATE, {201: _INFO}, {}),
    ("GET", "/connectors/{name}"): ("A connector's config and tasks", None, {200: _INFO}, {}),
    ("DELETE", "/connectors/{name}"): ("Delete a connector", None, {204: None}, {}),
    ("GET", "/connectors/{name}/config"): ("A connector's config", None, {200: _STRINGS}, {}),
    ("PUT", "/connectors/{name}/config"): (
        "Create or replace a connector's config",
        _STRINGS,
        {200: _INFO, 201: _INFO},
        {},
    ),
    ("PATCH", "/connectors/{name}/config"): (
        "Change some keys of a connector's config (null removes)",
        _OBJ,
        {200: _INFO},
        {},
    ),
    ("GET", "/connectors/{name}/status"): ("A connector's and its tasks' states", None, {200: _STATUS}, {}),
    ("POST", "/connectors/{name}/restart"): (
        "Restart a connector (and its tasks with includeTasks=true)",
        None,
        {202: _STATUS, 204: None},
        {"includeTasks": _BOOL_QUERY, "onlyFailed": _BOOL_QUERY},
    ),
    ("PUT", "/connectors/{name}/pause"): ("Pause a connector and its tasks", None, {202: None}, {}),
    ("PUT", "/connectors/{name}/resume"): ("Resume a connector", None, {202: None}, {}),
    ("PUT", "/connectors/{name}/stop"): ("Stop a connector (tasks shut down, config kept)", None, {204: None}, {}),
    ("GET", "/connectors/{name}/tasks"): (
        "A connector's tasks and their configs",
        None,
        {200: {"type": "array", "items": {"type": "object", "properties": {"id": _TASK_ID, "config": _STRINGS}}}},
        {},
    ),
    ("GET", "/connectors/{name}/tasks/{task}/status"): ("A task's state", None, {200: _STATE}, {}),
    ("POST", "/connectors/{name}/tasks/{task}/restart"): ("Restart a task", None, {204: None}, {}),
    ("GET", "/connectors/{name}/topics"): ("Topics a connector has used", None, {200: _OBJ}, {}),
    ("PUT", "/connectors/{name}/topics/reset"): ("Forget a connector's active topics", None, {202: None}, {}),
    ("GET", "/connectors/{name}/offsets"): ("A connector's offsets", None, {200: _OFFSETS}, {}),
    ("PATCH", "/connectors/{name}/offsets"): ("Alter a stopped connector's offsets", _OFFSETS, {200: _MESSAGE}, {}),
    ("DELETE", "/connectors/{name}/offsets"): ("Reset a stopped connector's offsets", None, {200: _MESSAGE}, {}),
    ("GET", "/connector-plugins"): (
        "Installed plugins",
        None,
        {200: {"type": "array", "items": {"type": "object", "required": ["class", "type"]}}},
        {"connectorsOnly": _BOOL_QUERY},
    ),
    ("GET", "/connector-plugins/{plugin}/config"): (
        "A plugin's config definition",
        None,
        {200: {"type": "array", "items": _OBJ}},
        {},
    ),
    ("PUT", "/connector-plugins/{plugin}/config/validate"): (
        "Validate a connector config",
        _STRINGS,
        {200: {"type": "object", "required": ["name", "error_count", "configs"]}},
        {},
    ),
    ("GET", "/admin/loggers"): ("Loggers with a level set", None, {200: _OBJ}, {}),
    ("GET", "/admin/loggers/{logger}"): ("A logger's level", None, {200: _OBJ}, {}),
    ("PUT", "/admin/loggers/{logger}"): (
        "Set a logger's level",
        {"type": "object", "required": ["level"], "properties": {"level": {"type": "string"}}},
        {200: _LIST, 204: None},
        {"scope": {"type": "string", "enum": ["worker", "cluster"]}},
    ),
}


def _operation(method: str, path: str) -> dict[str, Any]:
    summary, request, answers, query = OPERATIONS.get((method, path), (f"{method} {path}", None, {200: _OBJ}, {}))
    params: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
        for n in (seg[1:-1] for seg in path.split("/") if seg.startswith("{"))
    ]
    params += [{"name": n, "in": "query", "required": False, "schema": schema} for n, schema in query.items()]
    responses: dict[str, Any] = {}
    for status, schema in answers.items():
        entry: dict[str, Any] = {"description": "OK" if status < 300 else "Not ready"}
        if schema is not None:
            entry["content"] = {"application/json": {"schema": schema}}
        responses[str(status)] = entry
    responses["default"] = {
        "description": "An error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    op: dict[str, Any] = {
        "summary": summary,
        "operationId": f"{method.lower()}{path.replace('/', '_').replace('{', '').replace('}', '')}",
        "responses": responses,
    }
    if params:
        op["parameters"] = params
    if request is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": request}}}
    return op


def connect_openapi(routes: list[tuple[str, str]], version: str) -> dict[str, Any]:
    """The document for ``routes`` (``(method, path template)`` pairs)."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path in routes:
        paths.setdefault(path, {})[method.lower()] = _operation(method, path)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kafka Connect REST API (millstream)",
            "version": version,
            "description": "Kafka Connect's REST API served by a millstream worker. "
            'Errors are {"error_code": <status>, "message": "..."}.',
        },
        "paths": paths,
        "components": {"schemas": {"Error": _ERROR}},
    }


__all__ = ["OPERATIONS", "connect_openapi"]
