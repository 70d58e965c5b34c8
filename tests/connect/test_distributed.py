"""Distributed mode (``millstream connect distributed``): the assignor and fencing as units, a cluster of
in-process workers for forwarding and bad input, and real worker processes on one ``file://`` log killed
with SIGKILL."""

from __future__ import annotations

import collections
import concurrent.futures
import os
import random
import signal
import socket
import time
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from kafka_connect import KafkaConnect

from millstream.cli.connect import connect
from millstream.connect.distributed_herder import DistributedHerder
from millstream.connect.fencing import TaskFencing
from millstream.connect.rest import RestServer
from millstream.connect.unit_assignor import Assignment, assign_units
from millstream.core.errors import ConfigError, FencedError
from millstream.core.record import ProducerRecord
from millstream.http.auth import BasicAuth
from millstream.log import open_log

from .helpers import wait_until
from .test_cli import Worker

FAST = {
    "session.timeout.ms": "2500",
    "heartbeat.interval.ms": "300",
    "scheduled.rebalance.max.delay.ms": "4000",
    "offset.flush.interval.ms": "200",
    "task.shutdown.graceful.timeout.ms": "3000",
}


# -- the assignor (pure) ----------------------------------------------------------------------------------
def _units(connectors: dict[str, int]) -> list[tuple[str, int]]:
    return [(n, i) for n, tasks in connectors.items() for i in [-1, *range(tasks)]]


def test_assignor_spreads_reserves_for_the_delay_then_moves():
    units = _units({"a": 4, "b": 2})
    first = assign_units(units, ["w1", "w2", "w3"], Assignment(), {}, now_ms=0, delay_ms=1000)
    tasks = {w: [u for u in us if u[1] >= 0] for w, us in first.workers.items()}
    assert sorted(len(t) for t in tasks.values()) == [2, 2, 2]
    assert sorted(u for us in first.workers.values() for u in us) == sorted(units)
    # w2 leaves: its units stay reserved for it within the delay ...
    gone = assign_units(units, ["w1", "w3"], first, {}, now_ms=100, delay_ms=1000)
    assert gone.workers["w2"] == first.workers["w2"] and gone.departed == {"w2": 100}
    # ... and it gets them back when it returns in time
    back = assign_units(units, ["w1", "w2", "w3"], gone, {}, now_ms=500, delay_ms=1000)
    assert back.workers == first.workers and back.departed == {}
    # once the delay is over they move to the others
    moved = assign_units(units, ["w1", "w3"], gone, {}, now_ms=1100, delay_ms=1000)
    assert "w2" not in moved.workers and moved.departed == {}
    assert sorted(u for us in moved.workers.values() for u in us) == sorted(units)
    assert moved.version > gone.version > first.version


def test_assignor_moves_a_unit_only_after_its_old_owner_released_it():
    units = _units({"a": 4})
    one = assign_units(units, ["w1"], Assignment(), {}, now_ms=0, delay_ms=0)
    held = {"w1": one.workers["w1"]}
    # w2 joins: w1 is over its share, so units are revoked from it, and w2 gets them only once w1 stopped them
    revoked = assign_units(units, ["w1", "w2"], one, held, now_ms=1, delay_ms=0)
    assert revoked.workers["w2"] == [] and len(revoked.workers["w1"]) < len(one.workers["w1"])
    still = assign_units(units, ["w1", "w2"], revoked, held, now_ms=2, delay_ms=0)
    assert still.workers["w2"] == []
    released = {"w1": revoked.workers["w1"], "w2": []}
    done = assign_units(units, ["w1", "w2"], revoked, released, now_ms=3, delay_ms=0)
    assert done.workers["w2"] and not set(done.workers["w1"]) & set(done.workers["w2"])
    assert sorted(u for us in done.workers.values() for u in us) == sorted(units)


def test_assignor_never_runs_a_unit_twice_and_settles_balanced():
    """Random joins, leaves and config changes; each round the workers run what they are assigned (and give
    up the rest by the next round). No unit is ever run by two live workers, and a quiet cluster settles with
    every unit assigned and each kind spread evenly."""
    rng = random.Random(415)
    pool = [f"w{i}" for i in range(5)]
    live = set(pool[:3])
    assignment = Assignment()
    running: dict[str, set[tuple[str, int]]] = {w: set() for w in pool}
    now = 0
    for step in range(300):
        now += 100
        if step % 40 < 30 and rng.random() < 0.15:  # churn, then quiet periods
            w = rng.choice(pool)
            if w in live and len(live) > 1:
                live.discard(w)
                running[w] = set()  # killed
            else:
                live.add(w)
        units = _units({"a": 1 + step // 100, "b": 3, "c": rng.choice([2, 2, 2, 4]) if step % 40 < 30 else 2})
        held = {w: sorted(running[w]) for w in live}
        assignment = assign_units(units, live, assignment, held, now, delay_ms=500)
        # the workers follow: stop what is not theirs, start what is theirs
        for w in live:
            mine = set(assignment.workers.get(w, []))
            running[w] = (running[w] & mine) | mine
        owners = collections.Counter(u for w in live for u in running[w])
        assert all(n == 1 for n in owners.values()), owners.most_common(2)
        if step % 40 == 39:  # after a quiet period
            assigned = sorted(u for w in live for u in assignment.workers.get(w, []))
            assert assigned == sorted(units), step
            for kind in (0, 1):
                counts = [sum(1 for u in assignment.workers.get(w, []) if (u[1] >= 0) == kind) for w in live]
                assert max(counts) - min(counts) <= 1, (step, kind, assignment.workers)
            held = {w: sorted(running[w]) for w in live}
            assert assign_units(units, live, assignment, held, now, delay_ms=500) == assignment  # no churn


@pytest.mark.parametrize("backend", ["memory", "file"])
def test_require_state_is_a_precondition_of_the_whole_transaction(backend, tmp_path):
    log = open_log(f"memory://require-{time.monotonic_ns()}" if backend == "memory" else f"file://{tmp_path / 'l'}")
    try:
        log.create_topic("t", 1)
        with log.transaction() as txn:
            txn.require_state("k", None)  # absent, as required
            txn.put_state("k", b"1")
            txn.append("t", 0, [ProducerRecord(b"a")])
        with pytest.raises(FencedError), log.transaction() as txn:
            txn.require_state("k", None)
            txn.put_state("k", b"2")
            txn.append("t", 0, [ProducerRecord(b"b")])
        assert log.get_state("k") == b"1" and [r.value for r in log.read("t", 0, 0)] == [b"a"]
    finally:
        log.close()


def test_fencing_refuses_the_commits_of_a_replaced_task(tmp_path):
    log = open_log(f"file://{tmp_path / 'log'}")
    try:
        log.create_topic("t", 1)
        fencing = TaskFencing(log, "g", "w1")
        old = fencing.claim("c", 0)
        with log.transaction() as txn:
            txn.require_state(*old)
            txn.append("t", 0, [ProducerRecord(b"by the first instance")])
        new = TaskFencing(log, "g", "w2").claim("c", 0)  # the task moved
        with pytest.raises(FencedError, match="fenced"), log.transaction() as txn:
            txn.require_state(*old)
            txn.append("t", 0, [ProducerRecord(b"by the zombie")])
        with log.transaction() as txn:
            txn.require_state(*new)
            txn.append("t", 0, [ProducerRecord(b"by the new instance")])
        assert [r.value for r in log.read("t", 0, 0)] == [b"by the first instance", b"by the new instance"]
    finally:
        log.close()


# -- in-process workers -----------------------------------------------------------------------------------
class _Cluster:
    """Distributed herders in this process, each with its REST server, on one file:// log."""

    def __init__(self, log_url: str) -> None:
        self.log_url = log_url
        self.members: list[tuple[DistributedHerder, RestServer]] = []

    def add(self, auth: BasicAuth | None = None, **worker: str) -> tuple[DistributedHerder, RestServer]:
        server = RestServer(None, "127.0.0.1", 0, auth=auth)
        wid = f"127.0.0.1:{server.port}"
        props = {**FAST, "group.id": "g1", **worker}
        try:
            herder = DistributedHerder(props, self.log_url, worker_id=wid, url=f"http://{wid}")
        except BaseException:
            server.stop()
            raise
        try:
            herder.start()
        except BaseException:
            server.stop()
            herder.stop()
            raise
        server.attach(herder)
        server.start()
        self.members.append((herder, server))
        return herder, server

    def close(self) -> None:
        for herder, server in self.members:
            server.stop()
            herder.stop()


@pytest.fixture
def cluster(tmp_path):
    c = _Cluster(f"file://{tmp_path / 'log'}")
    yield c
    c.close()


def test_any_worker_serves_writes_forwarded_to_the_leader(cluster, tmp_path):
    (h1, s1), (h2, s2) = cluster.add(), cluster.add()
    wait_until(lambda: h1.group.view.members == h2.group.view.members and len(h1.group.view.members) == 2)
    leader, follower = (s1, s2) if h1.group.is_leader else (s2, s1)
    src = tmp_path / "in.txt"
    src.write_text("x\n")

    def create(server: RestServer, name: str, topic: str) -> httpx.Response:
        config = {"connector.class": "FileStreamSource", "file": str(src), "topic": topic}
        return httpx.post(server.url + "/connectors", json={"name": name, "config": config}, timeout=30)

    r = create(follower, "a", "ta")
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith("/connectors/a")
    # two conflicting creates of one name through both workers at once: one wins, the other gets 409
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda a: create(*a), [(leader, "b", "tb1"), (follower, "b", "tb2")]))
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    assert "already exists" in next(a for a in answers if a.status_code == 409).json()["message"]
    winner = next(a for a in answers if a.status_code == 201).json()["config"]["topic"]
    for server in (s1, s2):  # every worker reads the same configs
        assert httpx.get(server.url + "/connectors/b/config").json()["topic"] == winner
        assert httpx.get(server.url + "/connectors").json() == ["a", "b"]
    root = [httpx.get(s.url + "/").json()["kafka_cluster_id"] for s in (s1, s2)]
    assert root[0] == root[1] and len(root[0]) == 22
    # a request marked as forwarded that reaches a worker which does not lead: 409, not a loop
    r = httpx.put(follower.url + "/connectors/a/pause?forward=false")
    assert r.status_code == 409 and "not the leader" in r.json()["message"]
    wait_until(lambda: httpx.get(s2.url + "/connectors/a/status").json()["tasks"], what="task of a")
    status = httpx.get(s1.url + "/connectors/a/status").json()
    workers = {f"127.0.0.1:{s.port}" for _h, s in cluster.members}
    assert status["connector"]["worker_id"] in workers and status["tasks"][0]["worker_id"] in workers


def test_an_unchanged_kafka_connect_client_drives_the_cluster_through_a_follower(cluster, tmp_path):
    (h1, s1), (h2, s2) = cluster.add(), cluster.add()
    wait_until(lambda: len(h1.group.view.members) == 2 and len(h2.group.view.members) == 2)
    follower = s2 if h1.group.is_leader else s1
    kc = KafkaConnect(url=follower.url)
    src = tmp_path / "in.txt"
    src.write_text("a\nb\n")
    cfg = {"connector.class": "FileStreamSource", "file": str(src), "topic": "kc-topic", "name": "kc1"}
    assert kc.create_connector({"name": "kc1", "config": cfg})["name"] == "kc1"
    wait_until(
        lambda: (
            kc.get_connector_status("kc1")["tasks"][:1]
            and kc.get_connector_status("kc1")["tasks"][0]["state"] == "RUNNING"
        )
    )
    assert kc.update_connector("kc1", dict(cfg, **{"batch.size": "5"}))["config"]["batch.size"] == "5"
    kc.pause_connector("kc1")
    wait_until(lambda: kc.get_connector_status("kc1")["connector"]["state"] == "PAUSED")
    kc.resume_connector("kc1")
    wait_until(lambda: kc.get_connector_status("kc1")["connector"]["state"] == "RUNNING")
    assert kc.restart_connector("kc1") is None
    assert kc.restart_connector("kc1", include_tasks=True)["tasks"][0]["state"] == "RESTARTING"
    kc.restart_connector_task("kc1", 0)
    wait_until(lambda: kc.get_connector_status("kc1")["tasks"][0]["state"] == "RUNNING")
    kc.stop_connector("kc1")
    wait_until(lambda: kc.get_connector_status("kc1")["connector"]["state"] == "STOPPED")
    kc.delete_connector("kc1")
    wait_until(lambda: kc.list_connectors() == [])


def test_forwarding_carries_the_clients_credentials(cluster, tmp_path):
    auth = BasicAuth({"admin": "secret"})
    (h1, s1), (h2, s2) = cluster.add(auth), cluster.add(auth)
    wait_until(lambda: len(h1.group.view.members) == 2 and len(h2.group.view.members) == 2)
    follower = s2 if h1.group.is_leader else s1
    src = tmp_path / "in.txt"
    src.write_text("x\n")
    body = {"name": "a", "config": {"connector.class": "FileStreamSource", "file": str(src), "topic": "t"}}
    assert httpx.post(follower.url + "/connectors", json=body).status_code == 401
    r = httpx.post(follower.url + "/connectors", json=body, auth=("admin", "secret"), timeout=30)
    assert r.status_code == 201, r.text


def test_process_tasks_fence_too_and_offsets_change_once_every_task_stopped(cluster, tmp_path):
    (h1, s1), (h2, s2) = (
        cluster.add(**{"exactly.once.source.support": "enabled"}),
        cluster.add(**{"exactly.once.source.support": "enabled"}),
    )
    wait_until(lambda: len(h1.group.view.members) == 2 and len(h2.group.view.members) == 2)
    src = tmp_path / "in.txt"
    src.write_text("a\nb\n")
    config = {"connector.class": "FileStreamSource", "file": str(src), "topic": "t", "task.execution.mode": "process"}
    assert httpx.post(s1.url + "/connectors", json={"name": "p", "config": config}, timeout=30).status_code == 201
    ids = {f"127.0.0.1:{s.port}" for s in (s1, s2)}
    wait_until(lambda: _all_running(s2.url, ["p"], {"p": 1}, ids), 30, "the process task running")
    owner = _status(s1.url, "p")["tasks"][0]["worker_id"]
    wait_until(lambda: (h1.log.get_state("connect-fence/g1/p/0") or b"").startswith(owner.encode()), 30, "fenced")
    assert httpx.put(s2.url + "/connectors/p/stop").status_code == 204
    wait_until(lambda: _status(s1.url, "p")["connector"]["state"] == "STOPPED", 30, "stopped")
    wait_until(lambda: httpx.delete(s2.url + "/connectors/p/offsets", timeout=30).status_code == 200, 30, "reset")
    assert httpx.get(s1.url + "/connectors/p/offsets").json() == {"offsets": []}


def test_a_config_write_that_lost_a_race_writes_nothing(cluster, tmp_path):
    ((h1, _s1),) = [cluster.add()]
    src = tmp_path / "in.txt"
    src.write_text("x\n")
    cfg = {"connector.class": "FileStreamSource", "file": str(src), "topic": "t"}
    guard = h1._guard()  # a writer read the version, then another write happened before it wrote
    h1.create_connector("first", cfg)
    assert h1.config_store is not None
    with pytest.raises(FencedError):
        h1.config_store.put_connector("second", dict(cfg, name="second"), "STARTED", guard=guard)
    h1.config_store.refresh()
    assert sorted(h1.config_store.connectors) == ["first"]


def test_distributed_mode_needs_a_shared_group_coordinating_log():
    with pytest.raises(ConfigError, match="needs a log that coordinates groups"):
        DistributedHerder(FAST, "memory://dist-refused", worker_id="w:1", url="http://w:1")
    with pytest.raises(ConfigError, match=r"heartbeat\.interval\.ms=5000 must be below"):
        DistributedHerder({**FAST, "heartbeat.interval.ms": "5000"}, "memory://x", worker_id="w:1", url="http://w:1")


def test_bad_internal_topics_are_refused_with_the_fix(cluster, tmp_path):
    log = open_log(cluster.log_url)
    log.create_topic("wide-configs", 3, {"cleanup.policy": "compact"})
    log.create_topic("deleting-offsets", 1, {"cleanup.policy": "delete"})
    log.close()
    with pytest.raises(ConfigError, match="has 3 partitions") as info:
        cluster.add(**{"config.storage.topic": "wide-configs"})
    assert "config.storage.topic" in (info.value.hint or "")
    with pytest.raises(ConfigError, match="must be compacted"):
        cluster.add(**{"offset.storage.topic": "deleting-offsets"})
    cluster.add()
    with pytest.raises(ConfigError, match=r"already used by the Connect cluster with group\.id=g1"):
        cluster.add(**{"group.id": "other"})
    # the command line shows it as one line naming the fix, without a traceback
    props = tmp_path / "w.properties"
    props.write_text("group.id=other\nheartbeat.interval.ms=300\n")
    result = CliRunner().invoke(connect, ["distributed", str(props), "--log", cluster.log_url, "--rest-port", "0"])
    assert result.exit_code != 0
    assert "error: config.storage.topic=connect-configs is already used" in result.output
    assert "Traceback" not in result.output


# -- worker processes -------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(url: str, name: str) -> dict[str, Any]:
    r = httpx.get(f"{url}/connectors/{name}/status", timeout=10)
    return r.json() if r.status_code == 200 else {}


def _all_running(url: str, names: list[str], tasks: dict[str, int], live: set[str]) -> bool:
    for n in names:
        st = _status(url, n)
        if not st or st["connector"]["state"] != "RUNNING" or st["connector"]["worker_id"] not in live:
            return False
        if len(st["tasks"]) != tasks[n]:
            return False
        if any(t["state"] != "RUNNING" or t["worker_id"] not in live for t in st["tasks"]):
            return False
    return True


def _mapping(url: str, names: list[str]) -> dict[tuple[str, int], str]:
    out = {}
    for n in names:
        st = _status(url, n)
        out[(n, -1)] = st["connector"]["worker_id"]
        out.update({(n, t["id"]): t["worker_id"] for t in st["tasks"]})
    return out


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["file", pytest.param("kafka", marks=pytest.mark.kafka)])
def test_three_worker_processes_share_connectors_and_survive_kill9(backend, request, tmp_path):
    """4 connectors with 8 tasks on 3 worker processes; a random worker is killed with SIGKILL
    ``MILLSTREAM_CONNECT_KILLS`` times (default 4) while two exactly-once FileStreamSources and two
    FileStreamSinks run. Every other kill restarts the worker at once (within its session: it gets exactly its
    own work back); the others wait until its work ran elsewhere (timed), then restart it. On ``file://`` the
    workers share one embedded log; on ``kafka://`` the test broker, with a cluster of its own."""
    if backend == "file":
        log_url, settings, lines = f"file://{tmp_path / 'log'}", dict(FAST, **{"group.id": "cluster-a"}), "lines"
    else:
        make_topic = request.getfixturevalue("kafka_topic")
        log_url = f"kafka://{request.getfixturevalue('kafka_bootstrap')}"
        settings, lines = _kafka_props(make_topic, make_topic("cluster-a")), make_topic("lines")
    log = open_log(log_url)
    log.create_topic(lines, 3)
    log.close()
    props = tmp_path / "worker.properties"
    props.write_text(
        "".join(f"{k}={v}\n" for k, v in settings.items())
        + "exactly.once.source.support=enabled\n"
        + "value.converter=org.apache.kafka.connect.storage.StringConverter\n"
    )
    session_s = int(settings["session.timeout.ms"]) / 1000
    delay_s = int(settings["scheduled.rebalance.max.delay.ms"]) / 1000
    kills = int(os.environ.get("MILLSTREAM_CONNECT_KILLS", "4"))
    rng = random.Random(18)
    ports = [_free_port() for _ in range(3)]
    ids = [f"127.0.0.1:{p}" for p in ports]

    def start(port: int) -> Worker:
        level = os.environ.get("MILLSTREAM_TEST_WORKER_LOG_LEVEL", "WARNING")
        return Worker("distributed", str(props), "--log", log_url, "--rest-port", str(port), "--log-level", level)

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        workers = list(pool.map(start, ports))
    in1, in2 = tmp_path / "in1.txt", tmp_path / "in2.txt"
    out, copy = tmp_path / "out.txt", tmp_path / "copy.txt"
    expected: list[str] = []

    def feed(n: int) -> None:
        for f, prefix in ((in1, "a"), (in2, "b")):
            start_at = sum(1 for x in expected if x.startswith(prefix))
            batch = [f"{prefix}-{i}" for i in range(start_at, start_at + n)]
            with f.open("a") as fh:
                fh.write("".join(x + "\n" for x in batch))
            expected.extend(batch)

    feed(1000)
    configs = {
        "src1": {"connector.class": "FileStreamSource", "file": str(in1), "topic": lines, "batch.size": "50"},
        "src2": {"connector.class": "FileStreamSource", "file": str(in2), "topic": lines, "batch.size": "50"},
        "sink": {"connector.class": "FileStreamSink", "file": str(out), "topics": lines, "tasks.max": "3"},
        "copy": {"connector.class": "FileStreamSink", "file": str(copy), "topics": lines, "tasks.max": "3"},
    }
    names, tasks = list(configs), {"src1": 1, "src2": 1, "sink": 3, "copy": 3}
    try:
        for i, (name, config) in enumerate(configs.items()):  # through different workers
            r = httpx.post(workers[i % 3].url + "/connectors", json={"name": name, "config": config}, timeout=30)
            assert r.status_code == 201, r.text
        wait_until(lambda: _all_running(workers[0].url, names, tasks, set(ids)), 30, "all running")
        # every worker reports the same cluster, and the 8 tasks are spread over all three workers
        views = [{n: _status(w.url, n) for n in names} for w in workers]
        assert views[0] == views[1] == views[2]
        per_worker = collections.Counter(t["worker_id"] for st in views[0].values() for t in st["tasks"])
        assert set(per_worker) == set(ids) and max(per_worker.values()) - min(per_worker.values()) <= 1
        moves: list[float] = []
        for k in range(kills):
            victim = rng.randrange(3)
            before = _mapping(workers[(victim + 1) % 3].url, names)
            workers[victim].kill()
            killed_at = time.monotonic()
            feed(300)
            if k % 2 == 0:  # back at once, with the same identity: it gets exactly its own work back
                workers[victim] = start(ports[victim])
                back_after = time.monotonic() - killed_at
                wait_until(lambda: _all_running(workers[0].url, names, tasks, set(ids)), 30, "all running")
                if back_after < (session_s + delay_s) - 1:
                    assert _mapping(workers[0].url, names) == before
                else:  # a loaded machine took longer to start the process than the work waits: it may have moved
                    print(f"kill {k}: the restart took {back_after:.1f}s, past the delay; its work could move")
                continue
            survivors = [w for j, w in enumerate(workers) if j != victim]
            live = set(ids) - {ids[victim]}
            if os.environ.get("MILLSTREAM_TEST_TRACE"):

                def trace(url: str = survivors[0].url, t0: float = killed_at, gone: str = ids[victim]) -> bool:
                    st = {n: _status(url, n) for n in names}
                    down = [
                        (n, u.get("id", -1), u["state"], u["worker_id"][-5:])
                        for n, x in st.items()
                        for u in [x["connector"], *x["tasks"]]
                        if u["state"] != "RUNNING" or u["worker_id"] == gone
                    ]
                    time.sleep(0.3)
                    print(f"{time.monotonic() - t0:.1f}s", down)
                    return not down

                wait_until(trace, 30, "trace")
            try:
                wait_until(
                    lambda url=survivors[0].url, live=live: _all_running(url, names, tasks, live), delay_s + 20, "moved"
                )
            except AssertionError:
                print({n: _status(survivors[0].url, n) for n in names}, "killed:", ids[victim])
                raise
            moves.append(time.monotonic() - killed_at)
            assert moves[-1] <= delay_s + 5, moves
            workers[victim] = start(ports[victim])  # back after its work moved: it gets a share again

            def rejoined(v: int = victim) -> bool:
                m = _mapping(workers[0].url, names)
                return _all_running(workers[0].url, names, tasks, set(ids)) and ids[v] in m.values()

            wait_until(rejoined, 30, "the restarted worker running work again")
        print(
            f"\n{backend}: {kills} kills; every task RUNNING on the surviving workers after "
            + ", ".join(f"{m:.1f}s" for m in moves)
            + f" (session.timeout.ms={settings['session.timeout.ms']}, scheduled.rebalance.max.delay.ms="
            f"{settings['scheduled.rebalance.max.delay.ms']})"
        )

        # the pipeline lost no line, and the exactly-once sources wrote none twice
        def topic_values() -> list[str]:
            reader = open_log(log_url)
            try:
                return [r.value.decode() for p in range(3) for r in _read_all(reader, lines, p)]
            finally:
                reader.close()

        wait_until(lambda: len(topic_values()) >= len(expected), 30, "all lines in the topic")
        values = topic_values()
        duplicates = [v for v, n in collections.Counter(values).items() if n > 1]
        assert not duplicates and set(values) == set(expected)
        for sink_file in (out, copy):
            try:
                what = f"all lines in {sink_file.name}"
                wait_until(lambda f=sink_file: set(f.read_text().split()) == set(expected), 30, what)
            except AssertionError as exc:  # (a rare flake: say what the file lacks, and what it has that is no line)
                got = set(sink_file.read_text().split())
                missing, foreign = sorted(set(expected) - got), sorted(got - set(expected))
                raise AssertionError(
                    f"{exc}: {len(missing)} missing (first {missing[:10]}), not lines {foreign[:10]}; "
                    f"mapping {_mapping(workers[0].url, names)}"
                ) from exc
        for w in workers:
            assert w.terminate() == 0
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.kill()


def _read_all(log: Any, topic: str, partition: int) -> list[Any]:
    """Every (committed) record of a partition, read in batches up to its end."""
    out: list[Any] = []
    offset, end = log.earliest_offset(topic, partition), log.latest_offset(topic, partition)
    while offset < end:
        batch = log.read(topic, partition, offset, max_records=10_000, timeout_ms=500)
        if not batch:
            break
        out.extend(batch)
        offset = batch[-1].offset + 1
    return out


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["file", pytest.param("kafka", marks=pytest.mark.kafka)])
def test_a_hung_worker_whose_exactly_once_task_moved_cannot_commit(backend, request, tmp_path):
    """SIGSTOP the worker of an exactly-once source task past its session timeout: the task moves; SIGCONT it
    (a zombie that still believes it runs the task): a commit it tries is fenced, so no line is written twice.
    On ``kafka://`` the fencing is Kafka's (the task's transactional id)."""
    if backend == "file":
        log_url, settings, eos = f"file://{tmp_path / 'log'}", dict(FAST, **{"group.id": "zombies"}), "eos"
    else:
        make_topic = request.getfixturevalue("kafka_topic")
        log_url = f"kafka://{request.getfixturevalue('kafka_bootstrap')}"
        settings, eos = _kafka_props(make_topic, make_topic("zombies")), make_topic("eos")
    props = tmp_path / "worker.properties"
    props.write_text(
        "".join(f"{k}={v}\n" for k, v in settings.items())
        + "exactly.once.source.support=enabled\n"
        + "value.converter=org.apache.kafka.connect.storage.StringConverter\n"
    )
    ports = [_free_port() for _ in range(2)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        workers = list(
            pool.map(
                lambda p: Worker(
                    "distributed", str(props), "--log", log_url, "--rest-port", str(p), "--log-level", "WARNING"
                ),
                ports,
            )
        )
    src = tmp_path / "in.txt"
    lines = [f"l-{i}" for i in range(3000)]
    src.write_text("".join(x + "\n" for x in lines[:1000]))
    ids = {f"127.0.0.1:{p}" for p in ports}
    try:
        config = {"connector.class": "FileStreamSource", "file": str(src), "topic": eos, "batch.size": "20"}
        r = httpx.post(workers[0].url + "/connectors", json={"name": "src", "config": config}, timeout=30)
        assert r.status_code == 201, r.text
        wait_until(lambda: _all_running(workers[0].url, ["src"], {"src": 1}, ids), 30, "running")
        owner = _status(workers[0].url, "src")["tasks"][0]["worker_id"]
        hung = workers[ports.index(int(owner.rsplit(":", 1)[1]))]
        other = next(w for w in workers if w is not hung)
        hung.proc.send_signal(signal.SIGSTOP)
        try:
            with src.open("a") as f:
                f.write("".join(x + "\n" for x in lines[1000:2000]))
            wait_until(lambda: _all_running(other.url, ["src"], {"src": 1}, ids - {owner}), 20, "moved")
        finally:
            hung.proc.send_signal(signal.SIGCONT)  # the zombie wakes up with the task still running
        with src.open("a") as f:
            f.write("".join(x + "\n" for x in lines[2000:]))

        def values() -> list[str]:
            reader = open_log(log_url)
            try:
                return [r.value.decode() for r in _read_all(reader, eos, 0)]
            finally:
                reader.close()

        wait_until(lambda: len(values()) >= len(lines), 30, "every line in the topic")
        time.sleep(1.0)  # room for a zombie commit, were it not fenced
        got = values()
        assert sorted(got) == sorted(lines), collections.Counter(got).most_common(3)
        assert hung.terminate() == 0 and other.terminate() == 0
        # whether the zombie got to try a commit before its control loop stopped the task is a race; when it
        # did, it was fenced (without the fencing this test sees duplicates)
        print("\nthe zombie's commit was fenced" if "fenced" in hung.stderr else "\nno zombie commit")
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGCONT)
                w.kill()


def test_distributed_command_help():
    result = CliRunner().invoke(connect, ["distributed", "--help"])
    assert result.exit_code == 0 and "group.id" in result.output and "--rest-port" in result.output
    result = CliRunner().invoke(connect, ["distributed"])
    assert result.exit_code == 2 and "WORKER_PROPERTIES" in result.output


# -- on a Kafka cluster (the test broker) -----------------------------------------------------------------
KAFKA_FAST = {
    **FAST,
    "session.timeout.ms": "2000",  # Tansu: a group join waits half of it
    "heartbeat.interval.ms": "500",
    "consumer.session.timeout.ms": "2000",
    "consumer.heartbeat.interval.ms": "500",
}


def _kafka_props(kafka_topic: Any, group: str) -> dict[str, str]:
    """Worker properties of a cluster with its own group and internal topics."""
    return {
        **KAFKA_FAST,
        "group.id": group,
        "config.storage.topic": kafka_topic(f"{group}-configs"),
        "offset.storage.topic": kafka_topic(f"{group}-offsets"),
        "status.storage.topic": kafka_topic(f"{group}-status"),
        "offset.storage.partitions": "3",
        "status.storage.partitions": "2",
    }


@pytest.mark.kafka
def test_kafka_cluster_serves_any_worker_and_refuses_a_second_group(kafka_bootstrap, kafka_topic, tmp_path):
    """Two in-process workers on the test broker: a kafka-connect-py client creates, reads and deletes a
    connector through either; a worker of another group.id on the same topics is refused, naming the owner."""
    c = _Cluster(f"kafka://{kafka_bootstrap}")
    props = _kafka_props(kafka_topic, kafka_topic("kc"))
    try:
        h1, s1 = c.add(**props)
        h2, s2 = c.add(**props)
        wait_until(lambda: len(h1.group.view.members) == 2 and len(h2.group.view.members) == 2, 15, "two members")
        assert h1.group.view.leader == h2.group.view.leader != ""
        leader, follower = (s1, s2) if h1.group.is_leader else (s2, s1)
        src = tmp_path / "in.txt"
        src.write_text("a\nb\n")
        topic = kafka_topic("lines")
        client = KafkaConnect(url=follower.url)
        client.create_connector(
            {"name": "src", "config": {"connector.class": "FileStreamSource", "file": str(src), "topic": topic}}
        )
        for s in (leader, follower):
            assert KafkaConnect(url=s.url).get_connector("src")["config"]["file"] == str(src)
        wait_until(lambda: KafkaConnect(url=leader.url).get_connector_status("src")["tasks"], 15, "tasks")
        wait_until(
            lambda: KafkaConnect(url=leader.url).get_connector_status("src")["tasks"][0]["state"] == "RUNNING",
            15,
            "task running",
        )
        roots = {httpx.get(s.url + "/").json()["kafka_cluster_id"] for s in (s1, s2)}
        assert len(roots) == 1 and "" not in roots
        r = httpx.post(leader.url + "/connectors", json={"name": "src", "config": {}}, timeout=30)
        assert r.status_code in (400, 409)
        client.delete_connector("src")
        assert KafkaConnect(url=leader.url).list_connectors() == []
        with pytest.raises(ConfigError, match=r"already used by the Connect cluster with group\.id=") as info:
            c.add(**{**props, "group.id": kafka_topic("other")})
        assert "config.storage.topic" in (info.value.hint or "")
    finally:
        c.close()


@pytest.mark.kafka
def test_kafka_fencing_of_a_replaced_task_and_of_a_deposed_leader(kafka_bootstrap, kafka_properties, kafka_topic):
    """On Kafka the fencing is Kafka's: a task instance (or a leader) that starts calls ``init_transactions``
    for the transactional id, and the earlier instance's commits fail with FencedError, writing nothing."""
    from millstream.connect.fencing import KafkaTaskFencing, task_fencing_for
    from millstream.connect.storage import ConfigStore, TransactionalGuard
    from millstream.log.kafka import KafkaLog

    old_log, new_log = (KafkaLog(kafka_bootstrap, properties=kafka_properties, timeout_ms=15_000) for _ in range(2))
    try:
        topic, group = kafka_topic("fenced"), kafka_topic("g")
        old_log.create_topic(topic, 1)
        assert isinstance(task_fencing_for(old_log, group, "w1"), KafkaTaskFencing)
        old = task_fencing_for(old_log, group, "w1")
        claim = old.claim("c", 0)
        with old.transaction(claim) as txn:
            txn.append(topic, 0, [ProducerRecord(b"by the first instance")])
        new = task_fencing_for(new_log, group, "w2")
        new_claim = new.claim("c", 0)  # the task moved to another worker (another process: another log)
        with pytest.raises(FencedError, match="fenced"), old.transaction(claim) as txn:
            txn.append(topic, 0, [ProducerRecord(b"by the zombie")])
        with new.transaction(new_claim) as txn:
            txn.append(topic, 0, [ProducerRecord(b"by the new instance")])
        assert [r.value for r in _read_all(new_log, topic, 0)] == [b"by the first instance", b"by the new instance"]
        # a deposed leader's config write: the new leader started its producer of connect-cluster-<group>
        configs = kafka_topic("configs")
        old_store, guard = ConfigStore(old_log, configs), TransactionalGuard(f"connect-cluster-{group}")
        old_store.start()
        old_log.init_transactions(guard.transactional_id)
        old_store.put_connector("first", {"connector.class": "FileStreamSource"}, "STARTED", guard=guard)
        new_log.init_transactions(guard.transactional_id)  # a new leader
        with pytest.raises(FencedError):
            old_store.put_connector("second", {"connector.class": "FileStreamSource"}, "STARTED", guard=guard)
        fresh = ConfigStore(new_log, configs)
        fresh.start()
        assert sorted(fresh.connectors) == ["first"]
    finally:
        old_log.close()
        new_log.close()


@pytest.mark.kafka
def test_a_standalone_exactly_once_source_on_kafka_aborts_what_a_killed_worker_left_open(
    kafka_bootstrap, kafka_topic, kafka_on_tansu, tmp_path
):
    """A standalone worker's exactly-once source task commits under Kafka Connect's transactional id of its task
    (``<group.id>-<connector>-<task>``) and claims it when it starts. A worker killed -9 inside a commit leaves
    that transaction open, and an open transaction holds back every ``read_committed`` reader of the topic; the
    next instance's claim aborts it, so its own lines become visible at once. (With a fresh transactional id per
    batch, the reader saw nothing until the cluster's transaction timeout.)"""
    import subprocess
    import sys

    from millstream.connect.herder import Herder

    url = f"kafka://{kafka_bootstrap}"
    group = kafka_topic("solo")
    eos = kafka_topic("solo-eos")
    with open_log(url) as log:
        log.create_topic(eos, 1)
    die = (
        "import os, sys\n"
        "from millstream.core.record import ProducerRecord\n"
        "from millstream.log import open_log\n"
        "txn = open_log(sys.argv[1]).transaction(sys.argv[2])\n"
        "txn.append(sys.argv[3], 0, [ProducerRecord(b'zombie', None)])\n"
        "txn.flush()\n"  # on the broker, in an open transaction
        "os.kill(os.getpid(), 9)\n"
    )
    killed = subprocess.run([sys.executable, "-c", die, url, f"{group}-src-0", eos], timeout=60)
    assert killed.returncode == -signal.SIGKILL
    src = tmp_path / "in.txt"
    lines = [f"l-{i}" for i in range(200)]
    src.write_text("".join(x + "\n" for x in lines))
    worker = {
        **_kafka_props(kafka_topic, group),
        "exactly.once.source.support": "enabled",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
    }
    h = Herder(worker, open_log(url), worker_id="solo:0")
    h.start()
    try:
        h.create_connector("src", {"connector.class": "FileStreamSource", "file": str(src), "topic": eos})

        def values() -> list[str]:
            with open_log(url) as reader:
                return [r.value.decode() for r in _read_all(reader, eos, 0)]

        wait_until(lambda: set(lines) <= set(values()), 30, "the new instance's lines")
        got = [v for v in values() if v != "zombie" or not kafka_on_tansu]  # (Tansu shows aborted records)
        assert got == lines
    finally:
        h.stop()
