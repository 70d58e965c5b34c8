"""The herder: the worker's control plane. It owns the set of connectors, their target states, task configs
and statuses, and carries out create/update/delete/pause/resume/stop/restart and offset changes.

Every public method returns quickly and never runs connector or task code on the caller's thread (the REST
API calls these from request threads): it updates the herder's state under a lock, persists it, and hands
the work to the connector's and tasks' own threads. Calls that must run connector code and wait for it
(``validate``, ``alter_offsets``) run it on a helper thread with a timeout.

With ``persist_configs=True`` (``millstream connect worker``) connector configs and target states are stored
in the config topic and reloaded by :meth:`Herder.start`, so a restarted worker resumes its connectors, which
resume from their stored offsets.

On ``kafka://`` an exactly-once source task (``exactly.once.source.support=enabled``) commits each batch with
the transactional id ``<group.id>-<connector>-<task>``, as a distributed Kafka Connect worker does, and claims
it when it starts (:mod:`.fencing`).
"""

from __future__ import annotations

import concurrent.futures
import logging
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.record import TopicPartition
from ..log import open_log
from ..log.base import Log
from .api import Connector, SinkConnector
from .config import mask_secrets
from .connector_config import config_errors, validate_connector_config
from .errors import (
    AlreadyExistsError,
    BadRequestError,
    ConnectError,
    ConnectorConfigError,
    NotFoundError,
)
from .fencing import KafkaTaskFencing, is_kafka
from .path_policy import PathPolicy
from .plugins import REGISTRY
from .process_task import ProcessTask
from .storage import ConfigStore, OffsetStore, StatusStore, partition_key
from .worker import WorkerConnector, WorkerContext, WorkerSinkTask, WorkerSourceTask
from .worker_config import WorkerConfig

log = logging.getLogger("millstream.connect.herder")

TARGET_STATES = ("STARTED", "PAUSED", "STOPPED")
INITIAL_STATES = {"RUNNING": "STARTED", "STARTED": "STARTED", "PAUSED": "PAUSED", "STOPPED": "STOPPED"}


@dataclass
class _Status:
    state: str = "UNASSIGNED"
    trace: str | None = None


@dataclass
class _Runtime:
    name: str
    config: dict[str, str]
    cls: type[Connector]
    target: str = "STARTED"
    wc: WorkerConnector | None = None
    task_configs: list[dict[str, str]] = field(default_factory=list)
    tasks: dict[int, Any] = field(default_factory=dict)  # WorkerTask or ProcessTask
    status: _Status = field(default_factory=_Status)
    task_status: dict[int, _Status] = field(default_factory=dict)
    restarts: dict[Any, int] = field(default_factory=dict)
    last_start: dict[Any, float] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return self.cls.connector_type()


def resolve_log_url(config: WorkerConfig, override: str | None = None) -> str | None:
    """The log URL: ``--log`` > worker ``log.url`` > ``$MILLSTREAM_LOG`` > ``bootstrap.servers`` (kafka://) >
    default."""
    import os

    if override:
        return override
    if config.get("log.url"):
        return str(config.get("log.url"))
    if os.environ.get("MILLSTREAM_LOG"):
        return os.environ["MILLSTREAM_LOG"]
    servers = config.get("bootstrap.servers")
    if servers:
        return "kafka://" + ",".join(servers)
    return None


class Herder:
    """Runs connectors on one worker (see the module docstring)."""

    def __init__(
        self,
        config: WorkerConfig | Mapping[str, Any],
        log_: Log | str | None = None,
        *,
        persist_configs: bool = False,
        worker_id: str | None = None,
        operation_timeout_s: float = 30.0,
    ) -> None:
        self.config = config if isinstance(config, WorkerConfig) else WorkerConfig(config)
        for path in self.config.get("plugin.path"):
            import sys

            if path and path not in sys.path:
                sys.path.append(path)
        self.log = log_ if isinstance(log_, Log) else open_log(log_ or resolve_log_url(self.config))
        self._owns_log = not isinstance(log_, Log)
        self.persist_configs = persist_configs
        self.worker_id = worker_id or f"{socket.gethostname()}:{self.config.get('rest.port')}"
        self.timeout = operation_timeout_s
        self.offsets = OffsetStore(
            self.log, self.config.get("offset.storage.topic"), self.config.get("offset.storage.partitions")
        )
        self.status_store = StatusStore(
            self.log, self.config.get("status.storage.topic"), self.config.get("status.storage.partitions")
        )
        self.config_store = ConfigStore(self.log, self.config.get("config.storage.topic")) if persist_configs else None
        self.path_policy = PathPolicy(self.config.get("allowed.paths"))
        self.ctx = WorkerContext(self.log, self.config, self.offsets, self.status_store, self.worker_id)
        if is_kafka(self.log):
            # exactly-once source tasks commit under Kafka Connect's transactional id of their task, claimed when
            # the task starts: that fences an earlier instance and aborts a transaction it left open (a worker
            # killed inside a commit), which would hold back every read_committed reader of its topics
            self.ctx.fencing = KafkaTaskFencing(self.log, str(self.config.get("group.id")), self.worker_id)
        self._lock = threading.RLock()
        self._connectors: dict[str, _Runtime] = {}
        self._retiring: dict[tuple[str, int], Any] = {}
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="herder-op")
        self.ready = False
        self._stopped = False
        self.cluster_id = f"millstream-{self.config.get('group.id')}"

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Open the internal topics; in worker mode, recreate the stored connectors in their target states."""
        self.offsets.start()
        self.status_store.start()
        if self.config_store is not None:
            self.config_store.start()
            for name in list(self.config_store.order):
                cfg = self.config_store.connectors.get(name)
                if cfg is None:
                    continue
                target = self.config_store.target_states.get(name, "STARTED")
                try:
                    with self._lock:
                        self._create(name, cfg, target, persist=False)
                        rt = self._connectors[name]
                        stored = self.config_store.stored_task_configs(name)
                        if target == "PAUSED" and stored and not rt.tasks:
                            # a paused connector is not started, but its tasks exist (paused), as in Kafka
                            rt.task_configs = stored
                            for i, c in enumerate(stored):
                                self._start_task(rt, i, c, None)
                except ConnectError as exc:
                    log.error("cannot restore connector %s: %s", name, exc)
        self.ready = True

    def stop(self) -> None:
        """Stop every connector and task (waiting up to ``task.shutdown.graceful.timeout.ms``) and close the
        log."""
        if self._stopped:
            return
        self._stopped = True
        self.ready = False
        with self._lock:
            runtimes = list(self._connectors.values())
        threads: list[threading.Thread] = []
        for rt in runtimes:
            for task in rt.tasks.values():
                task.stop()
                threads.append(task)
            if rt.wc is not None:
                rt.wc.submit("shutdown")
                threads.append(rt.wc)
        deadline = time.monotonic() + float(self.config.get("task.shutdown.graceful.timeout.ms")) / 1000.0
        for t in threads:
            if t.ident is None:  # created but not started yet (a connector just made): stop() already told it
                continue
            t.join(max(0.0, deadline - time.monotonic()))
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._owns_log:
            self.log.close()

    def __enter__(self) -> Herder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def leader_url(self) -> str | None:
        """The REST URL writes must be forwarded to (distributed mode), or ``None``: this worker carries
        them out (always, for a standalone worker)."""
        return None

    # -- queries --------------------------------------------------------------------------------------
    def _get(self, name: str) -> _Runtime:
        rt = self._connectors.get(name)
        if rt is None:
            raise NotFoundError(f"Connector {name} not found")
        return rt

    def connectors(self) -> list[str]:
        with self._lock:
            return sorted(self._connectors)

    def connector_info(self, name: str) -> dict[str, Any]:
        """Kafka's ConnectorInfo: name, config (secrets masked), tasks, type."""
        with self._lock:
            rt = self._get(name)
            return {
                "name": name,
                "config": self._masked(rt),
                "tasks": [{"connector": name, "task": i} for i in range(len(rt.task_configs))],
                "type": rt.type,
            }

    def _masked(self, rt: _Runtime) -> dict[str, Any]:
        try:
            definition = rt.cls().config()
        except Exception:
            definition = None
        return mask_secrets(rt.config, definition)

    def connector_config(self, name: str) -> dict[str, Any]:
        with self._lock:
            return self._masked(self._get(name))

    def raw_config(self, name: str) -> dict[str, str]:
        """The unmasked config (for programmatic use, never served over REST)."""
        with self._lock:
            return dict(self._get(name).config)

    def connector_status(self, name: str) -> dict[str, Any]:
        with self._lock:
            rt = self._get(name)
            conn: dict[str, Any] = {"state": rt.status.state, "worker_id": self.worker_id}
            if rt.status.trace:
                conn["trace"] = rt.status.trace
            tasks = []
            if rt.target != "STOPPED":
                for i in range(len(rt.task_configs)):
                    tasks.append(self._task_json(rt, i))
            return {"name": name, "connector": conn, "tasks": tasks, "type": rt.type}

    def _task_json(self, rt: _Runtime, i: int) -> dict[str, Any]:
        st = rt.task_status.get(i, _Status())
        out: dict[str, Any] = {"id": i, "state": st.state, "worker_id": self.worker_id}
        if st.trace:
            out["trace"] = st.trace
        return out

    def task_status(self, name: str, task: int) -> dict[str, Any]:
        with self._lock:
            rt = self._get(name)
            if rt.target == "STOPPED" or not 0 <= task < len(rt.task_configs):
                raise NotFoundError(f"No status found for task {name}-{task}")
            return self._task_json(rt, task)

    def tasks(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            rt = self._get(name)
            return [
                {"id": {"connector": name, "task": i}, "config": mask_secrets(c)} for i, c in enumerate(rt.task_configs)
            ]

    def connector_type(self, name: str) -> str:
        with self._lock:
            return self._get(name).type

    # -- validation -----------------------------------------------------------------------------------
    def _run_with_timeout(self, fn: Any, *args: Any, what: str) -> Any:
        future = self._pool.submit(fn, *args)
        try:
            return future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            raise ConnectError(
                f"{what} did not finish within {self.timeout:.0f}s (the connector is blocking); "
                "the request was abandoned"
            ) from None

    def validate(self, config: Mapping[str, Any], connector_cls: type | None = None) -> dict[str, Any]:
        """Kafka's ConfigInfos for a config (runs the connector's ``validate`` on a helper thread)."""
        return self._run_with_timeout(validate_connector_config, dict(config), connector_cls, what="validation")

    def _validated(self, name: str, config: Mapping[str, Any]) -> tuple[dict[str, str], type[Connector]]:
        cfg = {str(k): _as_string(v) for k, v in config.items() if v is not None}
        cfg["name"] = name
        infos = self.validate(cfg)
        errors = config_errors(infos)
        if errors:
            raise ConnectorConfigError(errors, connector_class=str(cfg.get("connector.class")))
        cls = REGISTRY.load(cfg["connector.class"], "connector")
        self.path_policy.check(cls, cfg)
        if self._task_mode(cfg) == "process" and self.log.url.startswith("memory://"):
            raise ConnectorConfigError(
                {
                    "task.execution.mode": [
                        "task.execution.mode=process needs a log other processes can open (file:// or "
                        f"kafka://); {self.log.url} is private to this process"
                    ]
                },
                connector_class=str(cfg.get("connector.class")),
            )
        return cfg, cls

    def _task_mode(self, cfg: Mapping[str, Any]) -> str:
        return str(cfg.get("task.execution.mode") or self.config.get("task.execution.mode"))

    # -- create / update / delete ---------------------------------------------------------------------
    def create_connector(
        self, name: str, config: Mapping[str, Any], initial_state: str | None = None
    ) -> dict[str, Any]:
        """Create and start a connector; raise AlreadyExistsError / ConnectorConfigError /
        PluginNotFoundError."""
        _check_name(name)
        target = INITIAL_STATES.get((initial_state or "RUNNING").upper())
        if target is None:
            raise BadRequestError(f"invalid initial_state {initial_state!r}", hint="use RUNNING, PAUSED or STOPPED")
        with self._lock:
            if name in self._connectors:
                raise AlreadyExistsError(f"Connector {name} already exists")
        cfg, cls = self._validated(name, config)
        with self._lock:
            if name in self._connectors:
                raise AlreadyExistsError(f"Connector {name} already exists")
            self._create(name, cfg, target, persist=True, cls=cls)
        return self.connector_info(name)

    def put_connector_config(self, name: str, config: Mapping[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Create or replace a connector's config; returns ``(created, info)``. Tasks restart with the new
        config. A value sent back exactly as this API showed it masked (``[hidden]``, or a URL with its
        password hidden) keeps the stored secret, so a GET-edit-PUT round trip does not overwrite it."""
        _check_name(name)
        with self._lock:
            existing = self._connectors.get(name)
        if existing is not None:
            config = _unmask(config, existing.config)
        cfg, cls = self._validated(name, config)
        with self._lock:
            rt = self._connectors.get(name)
            if rt is None:
                self._create(name, cfg, "STARTED", persist=True, cls=cls)
                created = True
            else:
                created = False
                if rt.config != cfg:
                    target = rt.target
                    self._destroy(rt)
                    self._create(name, cfg, target, persist=True, cls=cls)
        return created, self.connector_info(name)

    def patch_connector_config(self, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``patch`` into the config (``None`` values delete keys)."""
        with self._lock:
            current = dict(self._get(name).config)
        for k, v in patch.items():
            if v is None:
                current.pop(k, None)
            else:
                current[k] = _as_string(v)
        if "name" in patch and patch["name"] is not None and patch["name"] != name:
            raise BadRequestError("Connector name configuration must match the connector name in the URL")
        self.put_connector_config(name, current)
        return self.connector_info(name)

    def delete_connector(self, name: str) -> None:
        """Stop and remove a connector (its offsets stay). Returns without waiting for its threads."""
        with self._lock:
            rt = self._get(name)
            del self._connectors[name]
            self._destroy(rt)
        if self.config_store is not None:
            self.config_store.remove_connector(name)
        self.status_store.remove(name, len(rt.task_configs))

    def _create(self, name: str, cfg: dict[str, str], target: str, *, persist: bool, cls: Any = None) -> None:
        cls = cls or REGISTRY.load(cfg["connector.class"], "connector")
        rt = _Runtime(name, dict(cfg), cls, target)
        self._connectors[name] = rt
        if persist and self.config_store is not None:
            self.config_store.put_connector(name, cfg, target)
        self._start_connector(rt)

    def _start_connector(self, rt: _Runtime) -> None:
        holder: list[WorkerConnector] = []

        def listener(state: str, trace: str | None) -> None:
            self._on_connector_status(rt, holder[0], state, trace)

        def on_task_configs(configs: list[dict[str, str]]) -> None:
            self._on_task_configs(rt, holder[0], configs)

        wc = WorkerConnector(rt.name, rt.cls, rt.config, listener, on_task_configs)
        holder.append(wc)
        rt.wc = wc
        rt.last_start["connector"] = time.monotonic()
        wc.start()
        wc.submit({"STARTED": "start", "PAUSED": "pause", "STOPPED": "stop"}[rt.target])

    def _retire(self, rt: _Runtime) -> None:
        """Stop a runtime's tasks in the background, remembering them so that a task started later under the
        same
        connector name and id waits for its predecessor to finish (no two consumers/readers overlap)."""
        for i, t in rt.tasks.items():
            t.stop()
            self._retiring[(rt.name, i)] = t
        rt.tasks = {}

    def _destroy(self, rt: _Runtime) -> None:
        """Stop a runtime's connector and tasks in the background (caller holds the lock)."""
        self._retire(rt)
        if rt.wc is not None:
            rt.wc.submit("shutdown")
            rt.wc = None

    # -- status callbacks (from connector/task threads) -----------------------------------------------
    def _on_connector_status(self, rt: _Runtime, wc: WorkerConnector, state: str, trace: str | None) -> None:
        with self._lock:
            if rt.wc is not wc:
                return  # a replaced/removed connector instance
            rt.status = _Status(state, trace)
        self._write_status(rt.name, None, state, trace)
        if state == "FAILED":
            self._maybe_auto_restart(rt, None)

    def _on_task_status(self, rt: _Runtime, task: Any, state: str, trace: str | None) -> None:
        task_id: int = task.task_id
        with self._lock:
            if rt.tasks.get(task_id) is not task:
                return
            rt.task_status[task_id] = _Status(state, trace)
        self._write_status(rt.name, task_id, state, trace)
        if state == "FAILED":
            self._maybe_auto_restart(rt, task_id)

    def _write_status(self, name: str, task: int | None, state: str, trace: str | None) -> None:
        try:
            if task is None:
                self.status_store.put_connector(name, state, trace, self.worker_id)
            else:
                self.status_store.put_task(name, task, state, trace, self.worker_id)
        except Exception:
            log.exception("could not write status of %s", name)

    def _on_task_configs(self, rt: _Runtime, wc: WorkerConnector, configs: list[dict[str, str]]) -> None:
        with self._lock:
            if rt.wc is not wc or self._connectors.get(rt.name) is not rt or rt.target == "STOPPED":
                return
            alive = all(i in rt.tasks and rt.tasks[i].is_alive() for i in range(len(configs)))
            if configs == rt.task_configs and alive and len(rt.tasks) == len(configs):
                for t in rt.tasks.values():
                    t.set_paused(rt.target == "PAUSED")
                return
            old = rt.tasks
            rt.tasks = {}
            rt.task_configs = configs
            for t in old.values():
                t.stop()
            for i, c in enumerate(configs):
                self._start_task(rt, i, c, old.get(i))
            for i, t in old.items():
                if i >= len(configs):
                    self._retiring[(rt.name, i)] = t
        if self.config_store is not None:
            self.config_store.put_task_configs(rt.name, configs)

    def _start_task(
        self, rt: _Runtime, i: int, task_config: dict[str, str], predecessor: threading.Thread | None
    ) -> None:
        """Start task ``i`` (caller holds the lock); it waits for ``predecessor`` to finish first."""
        retired = self._retiring.pop((rt.name, i), None)
        if predecessor is None and retired is not None and retired.is_alive():
            predecessor = retired
        task_cls = rt.cls().task_class()
        kind = WorkerSinkTask if issubclass(rt.cls, SinkConnector) else WorkerSourceTask
        holder: list[Any] = []

        def listener(state: str, trace: str | None) -> None:
            self._on_task_status(rt, holder[0], state, trace)

        t: Any
        if self._task_mode(rt.config) == "process":
            t = ProcessTask(
                self.ctx,
                rt.name,
                i,
                task_cls,
                task_config,
                rt.config,
                listener,
                sink=kind is WorkerSinkTask,
                paused=rt.target == "PAUSED",
                predecessor=predecessor,
            )
        else:
            t = kind(
                self.ctx,
                rt.name,
                i,
                task_cls,
                task_config,
                rt.config,
                listener,
                paused=rt.target == "PAUSED",
                predecessor=predecessor,
            )
        holder.append(t)
        rt.tasks[i] = t
        rt.task_status[i] = _Status("UNASSIGNED")
        rt.last_start[i] = time.monotonic()
        t.start()

    # -- target states --------------------------------------------------------------------------------
    def _set_target(self, name: str, target: str) -> None:
        with self._lock:
            rt = self._get(name)
            previous = rt.target
            if previous == target:
                return
            rt.target = target
            if self.config_store is not None:
                self.config_store.put_target_state(name, target)
            if target == "PAUSED":
                for t in rt.tasks.values():
                    t.set_paused(True)
                if rt.wc is not None:
                    rt.wc.submit("pause")
            elif target == "STOPPED":
                self._retire(rt)
                rt.task_configs = []
                rt.task_status = {}
                if rt.wc is not None:
                    rt.wc.submit("stop")
            else:
                for t in rt.tasks.values():
                    t.set_paused(False)
                if rt.wc is not None:
                    rt.wc.submit("start")

    def pause_connector(self, name: str) -> None:
        """Pause the connector and its tasks (idempotent)."""
        self._set_target(name, "PAUSED")

    def resume_connector(self, name: str) -> None:
        """Resume a paused or stopped connector (idempotent)."""
        self._set_target(name, "STARTED")

    def stop_connector(self, name: str) -> None:
        """Stop the connector and shut its tasks down; its config and offsets stay (idempotent)."""
        self._set_target(name, "STOPPED")

    # -- restarts -------------------------------------------------------------------------------------
    def restart_connector(
        self, name: str, include_tasks: bool = False, only_failed: bool = False
    ) -> dict[str, Any] | None:
        """Restart the connector (and with ``include_tasks`` its tasks; ``only_failed`` limits it to FAILED
        ones). Returns ``None`` for the plain restart, else the status with restarted items RESTARTING."""
        with self._lock:
            rt = self._get(name)
            restart_conn = not only_failed or rt.status.state == "FAILED"
            task_ids = []
            if include_tasks and rt.target != "STOPPED":
                task_ids = [
                    i
                    for i in range(len(rt.task_configs))
                    if not only_failed or rt.task_status.get(i, _Status()).state == "FAILED"
                ]
            if restart_conn:
                rt.status = _Status("RESTARTING")
                if rt.wc is not None:
                    rt.wc.submit("restart")
                else:
                    self._start_connector(rt)
            for i in task_ids:
                self._restart_task_locked(rt, i)
                rt.task_status[i] = _Status("RESTARTING")
            if not include_tasks and not only_failed:
                return None
            # Kafka answers with the restart plan: restarted items show RESTARTING
            status = self.connector_status(name)
            if restart_conn:
                status["connector"]["state"] = "RESTARTING"
            for t in status["tasks"]:
                if t["id"] in task_ids:
                    t["state"] = "RESTARTING"
                    t.pop("trace", None)
            return status

    def _restart_task_locked(self, rt: _Runtime, i: int) -> None:
        old = rt.tasks.get(i)
        if old is not None:
            old.stop()
        if i < len(rt.task_configs):
            self._start_task(rt, i, rt.task_configs[i], old)

    def restart_task(self, name: str, task: int) -> None:
        """Restart one task with its current config."""
        with self._lock:
            rt = self._get(name)
            if rt.target == "STOPPED" or not 0 <= task < len(rt.task_configs):
                raise NotFoundError(f"Task {name}-{task} not found")
            self._restart_task_locked(rt, task)

    def _maybe_auto_restart(self, rt: _Runtime, task: int | None) -> None:
        cfg = rt.config
        if str(cfg.get("errors.restart.enable", "false")).lower() != "true" or self._stopped:
            return
        initial = int(cfg.get("errors.restart.backoff.initial.ms", 1000))
        maximum = int(cfg.get("errors.restart.backoff.max.ms", 60000))
        max_attempts = int(cfg.get("errors.restart.max.attempts", -1))
        key: Any = "connector" if task is None else task
        with self._lock:
            ran_for = time.monotonic() - rt.last_start.get(key, 0.0)
            if ran_for * 1000 > max(maximum, initial) * 2:
                rt.restarts[key] = 0  # it ran fine for a while: start the backoff over
            attempt = rt.restarts.get(key, 0) + 1
            if max_attempts >= 0 and attempt > max_attempts:
                log.error("%s %s: giving up after %d automatic restarts", rt.name, key, max_attempts)
                return
            rt.restarts[key] = attempt
        delay = min(initial * 2 ** (attempt - 1), maximum) / 1000.0
        log.warning("%s %s failed; automatic restart %d in %.1fs", rt.name, key, attempt, delay)

        def fire() -> None:
            with self._lock:
                if self._stopped or self._connectors.get(rt.name) is not rt or rt.target == "STOPPED":
                    return
                if task is None:
                    if rt.status.state == "FAILED" and rt.wc is not None:
                        rt.status = _Status("RESTARTING")
                        rt.last_start["connector"] = time.monotonic()
                        rt.wc.submit("restart")
                elif rt.task_status.get(task, _Status()).state == "FAILED":
                    rt.task_status[task] = _Status("RESTARTING")
                    self._restart_task_locked(rt, task)

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        timer.start()

    # -- topics ---------------------------------------------------------------------------------------
    def active_topics(self, name: str) -> list[str]:
        with self._lock:
            self._get(name)
        self.status_store.refresh()
        return self.status_store.active_topics(name)

    def reset_active_topics(self, name: str) -> None:
        with self._lock:
            self._get(name)
        self.status_store.reset_topics(name)

    # -- offsets --------------------------------------------------------------------------------------
    def connector_offsets(self, name: str) -> list[dict[str, Any]]:
        """``[{"partition": …, "offset": …}]`` — source offsets, or the sink's consumer-group offsets."""
        with self._lock:
            rt = self._get(name)
        if rt.type == "sink":
            committed = self.log.committed_offsets(f"connect-{name}")
            return [
                {
                    "partition": {"kafka_topic": tp.topic, "kafka_partition": tp.partition},
                    "offset": {"kafka_offset": off},
                }
                for tp, off in sorted(committed.items())
            ]
        self.offsets.refresh()
        return [{"partition": p, "offset": o} for p, o in self.offsets.all(name)]

    def _require_stopped(self, name: str) -> _Runtime:
        with self._lock:
            rt = self._get(name)
            if rt.target != "STOPPED" or any(t.is_alive() for t in rt.tasks.values()):
                raise BadRequestError(
                    "Connectors must be in the STOPPED state before their offsets can be modified. This "
                    "can be done "
                    f"for the specified connector by issuing a 'PUT' request to the "
                    f"'/connectors/{name}/stop' endpoint"
                )
            return rt

    def alter_offsets(self, name: str, entries: Any) -> str:
        """Set offsets (``None`` offset = remove) of a STOPPED connector; returns Kafka's message."""
        rt = self._require_stopped(name)
        if not isinstance(entries, list) or not entries:
            raise BadRequestError('the request body must be {"offsets": [{"partition": {...}, "offset": {...}}, ...]}')
        for e in entries:
            if not isinstance(e, dict) or not isinstance(e.get("partition"), dict):
                raise BadRequestError(f"every entry needs a 'partition' object, got {e!r}")
            if e.get("offset") is not None and not isinstance(e.get("offset"), dict):
                raise BadRequestError(f"an entry's 'offset' must be an object or null, got {e.get('offset')!r}")
        connector: Any = rt.cls()
        if rt.type == "sink":
            changes: dict[TopicPartition, int | None] = {}
            for e in entries:
                p = e["partition"]
                topic, part = p.get("kafka_topic"), p.get("kafka_partition")
                if not isinstance(topic, str) or not isinstance(part, int) or isinstance(part, bool):
                    raise BadRequestError(
                        "sink connector offsets need partitions like "
                        '{"kafka_topic": "<topic>", "kafka_partition": <int>}, got ' + repr(p)
                    )
                off = e.get("offset")
                if off is None:
                    changes[TopicPartition(topic, part)] = None
                else:
                    ko = off.get("kafka_offset")
                    if not isinstance(ko, int) or isinstance(ko, bool) or ko < 0:
                        raise BadRequestError(
                            f'sink connector offsets need {{"kafka_offset": <int >= 0>}}, got {off!r}'
                        )
                    changes[TopicPartition(topic, part)] = ko
            handled = self._run_with_timeout(connector.alter_offsets, rt.config, changes, what="alter_offsets")
            group = f"connect-{name}"
            keep = self.log.committed_offsets(group)
            if any(v is None for v in changes.values()):
                self.log.delete_group(group)
            for tp, v in changes.items():
                if v is None:
                    keep.pop(tp, None)
                else:
                    keep[tp] = v
            if keep:
                self.log.commit_offsets(group, keep)
        else:
            source_changes = {partition_key(e["partition"]): (e["partition"], e.get("offset")) for e in entries}
            handled = self._run_with_timeout(
                connector.alter_offsets,
                rt.config,
                {pk: off for pk, (_p, off) in source_changes.items()},
                what="alter_offsets",
            )
            self.offsets.put(name, source_changes)
        if handled:
            return "The offsets for this connector have been altered successfully"
        return (
            "The Connect framework-managed offsets for this connector have been altered successfully. "
            "However, if "
            "this connector manages offsets externally, they will need to be manually altered in the "
            "system that "
            "the connector uses."
        )

    def reset_offsets(self, name: str) -> str:
        """Remove all offsets of a STOPPED connector; returns Kafka's message."""
        rt = self._require_stopped(name)
        connector: Any = rt.cls()
        if rt.type == "sink":
            group = f"connect-{name}"
            committed = self.log.committed_offsets(group)
            handled = self._run_with_timeout(
                connector.alter_offsets, rt.config, dict.fromkeys(committed), what="alter_offsets"
            )
            self.log.delete_group(group)
        else:
            self.offsets.refresh()
            current = self.offsets.all(name)
            handled = self._run_with_timeout(
                connector.alter_offsets,
                rt.config,
                {partition_key(p): None for p, _o in current},
                what="alter_offsets",
            )
            self.offsets.put(name, {partition_key(p): (p, None) for p, _o in current})
        if handled:
            return "The offsets for this connector have been reset successfully"
        return (
            "The Connect framework-managed offsets for this connector have been reset successfully. "
            "However, if this "
            "connector manages offsets externally, they will need to be manually reset in the system that "
            "the "
            "connector uses."
        )

    # -- helpers for tests and the CLI ----------------------------------------------------------------
    def wait_for_state(self, name: str, state: str, tasks: int | None = None, timeout: float = 30.0) -> dict[str, Any]:
        """Wait until the connector (and ``tasks`` tasks) report ``state``; return the status or raise
        TimeoutError."""
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.connector_status(name)
            ok = status["connector"]["state"] == state
            if tasks is not None:
                ok = ok and len(status["tasks"]) == tasks and all(t["state"] == state for t in status["tasks"])
            if ok:
                return status
            time.sleep(0.02)
        raise TimeoutError(f"connector {name} did not reach {state} within {timeout}s: {status}")


def _as_string(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple):
        return ",".join(str(x) for x in v)
    return str(v)


def _unmask(config: Mapping[str, Any], stored: Mapping[str, str]) -> dict[str, Any]:
    """``config`` with each value equal to the masked form of the stored one replaced by the stored one."""
    out = dict(config)
    for k, v in config.items():
        old = stored.get(k)
        if old is None or not isinstance(v, str) or v == old:
            continue
        if v == "[hidden]" or v == mask_secrets({k: old})[k]:
            out[k] = old
    return out


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name.strip():
        raise BadRequestError("Connector name is required and must be a non-empty string")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise BadRequestError("Connector name must not contain ISO control characters")
    if name != name.strip():
        raise BadRequestError("Connector name must not have leading or trailing whitespace")


__all__ = ["INITIAL_STATES", "TARGET_STATES", "Herder", "resolve_log_url"]
