"""The console's view of Kafka-Connect-style workers, through Kafka Connect's own REST API (CONNECT.md).

A :class:`ConnectWorkers` holds one client per worker: the in-process worker when the console is mounted on
its REST port (:class:`~millstream.console.http_client.LocalClient` over its
:class:`~millstream.connect.rest.ConnectRestApi`), or remote workers by URL (``millstream console --connect
URL``), which may also be Apache Kafka Connect itself. Connector configs come masked as the worker serves
them. Every action (create, pause, resume, restart, delete, validate) is the worker's own REST call; its
error answers (``{"error_code", "message"}``) become :class:`~millstream.console.topics.ConsoleError` with the
worker's message, so the page shows e.g. the validation errors of a connector form inline.
"""

from __future__ import annotations

import builtins
from typing import Any
from urllib.parse import quote

from .http_client import HttpClient, LocalClient
from .topics import ConsoleError

Client = HttpClient | LocalClient


def _message(body: Any, status: int) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body)
    return f"HTTP {status}"


class ConnectWorkers:
    """The Connect workers the console shows (possibly none)."""

    def __init__(self, clients: list[Client] | None = None) -> None:
        self.clients = list(clients or [])

    def _call(self, client: Client, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)) -> Any:
        status, data = client.request(method, path, body)
        if status not in ok:
            raise ConsoleError(status if 400 <= status < 500 else 502, _message(data, status))
        return data

    def list(self) -> builtins.list[dict[str, Any]]:
        """Every connector of every worker: name, type, state, tasks (with traces), masked config, topics,
        ``worker`` (the worker's URL); an unreachable worker gives an ``errors`` entry instead."""
        out: list[dict[str, Any]] = []
        for c in self.clients:
            status, data = c.request("GET", "/connectors?expand=status&expand=info")
            if status != 200 or not isinstance(data, dict):
                out.append({"worker": c.base_url, "error": _message(data, status)})
                continue
            for name, entry in sorted(data.items()):
                st = entry.get("status", {})
                info = entry.get("info", {})
                ts, tdata = c.request("GET", f"/connectors/{quote(name, safe='')}/topics")
                topics = tdata.get(name, {}).get("topics", []) if ts == 200 and isinstance(tdata, dict) else []
                cfg = info.get("config", {})
                if not topics:  # not yet produced/consumed: the topics its config names
                    for key in ("topic", "kafka.topic", "topics"):
                        if cfg.get(key):
                            topics = [t.strip() for t in str(cfg[key]).split(",") if t.strip()]
                            break
                out.append(
                    {
                        "name": name,
                        "worker": c.base_url,
                        "type": info.get("type") or st.get("type"),
                        "class": cfg.get("connector.class", ""),
                        "state": st.get("connector", {}).get("state", "UNASSIGNED"),
                        "trace": st.get("connector", {}).get("trace"),
                        "tasks": st.get("tasks", []),
                        "config": cfg,
                        "topics": topics,
                    }
                )
        return out

    def _owner(self, name: str) -> Client:
        for c in self.clients:
            status, _ = c.request("GET", f"/connectors/{quote(name, safe='')}")
            if status == 200:
                return c
        raise ConsoleError(404, f"connector {name!r} not found", hint="the Connectors page lists the connectors")

    def _first(self) -> Client:
        if not self.clients:
            raise ConsoleError(
                400,
                "this console knows no Connect worker",
                hint="start it with --connect URL, or open the console on a Connect worker's REST port",
            )
        return self.clients[0]

    def detail(self, name: str) -> dict[str, Any]:
        """One connector's info, status (with task traces) and task configs."""
        c = self._owner(name)
        n = quote(name, safe="")
        return {
            "name": name,
            "worker": c.base_url,
            "info": self._call(c, "GET", f"/connectors/{n}"),
            "status": self._call(c, "GET", f"/connectors/{n}/status"),
            "tasks": self._call(c, "GET", f"/connectors/{n}/tasks"),
        }

    def action(self, name: str, what: str) -> dict[str, Any]:
        """``pause``, ``resume``, ``restart`` (connector and its tasks), ``stop`` or ``delete``; the new status."""
        c = self._owner(name)
        n = quote(name, safe="")
        if what in ("pause", "resume", "stop"):
            self._call(c, "PUT", f"/connectors/{n}/{what}", ok=(202, 204))
        elif what == "restart":
            self._call(c, "POST", f"/connectors/{n}/restart?includeTasks=true&onlyFailed=false", ok=(202, 204))
        elif what == "delete":
            self._call(c, "DELETE", f"/connectors/{n}", ok=(204,))
            return {"name": name, "deleted": True}
        else:
            raise ConsoleError(400, f"unknown connector action {what!r}", hint="pause, resume, restart, stop or delete")
        return {"name": name, "status": self._call(c, "GET", f"/connectors/{n}/status")}

    def create(self, body: Any) -> dict[str, Any]:
        """Create ``{"name", "config"}`` on the first worker; the worker's validation message on a bad config."""
        if not isinstance(body, dict) or not isinstance(body.get("config"), dict) or not body.get("name"):
            raise ConsoleError(400, 'send {"name": ..., "config": {"connector.class": ..., ...}}')
        return dict(self._call(self._first(), "POST", "/connectors", body, ok=(201,)))

    def plugins(self) -> builtins.list[dict[str, Any]]:
        """The connector plugins of the first worker."""
        if not self.clients:
            return []
        return list(self._call(self._first(), "GET", "/connector-plugins"))

    def plugin_config(self, plugin: str) -> builtins.list[dict[str, Any]]:
        """The ConfigDef of a plugin (one entry per key: name, type, required, default_value, documentation...)."""
        return list(self._call(self._first(), "GET", f"/connector-plugins/{quote(plugin, safe='')}/config"))

    def validate(self, plugin: str, config: Any) -> dict[str, Any]:
        """Kafka Connect's validation: per key, its errors (e.g. a wrong type) and the error count."""
        if not isinstance(config, dict):
            raise ConsoleError(400, "send the connector config as a JSON object")
        path = f"/connector-plugins/{quote(plugin, safe='')}/config/validate"
        return dict(self._call(self._first(), "PUT", path, config))


__all__ = ["ConnectWorkers"]
