"""The OpenAPI 3 document of the monitoring server (``GET /openapi.json``): Prometheus text at ``/metrics``, the
Flink-shaped REST API of :mod:`millstream.observe.rest` and Flink's job control endpoints
(:mod:`millstream.observe.control`). Errors are Flink's ``{"errors": [...]}``."""

from __future__ import annotations

from typing import Any

_OBJ: dict[str, Any] = {"type": "object"}
_METRIC_IDS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["id"],
        "properties": {"id": {"type": "string"}, "value": {"type": "string"}},
    },
}
_GET = {"name": "get", "in": "query", "required": False, "schema": {"type": "string"}}
_ERRORS = {
    "type": "object",
    "required": ["errors"],
    "properties": {"errors": {"type": "array", "items": {"type": "string"}}},
}

#: path → (summary, answer schema, query parameters)
PATHS: dict[str, tuple[str, Any, list[dict[str, Any]]]] = {
    "/": ("The endpoints of this server", {"type": "object", "required": ["endpoints"]}, []),
    "/metrics": ("All metrics as Prometheus text (Flink's Prometheus reporter names)", None, []),
    "/jobs": ("Job ids and states", {"type": "object", "required": ["jobs"]}, []),
    "/jobs/overview": ("Jobs with names, times and task counts", {"type": "object", "required": ["jobs"]}, []),
    "/jobs/{id}": ("A job's details, vertices and plan", {"type": "object", "required": ["jid", "state"]}, []),
    "/jobs/{id}/metrics": ("A job's metric ids, or values with ?get=a,b", _METRIC_IDS, [_GET]),
    "/jobs/{id}/vertices/{vid}/metrics": ("A vertex's metric ids, or values with ?get=a,b", _METRIC_IDS, [_GET]),
    "/jobs/{id}/vertices/{vid}/backpressure": (
        "A vertex's back pressure per subtask (ratio, idle and busy ratios, level ok/low/high)",
        {"type": "object", "required": ["status", "backpressureLevel", "subtasks"]},
        [],
    ),
    "/jobs/{id}/checkpoints": ("A job's checkpoint statistics", {"type": "object", "required": ["counts"]}, []),
    "/jobs/{id}/exceptions": (
        "A job's failures (each restart's and the final one), newest first, with tracebacks",
        {"type": "object", "required": ["root-exception", "exceptionHistory"]},
        [],
    ),
}


_TRIGGER = {"type": "object", "required": ["request-id"], "properties": {"request-id": {"type": "string"}}}
_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_BOOL = {"type": ["boolean", "null"]}
_MODE = {"name": "mode", "in": "query", "required": False, "schema": {"type": "string", "enum": ["cancel"]}}

#: (path, method) → (summary, success status, answer schema, request body schema, query parameters)
CONTROL: dict[tuple[str, str], tuple[str, int, Any, Any, list[dict[str, Any]]]] = {
    ("/jobs/{id}", "patch"): ("Cancel a job (mode=cancel, Flink's default)", 202, _OBJ, None, [_MODE]),
    ("/jobs/{id}/stop", "post"): (
        "Stop a job with a savepoint of its final checkpoint (drain is not supported)",
        202,
        _TRIGGER,
        {
            "type": "object",
            "properties": {"targetDirectory": _NULLABLE_STR, "drain": _NULLABLE_BOOL},
        },
        [],
    ),
    ("/jobs/{id}/savepoints", "post"): (
        "Trigger a savepoint, optionally cancelling the job after it",
        202,
        _TRIGGER,
        {
            "type": "object",
            "properties": {"target-directory": _NULLABLE_STR, "cancel-job": _NULLABLE_BOOL},
        },
        [],
    ),
    ("/jobs/{id}/savepoints/{triggerid}", "get"): (
        "The status of a savepoint trigger: IN_PROGRESS, or COMPLETED with a location or a failure-cause",
        200,
        {
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {
                    "type": "object",
                    "required": ["id"],
                    "properties": {"id": {"type": "string", "enum": ["IN_PROGRESS", "COMPLETED"]}},
                },
                "operation": {"type": ["object", "null"]},
            },
        },
        None,
        [],
    ),
}


def _operation(
    path: str,
    summary: str,
    schema: Any,
    query: list[dict[str, Any]],
    *,
    method: str = "get",
    status: int = 200,
    body: Any = None,
) -> dict[str, Any]:
    params = [
        {"name": seg[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
        for seg in path.split("/")
        if seg.startswith("{")
    ]
    content = (
        {"text/plain": {"schema": {"type": "string"}}} if schema is None else {"application/json": {"schema": schema}}
    )
    op: dict[str, Any] = {
        "summary": summary,
        "operationId": method + (path.replace("/", "_").replace("{", "").replace("}", "") or "_root"),
        "responses": {
            str(status): {"description": "OK" if status == 200 else "Accepted", "content": content},
            "default": {
                "description": "An error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}},
            },
        },
    }
    if params + query:
        op["parameters"] = params + query
    if body is not None:
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
    return op


def _paths() -> dict[str, dict[str, Any]]:
    paths: dict[str, dict[str, Any]] = {path: {"get": _operation(path, *spec)} for path, spec in PATHS.items()}
    for (path, method), (summary, status, schema, body, query) in CONTROL.items():
        op = _operation(path, summary, schema, query, method=method, status=status, body=body)
        paths.setdefault(path, {})[method] = op
    return paths


def flink_openapi(version: str) -> dict[str, Any]:
    """The document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "millstream monitoring REST API (Flink-shaped)",
            "version": version,
            "description": "Flink REST API shapes for jobs, vertices and checkpoints, and Flink's job control "
            'endpoints (cancel, stop with a savepoint, savepoints). Errors are {"errors": [...]}.',
        },
        "paths": _paths(),
        "components": {"schemas": {"Errors": _ERRORS}},
    }


__all__ = ["CONTROL", "PATHS", "flink_openapi"]
