"""A client of a job's Flink-shaped REST API (:mod:`millstream.observe.server`), for ``millstream jobs``.

Every call returns the parsed JSON answer or raises :class:`RestError` with a one-line message: the server's
``{"errors": [...]}`` for an error status, or "cannot reach ..." when nothing answers (the job has probably
ended or died; its registry entry says when it was last seen).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

import orjson

from ..core.errors import MillstreamError


class RestError(MillstreamError):
    """A REST call failed: ``status`` is the HTTP status (0 when the server could not be reached)."""

    def __init__(self, message: str, status: int = 0, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class JobRestClient:
    """Flink's job endpoints at ``base_url`` (``http://HOST:PORT``), each call within ``timeout_s``."""

    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request; the JSON answer (``{}`` for an empty one)."""
        data = None if body is None else orjson.dumps(body)
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                errors = orjson.loads(raw).get("errors") or [raw.decode(errors="replace")]
            except (orjson.JSONDecodeError, AttributeError):
                errors = [raw.decode(errors="replace") or exc.reason]
            raise RestError("; ".join(str(e) for e in errors), exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RestError(
                f"cannot reach the job's REST endpoint at {self.base_url}: {reason}",
                hint="the job may have ended or died; millstream jobs list --all shows when it was last seen",
            ) from None
        return orjson.loads(raw) if raw.strip() else {}

    def job(self, jid: str) -> dict[str, Any]:
        """``GET /jobs/{id}``."""
        return dict(self.call("GET", f"/jobs/{jid}"))

    def checkpoints(self, jid: str) -> dict[str, Any]:
        """``GET /jobs/{id}/checkpoints``."""
        return dict(self.call("GET", f"/jobs/{jid}/checkpoints"))

    def exceptions(self, jid: str) -> dict[str, Any]:
        """``GET /jobs/{id}/exceptions``."""
        return dict(self.call("GET", f"/jobs/{jid}/exceptions"))

    def vertex_metrics(self, jid: str, vid: str, names: list[str]) -> dict[str, str]:
        """Values of ``names`` per ``<subtask>.<name>`` id (missing ones left out)."""
        answer = self.call("GET", f"/jobs/{jid}/vertices/{vid}/metrics?get={','.join(names)}")
        return {m["id"]: m["value"] for m in answer if "value" in m}

    def cancel(self, jid: str) -> None:
        """``PATCH /jobs/{id}?mode=cancel``."""
        self.call("PATCH", f"/jobs/{jid}?mode=cancel")

    def trigger_savepoint(self, jid: str, target_directory: str | None, cancel_job: bool = False) -> str:
        """``POST /jobs/{id}/savepoints``; the trigger id."""
        body = {"target-directory": target_directory, "cancel-job": cancel_job}
        return str(self.call("POST", f"/jobs/{jid}/savepoints", body)["request-id"])

    def stop(self, jid: str, target_directory: str | None, drain: bool = False) -> str:
        """``POST /jobs/{id}/stop``; the trigger id."""
        body = {"targetDirectory": target_directory, "drain": drain}
        return str(self.call("POST", f"/jobs/{jid}/stop", body)["request-id"])

    def wait_savepoint(self, jid: str, trigger_id: str, timeout_s: float) -> str:
        """Poll ``GET /jobs/{id}/savepoints/{triggerid}`` until it completes; the savepoint's location, or
        :class:`RestError` with the failure cause (or a timeout)."""
        deadline = time.monotonic() + timeout_s
        while True:
            answer = self.call("GET", f"/jobs/{jid}/savepoints/{trigger_id}")
            if answer["status"]["id"] == "COMPLETED":
                op = answer.get("operation") or {}
                if "location" in op:
                    return str(op["location"])
                cause = op.get("failure-cause") or {}
                raise RestError(f"the savepoint failed: {cause.get('stack-trace') or cause.get('class')}")
            if time.monotonic() > deadline:
                raise RestError(
                    f"the savepoint of job {jid} did not complete within {timeout_s:g} s (it may still complete)",
                    hint=f"GET {self.base_url}/jobs/{jid}/savepoints/{trigger_id} shows its status",
                )
            time.sleep(0.2)


__all__ = ["JobRestClient", "RestError"]
