"""The herder of a distributed worker (``millstream connect distributed``): one of several workers with the
same ``group.id`` on the same log that share the cluster's connectors and tasks.

* **State** lives in the three internal topics: configs, target states, task configs and restart requests
  in the config topic (one partition: one order of changes), source offsets in the offsets topic, statuses
  in the status topic. Every worker mirrors the config topic, so any worker answers any read (``GET``).
* **Writes** (create, update, delete, pause, resume, stop, restart, offsets) are carried out by the
  **leader** only, one at a time, after reading the config topic to its end: the REST layer forwards them
  to it (:meth:`DistributedHerder.leader_url`), as Kafka Connect does. Two conflicting writes sent through
  two workers at once therefore reach one writer in some order: the second create of a name gets 409, an
  update replaces the config whole, and nothing is half-written. Each config write is also fenced
  (:meth:`DistributedHerder._guard`: a compare-and-set of a version in the log's state on ``file://``, the
  cluster's transactional id on Kafka), so even two workers that both believe they lead (for a heartbeat,
  while leadership moves) cannot overwrite each other: the later one gets 409 and writes nothing.
* **Work** is spread by the worker group (:mod:`~millstream.connect.worker_group`): each worker runs exactly
  the connectors and tasks the leader's assignment gives it.

Every ``heartbeat.interval.ms`` (and at once after a local write) a worker's control loop (:meth:`_tick`):

1. heartbeats (joins) the worker group;
2. reads the config and status topics to their ends and brings its mirror of the connectors up to date —
   a changed connector config restarts the connector here if it runs here, changed task configs restart the
   tasks that run here, a new target state pauses/resumes/stops what runs here;
3. carries out new restart requests for what runs here;
4. as leader, rebalances (:meth:`~millstream.connect.worker_group.WorkerGroup.rebalance`);
5. reads the assignment: stops (revokes) what is no longer its own, starts what is newly its own — a task
   that moved from this worker's own earlier instance waits for it to finish first;
6. publishes what it runs or is still stopping, so that the leader moves a unit only once it has stopped.

Connector threads that generate task configs write them to the config topic themselves (only when they
changed); every worker picks them up in step 2.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ..core.errors import ConfigError, ConnectError, FencedError
from ..log.base import Log
from .errors import AlreadyExistsError, BadRequestError, NotFoundError, RebalanceNeededError
from .forwarding import NOT_LEADER
from .herder import INITIAL_STATES, Herder, _check_name, _Runtime, _Status, _unmask
from .plugins import REGISTRY
from .storage import Guard
from .unit_assignor import CONNECTOR, Assignment, Unit
from .worker import WorkerConnector
from .worker_config import WorkerConfig
from .worker_group import WorkerGroup, open_worker_group

log = logging.getLogger("millstream.connect.distributed")

_COMMAND = {"STARTED": "start", "PAUSED": "pause", "STOPPED": "stop"}


class DistributedHerder(Herder):
    """A worker of a distributed cluster (see the module docstring). ``worker_id`` is the advertised
    ``host:port``; ``url`` is where other workers forward requests to this one."""

    def __init__(
        self,
        config: WorkerConfig | Mapping[str, Any],
        log_: Log | str | None = None,
        *,
        worker_id: str,
        url: str,
        operation_timeout_s: float = 30.0,
    ) -> None:
        super().__init__(
            config, log_, persist_configs=True, worker_id=worker_id, operation_timeout_s=operation_timeout_s
        )
        try:
            self._setup(url)
        except BaseException:
            self._pool.shutdown(wait=False)
            if self._owns_log:
                self.log.close()
            raise

    def _setup(self, url: str) -> None:
        cfg = self.config
        session_ms = int(cfg.get("session.timeout.ms"))
        heartbeat_ms = int(cfg.get("heartbeat.interval.ms"))
        if heartbeat_ms >= session_ms:
            raise ConfigError(
                f"heartbeat.interval.ms={heartbeat_ms} must be below session.timeout.ms={session_ms}, or every "
                "worker would leave the group between two heartbeats",
                hint="set heartbeat.interval.ms to at most a third of session.timeout.ms",
            )
        self.url = url
        self.group_id = str(cfg.get("group.id"))
        self.heartbeat_s = heartbeat_ms / 1000.0
        self.session_s = session_ms / 1000.0
        self.group: WorkerGroup = open_worker_group(
            self.log,
            self.group_id,
            self.worker_id,
            url,
            session_ms,
            int(cfg.get("scheduled.rebalance.max.delay.ms")),
        )
        self.ctx.fencing = self.group.task_fencing()
        self.assignment = Assignment()
        self._connector_releasing: dict[str, WorkerConnector] = {}
        self._unloadable: set[str] = set()
        self._restarts_seen = 0
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._loop: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Check and open the internal topics, join the group, run the first round of the control loop,
        then keep running it on a thread."""
        self._check_internal_topics()
        self.offsets.start()  # (creates the topics that do not exist yet)
        self.status_store.start()
        assert self.config_store is not None
        self.config_store.start()
        self.group.claim_topics(
            {
                "config.storage.topic": str(self.config.get("config.storage.topic")),
                "offset.storage.topic": str(self.config.get("offset.storage.topic")),
                "status.storage.topic": str(self.config.get("status.storage.topic")),
            }
        )
        self.cluster_id = self.group.cluster_id()
        self._restarts_seen = len(self.config_store.restarts)  # requests from before this worker started
        self.group.heartbeat()
        self.group.publish_running([], force=True)  # a restarted worker: it runs nothing yet
        self._tick()
        self.ready = True
        self._loop = threading.Thread(target=self._run_loop, name="connect-distributed", daemon=True)
        self._loop.start()

    def _check_internal_topics(self) -> None:
        """The config topic must have one partition; every internal topic must be compacted."""
        for key in ("config.storage.topic", "offset.storage.topic", "status.storage.topic"):
            topic = str(self.config.get(key))
            if not self.log.has_topic(topic):
                continue
            desc = self.log.describe_topic(topic)
            if key == "config.storage.topic" and desc.partitions != 1:
                raise ConfigError(
                    f"config.storage.topic={topic} has {desc.partitions} partitions; the config topic must have "
                    "exactly one, so that every worker reads config changes in the same order",
                    hint=f"point config.storage.topic at a new topic (the worker creates it), or delete {topic} "
                    "and recreate it with one partition",
                )
            policy = str(desc.config.get("cleanup.policy", "delete"))
            if "compact" not in policy or "delete" in policy:
                raise ConfigError(
                    f"{key}={topic} has cleanup.policy={policy}; Connect's internal topics must be compacted "
                    "(cleanup.policy=compact), or old configs, offsets and statuses would be deleted",
                    hint=f"millstream topics alter {topic} --config cleanup.policy=compact, or use a new topic",
                )

    def _run_loop(self) -> None:
        while not self._halt.is_set():
            self._wake.wait(self.heartbeat_s)
            self._wake.clear()
            if self._halt.is_set():
                return
            try:
                self._tick()
            except Exception:
                log.exception("worker %s: control loop round failed; retrying", self.worker_id)

    def stop(self) -> None:
        """Stop the control loop, stop (and wait for) what runs here, leave the group, close the log."""
        if self._stopped:
            return
        self._halt.set()
        self._wake.set()
        if self._loop is not None:
            self._loop.join(10)
        owns, self._owns_log = self._owns_log, False
        super().stop()
        deadline = time.monotonic() + float(self.config.get("task.shutdown.graceful.timeout.ms")) / 1000.0
        with self._lock:
            releasing = [*self._retiring.values(), *self._connector_releasing.values()]
        for t in releasing:  # instances revoked just before the shutdown
            if t.ident is not None:
                t.join(max(0.0, deadline - time.monotonic()))
        try:
            self.group.leave()
        except Exception:
            log.exception("worker %s could not leave the group", self.worker_id)
        if owns:
            self.log.close()

    # -- the control loop -----------------------------------------------------------------------------
    def _tick(self) -> None:
        assert self.config_store is not None
        self.group.heartbeat()  # 1.
        self.config_store.refresh()  # 2.
        self.status_store.refresh()
        with self._lock:
            self._sync_mirror()
            self._process_restarts()  # 3.
            units = self._units()
        if self.group.is_leader:  # 4.
            self.group.rebalance(units)
        assignment = self.group.assignment()  # 5.
        with self._lock:
            self.assignment = assignment
            self._apply(assignment.workers.get(self.worker_id, []))
            running = self._running_units()
        self.group.publish_running(running)  # 6.

    def _units(self) -> list[Unit]:
        units: list[Unit] = []
        for name, rt in self._connectors.items():
            units.append((name, CONNECTOR))
            if rt.target != "STOPPED":
                units.extend((name, i) for i in range(len(rt.task_configs)))
        return units

    def _sync_mirror(self) -> None:
        """Step 2 (caller holds the lock)."""
        store = self.config_store
        assert store is not None
        for name in list(store.order):
            cfg = store.connectors.get(name)
            if cfg is None:
                continue
            target = store.target_states.get(name, "STARTED")
            task_configs = store.stored_task_configs(name) if target != "STOPPED" else []
            rt = self._connectors.get(name)
            if rt is None or rt.config != cfg:
                try:
                    cls = REGISTRY.load(cfg["connector.class"], "connector")
                except (ConnectError, KeyError) as exc:
                    if name not in self._unloadable:
                        log.error("connector %s cannot run on worker %s: %s", name, self.worker_id, exc)
                        self._unloadable.add(name)
                    continue
                self._unloadable.discard(name)
            if rt is None:
                self._connectors[name] = _Runtime(name, dict(cfg), cls, target, task_configs=task_configs)
                continue
            if rt.config != cfg:
                rt.config, rt.cls = dict(cfg), cls
                if rt.wc is not None:  # runs here: restart it with the new config (it writes new task configs)
                    self._release_connector(rt)
                    self._start_connector(rt)
            if rt.target != target:
                rt.target = target
                if rt.wc is not None:
                    rt.wc.submit(_COMMAND[target])
                for t in rt.tasks.values():
                    t.set_paused(target == "PAUSED")
            if task_configs != rt.task_configs:
                old, rt.task_configs = rt.task_configs, task_configs
                for i in list(rt.tasks):
                    if i >= len(task_configs) or i >= len(old) or task_configs[i] != old[i]:
                        self._release_task(rt, i)  # step 5 starts it again with its new config
        for name in [n for n in self._connectors if n not in store.connectors]:
            rt = self._connectors.pop(name)
            for i in list(rt.tasks):
                self._release_task(rt, i)
            if rt.wc is not None:
                self._release_connector(rt)

    def _release_task(self, rt: _Runtime, i: int) -> None:
        t = rt.tasks.pop(i)
        t.stop()
        self._retiring[(rt.name, i)] = t

    def _release_connector(self, rt: _Runtime) -> None:
        wc = rt.wc
        assert wc is not None
        wc.submit("shutdown")
        self._connector_releasing[rt.name] = wc
        rt.wc = None

    def _process_restarts(self) -> None:
        """Step 3 (caller holds the lock)."""
        store = self.config_store
        assert store is not None
        new, self._restarts_seen = store.restarts[self._restarts_seen :], len(store.restarts)
        for name, task, include_tasks, only_failed in new:
            rt = self._connectors.get(name)
            if rt is None:
                continue
            if task is not None:
                if task in rt.tasks:
                    self._restart_task_locked(rt, task)
                continue
            if rt.wc is not None and (not only_failed or rt.status.state == "FAILED"):
                rt.status = _Status("RESTARTING")
                rt.wc.submit("restart")
            if include_tasks:
                for i in list(rt.tasks):
                    if not only_failed or rt.task_status.get(i, _Status()).state == "FAILED":
                        self._restart_task_locked(rt, i)

    def _apply(self, mine: list[Unit]) -> None:
        """Step 5 (caller holds the lock)."""
        own = set(mine)
        for name, rt in self._connectors.items():
            if rt.wc is not None and (name, CONNECTOR) not in own:
                self._release_connector(rt)
            for i in list(rt.tasks):
                if (name, i) not in own:
                    self._release_task(rt, i)
        for name, i in sorted(own):
            found = self._connectors.get(name)
            if found is None:
                continue
            if i == CONNECTOR:
                if found.wc is None:
                    self._start_connector(found)
            elif found.target != "STOPPED" and i < len(found.task_configs) and i not in found.tasks:
                self._start_task(found, i, found.task_configs[i], None)  # waits for a retiring instance of it

    def _running_units(self) -> list[Unit]:
        """Step 6 (caller holds the lock): what runs here or is still stopping."""
        for key in [k for k, t in self._retiring.items() if not t.is_alive() and t.ident is not None]:
            del self._retiring[key]
        for name in [n for n, wc in self._connector_releasing.items() if not wc.is_alive()]:
            del self._connector_releasing[name]
        units: set[Unit] = {(n, i) for n, i in self._retiring}
        units |= {(n, CONNECTOR) for n in self._connector_releasing}
        for name, rt in self._connectors.items():
            if rt.wc is not None:
                units.add((name, CONNECTOR))
            units |= {(name, i) for i in rt.tasks}
        return sorted(units)

    # -- callbacks from connector and task threads ----------------------------------------------------
    def _on_task_configs(self, rt: _Runtime, wc: WorkerConnector, configs: list[dict[str, str]]) -> None:
        """The connector (running here) generated task configs: store them if they changed."""
        with self._lock:
            if rt.wc is not wc or self._connectors.get(rt.name) is not rt or rt.target == "STOPPED":
                return
        assert self.config_store is not None
        if configs != self.config_store.stored_task_configs(rt.name):
            self.config_store.put_task_configs(rt.name, configs)
            self._wake.set()

    def _write_status(self, name: str, task: int | None, state: str, trace: str | None) -> None:
        generation = self.assignment.version
        try:
            if task is None:
                self.status_store.put_connector(name, state, trace, self.worker_id, generation)
            else:
                self.status_store.put_task(name, task, state, trace, self.worker_id, generation)
        except Exception:
            log.exception("could not write status of %s", name)

    # -- reads: the cluster's view --------------------------------------------------------------------
    def leader_url(self) -> str | None:
        """Where writes go: the leader's REST URL, or ``None`` when this worker leads. While the group has no
        leader (on Kafka, between a leader's death and the election of the next) this waits for one, up to
        twice the session timeout; then ``None`` too (the request is refused with 409: not the leader)."""
        deadline = time.monotonic() + 2 * self.session_s
        while not self.group.view.leader and time.monotonic() < deadline and not self._halt.is_set():
            time.sleep(0.1)
        if self.group.is_leader or not self.group.view.leader:
            return None
        return self.group.url_of(self.group.view.leader)

    def _fresh(self) -> None:
        """Read the config topic to its end before answering, so a worker answers a read with every write
        the leader has made (a client that wrote through one worker reads it back through another)."""
        assert self.config_store is not None
        self.config_store.refresh()
        with self._lock:
            self._sync_mirror()

    def connectors(self) -> list[str]:
        """The names of the cluster's connectors (from the config topic)."""
        self._fresh()
        return super().connectors()

    def connector_info(self, name: str) -> dict[str, Any]:
        """Kafka's ConnectorInfo from the config topic."""
        self._fresh()
        return super().connector_info(name)

    def connector_config(self, name: str) -> dict[str, Any]:
        """A connector's config from the config topic (secrets masked)."""
        self._fresh()
        return super().connector_config(name)

    def tasks(self, name: str) -> list[dict[str, Any]]:
        """A connector's task configs from the config topic (secrets masked)."""
        self._fresh()
        return super().tasks(name)

    def _unit_json(self, body: Mapping[str, Any] | None, unit: Unit) -> dict[str, Any]:
        """A unit's state as its current owner last wrote it; ``UNASSIGNED`` while the owner has not written
        it yet (a move in progress) or has left the group (its work waits for it or for the delay)."""
        owner = self.assignment.owner(unit)
        live = set(self.group.view.members)
        if body is not None and owner is not None and body.get("worker_id") == owner and owner in live:
            out: dict[str, Any] = {"state": body.get("state") or "UNASSIGNED", "worker_id": owner}
            if body.get("trace"):
                out["trace"] = body["trace"]
            return out
        last = owner or (body.get("worker_id") if body else None) or self.worker_id
        return {"state": "UNASSIGNED", "worker_id": last}

    def connector_status(self, name: str) -> dict[str, Any]:
        """Kafka's ConnectorStateInfo from the status topic: the worker of the connector and of each task."""
        self._fresh()
        self.status_store.refresh()
        with self._lock:
            rt = self._get(name)
            conn = self._unit_json(self.status_store.connector_state(name), (name, CONNECTOR))
            tasks = []
            if rt.target != "STOPPED":
                for i in range(len(rt.task_configs)):
                    tasks.append({"id": i, **self._unit_json(self.status_store.task_state(name, i), (name, i))})
            return {"name": name, "connector": conn, "tasks": tasks, "type": rt.type}

    def task_status(self, name: str, task: int) -> dict[str, Any]:
        """One task's state, from the status topic."""
        self._fresh()
        self.status_store.refresh()
        with self._lock:
            rt = self._get(name)
            if rt.target == "STOPPED" or not 0 <= task < len(rt.task_configs):
                raise NotFoundError(f"No status found for task {name}-{task}")
            return {"id": task, **self._unit_json(self.status_store.task_state(name, task), (name, task))}

    # -- writes: on the leader only -------------------------------------------------------------------
    def _require_leader(self) -> None:
        if not self.group.is_leader:
            raise RebalanceNeededError(
                "Cannot complete request because of a conflicting operation (e.g. worker rebalance): this worker "
                f"{NOT_LEADER} {self.group_id} (the leader is {self.group.view.leader})",
                hint="retry the request; any worker forwards it to the current leader",
            )

    def _guard(self) -> Guard:
        """The fencing every leader write carries (read *before* the config topic is read): if another worker
        wrote connector configs meanwhile (two workers that both believed they led, for a heartbeat), the write
        fails instead of overwriting a change it did not see (:meth:`WorkerGroup.write_guard`)."""
        return self.group.write_guard()

    @contextmanager
    def _conflicts(self) -> Iterator[None]:
        try:
            yield
        except FencedError:
            raise RebalanceNeededError(
                "Cannot complete request because of a conflicting operation: another worker changed the "
                "connector configs at the same time; nothing of this request was written",
                hint="read the connector again and retry the request",
            ) from None

    def _written(self) -> None:
        """After a write to the config topic: mirror it now and wake the control loop."""
        assert self.config_store is not None
        self.config_store.refresh()
        with self._lock:
            self._sync_mirror()
        self._wake.set()

    def create_connector(
        self, name: str, config: Mapping[str, Any], initial_state: str | None = None
    ) -> dict[str, Any]:
        """Create a connector in the config topic (leader only); AlreadyExistsError if the name is taken."""
        _check_name(name)
        target = INITIAL_STATES.get((initial_state or "RUNNING").upper())
        if target is None:
            raise BadRequestError(f"invalid initial_state {initial_state!r}", hint="use RUNNING, PAUSED or STOPPED")
        self._require_leader()
        store = self.config_store
        assert store is not None
        with self._write_lock, self._conflicts():
            store.refresh()
            if name in store.connectors:
                raise AlreadyExistsError(f"Connector {name} already exists")
            cfg, _cls = self._validated(name, config)
            guard = self._guard()
            store.refresh()
            if name in store.connectors:
                raise AlreadyExistsError(f"Connector {name} already exists")
            store.put_connector(name, cfg, target, guard=guard)
            self._written()
        return self.connector_info(name)

    def put_connector_config(self, name: str, config: Mapping[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Create or replace a connector's config in the config topic (leader only); ``(created, info)``.
        Masked secrets sent back unchanged keep their stored values."""
        _check_name(name)
        self._require_leader()
        store = self.config_store
        assert store is not None
        with self._write_lock, self._conflicts():
            store.refresh()
            existing = store.connectors.get(name)
            if existing is not None:
                config = _unmask(config, existing)
            cfg, _cls = self._validated(name, config)
            guard = self._guard()
            store.refresh()
            if store.connectors.get(name) != existing:
                raise RebalanceNeededError(
                    f"Connector {name} was changed by another request while this one was validated; nothing of "
                    "this request was written",
                    hint="read the connector again and retry the request",
                )
            if existing != cfg:
                store.put_connector(name, cfg, "STARTED" if existing is None else None, guard=guard)
            self._written()
        return existing is None, self.connector_info(name)

    def delete_connector(self, name: str) -> None:
        """Delete a connector from the config topic (leader only); its offsets stay."""
        self._require_leader()
        store = self.config_store
        assert store is not None
        with self._write_lock, self._conflicts():
            guard = self._guard()
            store.refresh()
            if name not in store.connectors:
                raise NotFoundError(f"Connector {name} not found")
            tasks = len(store.stored_task_configs(name))
            store.remove_connector(name, guard=guard)
            self.status_store.remove(name, tasks)
            self._written()

    def _set_target(self, name: str, target: str) -> None:
        self._require_leader()
        store = self.config_store
        assert store is not None
        with self._write_lock, self._conflicts():
            guard = self._guard()
            store.refresh()
            if name not in store.connectors:
                raise NotFoundError(f"Connector {name} not found")
            if store.target_states.get(name, "STARTED") != target:
                store.put_target_state(name, target, guard=guard)
            self._written()

    def restart_connector(
        self, name: str, include_tasks: bool = False, only_failed: bool = False
    ) -> dict[str, Any] | None:
        """Write a restart request to the config topic (leader only); the owners restart. Returns ``None``
        for the plain restart, else the status with the items to restart shown RESTARTING (Kafka's plan)."""
        self._require_leader()
        status = self.connector_status(name)
        assert self.config_store is not None
        self.config_store.request_restart(name, None, include_tasks, only_failed)
        self._wake.set()
        if not include_tasks and not only_failed:
            return None
        if not only_failed or status["connector"]["state"] == "FAILED":
            status["connector"]["state"] = "RESTARTING"
            status["connector"].pop("trace", None)
        if include_tasks:
            for t in status["tasks"]:
                if not only_failed or t["state"] == "FAILED":
                    t["state"] = "RESTARTING"
                    t.pop("trace", None)
        return status

    def _require_stopped(self, name: str) -> _Runtime:
        """Offsets may change only when the connector is STOPPED and none of its tasks still runs on any
        worker (as the workers published)."""
        rt = super()._require_stopped(name)
        members = self.group.view.members
        busy = sorted(
            w for w, units in self.group.held(members).items() if any(u[0] == name and u[1] >= 0 for u in units)
        )
        if busy:
            raise BadRequestError(
                f"Connector {name} is STOPPED but its tasks are still shutting down on {', '.join(busy)}; the "
                "offsets can be modified once they have stopped",
                hint="retry in a few seconds",
            )
        return rt

    def restart_task(self, name: str, task: int) -> None:
        """Write a task restart request to the config topic (leader only); the task's owner restarts it."""
        self._require_leader()
        with self._lock:
            rt = self._get(name)
            if rt.target == "STOPPED" or not 0 <= task < len(rt.task_configs):
                raise NotFoundError(f"Task {name}-{task} not found")
        assert self.config_store is not None
        self.config_store.request_restart(name, task)
        self._wake.set()


__all__ = ["DistributedHerder"]
