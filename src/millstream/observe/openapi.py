"""The OpenAPI 3 document of the monitoring server (``GET /openapi.json``): Prometheus text at ``/metrics`` and
the Flink-shaped REST API of :mod:`millstream.observe.rest`. Errors are Flink's ``{"errors": [...]}``."""

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
}


def _operation(path: str, summary: str, schema: Any, query: list[dict[str, Any]]) -> dict[str, Any]:
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
        "operationId": "get" + (path.replace("/", "_").replace("{", "").replace("}", "") or "_root"),
        "responses": {
            "200": {"description": "OK", "content": content},
            "default": {
                "description": "An error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}},
            },
        },
    }
    if params + query:
        op["parameters"] = params + query
    return op


def flink_openapi(version: str) -> dict[str, Any]:
    """The document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "millstream monitoring REST API (Flink-shaped)",
            "version": version,
            "description": 'Flink REST API shapes for jobs, vertices and checkpoints. Errors are {"errors": [...]}.',
        },
        "paths": {path: {"get": _operation(path, *spec)} for path, spec in PATHS.items()},
        "components": {"schemas": {"Errors": _ERRORS}},
    }


__all__ = ["PATHS", "flink_openapi"]
