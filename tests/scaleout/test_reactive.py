"""Reactive scale-out with real processes: instances of ``millstream run --reactive`` on one ``file://`` log
share one exactly-once job, rescale as they come and go (kill -9 included), fail over the lead, fence a frozen
leader — and commit exactly what an uninterrupted single-process run commits."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from millstream.core.record import ProducerRecord
from millstream.log import open_log
from millstream.runtime.checkpoint_storage import load_checkpoint
from millstream.runtime.scaleout.group import JobGroup
from tests.parallel.conftest import alive, write_events
from tests.parallel.test_checkpoints import committed, run

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
JOB = ROOT / "tests" / "scaleout" / "reactive_job.py"
N = int(os.environ.get("MILLSTREAM_REACTIVE_EVENTS", "6000"))  # events of every test's input
SESSION_MS = 2000


def _setup(tmp: Path, name: str, n: int = N) -> tuple[str, Path, Path]:
    url = f"file://{tmp}/{name}/log"
    write_events(url, "events", 4, n)
    with open_log(url) as log:
        log.create_topic("windows", 2)
    return url, tmp / name / "counts", tmp / name / "ckpt"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], list[Any]]:
    tmp = tmp_path_factory.mktemp("reactive-reference")
    url, out, ckpt = _setup(tmp, "p1")
    run(url, out, ckpt, 1)
    return committed(url, out)


class Instances:
    """``millstream run --reactive`` processes of one job."""

    def __init__(self, url: str, out: Path, ckpt: Path, tmp: Path, job: Path = JOB, name: str = "instance") -> None:
        self.url, self.out, self.ckpt, self.tmp, self.job, self.name = url, out, ckpt, tmp, job, name
        self.procs: list[subprocess.Popen[bytes]] = []

    pause_s = 0.003  # the throttle of the last start (replacements get the same)
    interval_ms = 200  # the job's checkpoint interval

    def start(self, pause_s: float = 0.003) -> subprocess.Popen[bytes]:
        self.pause_s = pause_s
        env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}",
            "MILLSTREAM_CHECKPOINT_DIR": str(self.ckpt),
            "REACTIVE_OUT": str(self.out),
            "REACTIVE_PAUSE_S": str(pause_s),
            "REACTIVE_INTERVAL_MS": str(self.interval_ms),
        }
        cmd = [sys.executable, "-m", "millstream", "run", str(self.job), "--reactive", "--job-id", "rj"]
        cmd += ["--log", self.url, "-q", "--session-timeout-ms", str(SESSION_MS)]
        with open(self.tmp / f"{self.name}-{len(self.procs)}.log", "wb") as log:
            p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def kill_at_random(self, kills: int, rng: random.Random, pause_s: tuple[float, float]) -> int:
        """Up to ``kills`` times: after a random pause, kill -9 a random live instance (leader or not) and start a
        replacement, while the job runs; how many were killed."""
        done = 0
        while done < kills and len(self.live()) >= 2:
            time.sleep(rng.uniform(*pause_s))
            live = self.live()
            if len(live) < 2:
                break
            victim = rng.choice(live)
            victim.kill()
            victim.wait(10)
            done += 1
            self.start(self.pause_s)
        return done

    def live(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for p in self.procs:
            p.wait(max(1.0, deadline - time.monotonic()))

    def logs(self) -> str:
        return "\n".join(f.read_text(errors="replace") for f in sorted(self.tmp.glob(f"{self.name}-*.log")))

    def kill_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)


@pytest.fixture
def instances(tmp_path: Path) -> Iterator[Any]:
    made: list[Instances] = []

    def make(url: str, out: Path, ckpt: Path, job: Path = JOB) -> Instances:
        made.append(Instances(url, out, ckpt, tmp_path, job))
        return made[-1]

    yield make
    for i in made:
        i.kill_all()


def checkpoints_at(ckpt: Path) -> list[int]:
    """The parallelism of the windows operator in every checkpoint written so far."""
    out = []
    for d in sorted(ckpt.glob("*/chk-*")):
        try:
            chk = load_checkpoint(d)
            payload = __import__("pickle").loads(chk.blobs["windows"])
        except Exception:
            continue
        out.append(int(payload.get("parallelism", 1)))
    return out


def wait_for(what: Any, timeout: float, why: str) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {why}")
        time.sleep(0.1)


def test_two_instances_share_one_job_rescale_and_commit_the_reference_output(
    tmp_path: Path, reference: tuple[list[Any], list[Any]], instances: Any
) -> None:
    url, out, ckpt = _setup(tmp_path, "two")
    group = instances(url, out, ckpt)
    group.start()
    wait_for(lambda: checkpoints_at(ckpt), 60, "the first instance's first checkpoint")
    assert set(checkpoints_at(ckpt)) == {1}
    group.start()  # joins: the job rescales to 2 and goes on from its latest checkpoint
    wait_for(lambda: 2 in checkpoints_at(ckpt) or not group.live(), 60, "a checkpoint at parallelism 2")
    group.wait(120)
    assert [p.returncode for p in group.procs] == [0, 0], group.logs()
    assert 2 in checkpoints_at(ckpt), group.logs()
    assert committed(url, out) == reference


def test_instances_killed_at_random_lose_and_duplicate_nothing(
    tmp_path: Path, reference: tuple[list[Any], list[Any]], instances: Any
) -> None:
    """3 instances; kill -9 a random one (leader or not) and start a new one, again and again; the leader's
    death costs a session timeout, a follower's an immediate rescale."""
    kills = int(os.environ.get("MILLSTREAM_REACTIVE_KILLS", "4"))
    url, out, ckpt = _setup(tmp_path, "kills")
    group = instances(url, out, ckpt)
    for _ in range(3):
        group.start(pause_s=0.003)
    wait_for(lambda: checkpoints_at(ckpt), 60, "a first checkpoint")
    done = group.kill_at_random(kills, random.Random(7), (1.0, 2.5))
    group.wait(240)
    print(f"{done} kill -9s of {kills} ({len(group.procs)} instances started)")
    assert done >= min(kills, 2), "the job ended before the kills"
    assert all(p.returncode in (0, -signal.SIGKILL) for p in group.procs), group.logs()
    assert committed(url, out) == reference
    assert_no_orphans(tmp_path)


def assert_no_orphans(tmp: Path) -> None:
    """No process of the test's instances (workers, fork servers) outlives them for more than a few seconds."""
    deadline = time.monotonic() + 10
    while True:
        left = [int(x) for x in os.listdir("/proc") if x.isdigit() and _is_worker_of(int(x), tmp)]
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"orphans: {[Path(f'/proc/{pid}/cmdline').read_bytes() for pid in left]}")
        time.sleep(0.2)


def _is_worker_of(pid: int, tmp: Path) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return str(tmp).encode() in environ and alive(pid)


def test_ctrl_c_on_the_leader_hands_the_job_to_the_others(
    tmp_path: Path, reference: tuple[list[Any], list[Any]], instances: Any
) -> None:
    url, out, ckpt = _setup(tmp_path, "leave")
    group = instances(url, out, ckpt)
    first = group.start()
    wait_for(lambda: checkpoints_at(ckpt), 60, "the first checkpoint")
    group.start()
    wait_for(lambda: 2 in checkpoints_at(ckpt), 120, "a checkpoint at parallelism 2")
    first.send_signal(signal.SIGINT)  # the leader leaves; the other instance takes the lead and finishes
    assert first.wait(30) == 130, group.logs()
    group.wait(120)
    assert group.procs[1].returncode == 0, group.logs()
    assert committed(url, out) == reference


def _running_job(url: str, parallelism: int) -> tuple[str, Any, int]:
    """The reactive job ``rj``'s id, a REST client of its leader and the leader's pid, once the job runs at
    ``parallelism`` and its workers have moved records."""
    from millstream.observe.rest_client import JobRestClient
    from millstream.runtime.job_registry import JobRegistry

    found: list[tuple[str, Any, int]] = []

    def running() -> bool:
        with open_log(url) as log:
            entry = next((e for e in JobRegistry(log).running() if e.job_id == "rj" and e.rest), None)
        if entry is None:
            return False
        client = JobRestClient(entry.rest)
        try:
            vertices = client.job(entry.jid)["vertices"]
        except Exception:
            return False
        moved = sum(int(v["metrics"].get("write-records", 0)) for v in vertices)
        leader = next((int(i["pid"]) for i in entry.instances if i["leader"]), None)
        if moved and leader is not None and all(v["parallelism"] == parallelism for v in vertices):
            found.append((entry.jid, client, leader))
            return True
        return False

    wait_for(running, 60, f"the job running at parallelism {parallelism}")
    return found[-1]


def _restored(client: Any, jid: str) -> Any:
    """The id of the checkpoint the leader's latest attempt restored (``None``: none)."""
    try:
        restored = client.checkpoints(jid)["latest"]["restored"]
    except Exception:
        return None
    return None if restored is None else restored["id"]


def test_an_instance_that_joins_is_taken_in_at_a_checkpoint_taken_for_it(
    tmp_path: Path, reference: tuple[list[Any], list[Any]], instances: Any
) -> None:
    """Checkpoints a minute apart (none would come before the job ends): when an instance joins the running job,
    the leader takes a checkpoint at once and rescales from it — Flink 2's checkpoint-synchronized rescaling —
    instead of starting the job over at the new parallelism (there was no checkpoint to go back to)."""
    url, out, ckpt = _setup(tmp_path, "join")
    group = instances(url, out, ckpt)
    group.interval_ms = 60_000
    group.start()
    jid, leader, _pid = _running_job(url, 1)
    assert _restored(leader, jid) is None
    group.start()
    wait_for(lambda: _restored(leader, jid) is not None, 60, "the rescale's restore")
    restored = _restored(leader, jid)
    assert 1 in checkpoints_at(ckpt)  # the checkpoint taken for the rescale, at the old parallelism
    completed = [h["id"] for h in leader.checkpoints(jid)["history"] if h["status"] == "COMPLETED"]
    assert restored in completed
    group.wait(120)
    assert [p.returncode for p in group.procs] == [0, 0], group.logs()
    assert committed(url, out) == reference


def test_an_instance_that_leaves_hands_its_work_over_at_a_checkpoint(
    tmp_path: Path, reference: tuple[list[Any], list[Any]], instances: Any
) -> None:
    """Ctrl-C on a follower: it leaves the group but keeps running the leader's workers until the leader has
    checkpointed with them and rescaled without them (checkpoints a minute apart: the restore after the leave can
    only be from that checkpoint); it then exits, and the job commits the reference output."""
    url, out, ckpt = _setup(tmp_path, "handover")
    group = instances(url, out, ckpt)
    group.interval_ms = 60_000
    group.start()
    group.start()
    _hand_over(group, url)
    assert committed(url, out) == reference


def _hand_over(group: Instances, url: str, by_leader: bool = False) -> None:
    """Ctrl-C the follower (or the leader) of a job running on two instances; the other instance restores from a
    checkpoint taken for the leave (none other comes: the tests' checkpoints are a minute apart) and finishes the
    job."""
    jid, leader, pid = _running_job(url, 2)
    leaving = next(p for p in group.procs if (p.pid == pid) == by_leader)
    before = None if by_leader else _restored(leader, jid)
    leaving.send_signal(signal.SIGINT)
    if not by_leader:
        wait_for(lambda: _restored(leader, jid) not in (None, before), 60, "a restore from the leave's checkpoint")
    assert leaving.wait(30) == 130, group.logs()
    assert "interrupted: this instance left the job, which goes on on the other instances" in group.logs()
    if by_leader:
        jid, successor, _pid = _running_job(url, 1)
        assert _restored(successor, jid) is not None, group.logs()
    group.wait(180)
    assert [p.returncode for p in group.procs if p is not leaving] == [0], group.logs()


def test_a_leader_that_leaves_hands_the_job_over_at_a_checkpoint(
    tmp_path: Path, reference: tuple[list[Any], list[Any]], instances: Any
) -> None:
    """Ctrl-C on the leader (checkpoints a minute apart): it checkpoints before it leaves, and the next leader
    restores from that checkpoint."""
    url, out, ckpt = _setup(tmp_path, "leader-leaves")
    group = instances(url, out, ckpt)
    group.interval_ms = 60_000
    group.start()
    group.start()
    _hand_over(group, url, by_leader=True)
    assert committed(url, out) == reference


def test_a_frozen_leader_is_replaced_and_fenced(
    tmp_path: Path, reference: tuple[list[Any], list[Any]], instances: Any
) -> None:
    """SIGSTOP the leader past its session timeout (a network partition): another instance leads in a new term;
    when the old leader wakes up its checkpoint commits are refused, and it stands by."""
    url, out, ckpt = _setup(tmp_path, "frozen")
    group = instances(url, out, ckpt)
    leader = group.start()
    wait_for(lambda: checkpoints_at(ckpt), 60, "the first checkpoint")
    group.start()
    wait_for(lambda: 2 in checkpoints_at(ckpt), 120, "a checkpoint at parallelism 2")
    leader.send_signal(signal.SIGSTOP)
    with open_log(url) as log:
        wait_for(lambda: _term(log) >= 2, 30, "a new leader's term")
    time.sleep(1.0)
    leader.send_signal(signal.SIGCONT)
    group.wait(180)
    assert [p.returncode for p in group.procs] == [0, 0], group.logs()
    assert committed(url, out) == reference
    ids = sorted(int(d.name.split("-")[1]) for d in ckpt.glob("*/chk-*"))
    assert ids and ids[-1] > 2_000_000  # the new term's checkpoints


def _term(log: Any) -> int:
    raw = log.get_state("job-group/rj/leader")
    return int(orjson.loads(raw)["epoch"]) if raw else 0


def test_another_pipeline_under_the_same_job_id_is_refused_naming_both(tmp_path: Path, instances: Any) -> None:
    url, out, ckpt = _setup(tmp_path, "other")
    group = instances(url, out, ckpt)
    first = group.start(pause_s=0.01)
    with open_log(url) as log:
        wait_for(lambda: _term(log) >= 1, 60, "the first instance's lead")
    other = tmp_path / "other_job.py"
    other.write_text(
        "import os\n"
        "from millstream import StreamExecutionEnvironment\n"
        "from millstream.connectors import LogSource, OffsetsInitializer\n\n"
        "def build(env: StreamExecutionEnvironment) -> None:\n"
        "    env.enable_checkpointing(200)\n"
        "    src = LogSource.builder().set_log(os.environ['MILLSTREAM_LOG']).set_topics('events')"
        ".set_starting_offsets(OffsetsInitializer.earliest()).set_value_format('json').build()\n"
        "    env.from_source(src, None, 'events').map(lambda e: e).print()\n"
    )
    second = Instances(url, out, ckpt, tmp_path, other, name="other")
    p = second.start()
    assert p.wait(60) == 2, second.logs()
    text = second.logs()
    assert "already runs another job" in text and str(JOB) in text and str(other) in text, text
    assert first.poll() is None
    first.kill()


def test_group_terms_and_fencing_on_the_log(tmp_path: Path) -> None:
    """The group on its own: the first live member by id leads; a successor claims a new term only once the
    leader's session expired; a commit guarded by an old term is refused."""
    from millstream.core.errors import FencedError

    url = f"file://{tmp_path}/log"
    with open_log(url) as log:
        a = JobGroup(log, "j", "a", {"slots": 1}, 500)
        b = JobGroup(log, "j", "b", {"slots": 1}, 500)
        assert a.heartbeat().leader == "a" and a.view.epoch == 1
        assert b.heartbeat().leader == "a" and b.infos() == {"a": {"slots": 1}, "b": {"slots": 1}}
        assert a.token() == b.token() and len(a.token()) == 16
        time.sleep(0.7)  # a stops heartbeating: its session expires
        view = b.heartbeat()
        assert (view.leader, view.epoch, view.members) == ("b", 2, ["b"])
        with pytest.raises(FencedError, match="no longer leads"), log.transaction() as txn:
            a.require_term(txn, 1)
        with log.transaction() as txn:
            b.require_term(txn, 2)
            txn.put_state("x", b"1")
        assert log.get_state("x") == b"1"
        assert b.last_end() is None
        b.end(2, "FINISHED")
        assert a.last_end() == (2, "FINISHED")


def _savepoint_exchange(a: Any, b: Any, heartbeat: Any) -> None:
    """``b`` leads; ``a`` asks it for savepoints through the group: one request at a time, answered by id."""
    epoch = b.view.epoch
    assert a.ask_savepoint("r1", "/sp/one", epoch)
    heartbeat()
    assert b.asked_savepoints(epoch) == [("r1", "/sp/one")]
    assert b.asked_savepoints(epoch + 1) == []  # asked of this term's leader only
    b.answer_savepoint("r1", {"path": "/sp/one/savepoint-1"})
    heartbeat()
    assert a.savepoint_answer("r1") == {"id": "r1", "path": "/sp/one/savepoint-1"}
    assert a.savepoint_answer("r2") is None and b.asked_savepoints(epoch) == []
    assert a.ask_savepoint("r2", "/sp/two", epoch)
    heartbeat()
    b.answer_savepoint("r2", {"error": "savepoints need checkpointing"})
    heartbeat()
    assert a.savepoint_answer("r2") == {"id": "r2", "error": "savepoints need checkpointing"}


def test_savepoints_asked_through_a_follower_reach_the_leader_on_the_log(tmp_path: Path) -> None:
    with open_log(f"file://{tmp_path}/log") as log:
        b = JobGroup(log, "j", "b", {"slots": 1}, 5000)
        a = JobGroup(log, "j", "c", {"slots": 1}, 5000)
        assert b.heartbeat().leader == "b" and a.heartbeat().leader == "b"
        assert a.ask_savepoint("r0", "/sp/zero", b.view.epoch)
        assert not a.ask_savepoint("rx", "/sp/x", b.view.epoch)  # r0 is pending: ask again later
        b.answer_savepoint("r0", {"path": "/sp/zero/savepoint-1"})

        def heartbeat() -> None:
            a.heartbeat()
            b.heartbeat()

        _savepoint_exchange(a, b, heartbeat)


@pytest.mark.kafka
def test_savepoints_asked_through_a_follower_reach_the_leader_on_kafka(kafka_bootstrap: str, kafka_topic: Any) -> None:
    from millstream.runtime.scaleout.kafka_group import KafkaJobGroup

    job = kafka_topic("sp-job")
    with open_log(f"kafka://{kafka_bootstrap}") as log:
        one = KafkaJobGroup(log, job, "one", {"slots": 1}, 2000)
        two = KafkaJobGroup(log, job, "two", {"slots": 1}, 2000)

        def heartbeat() -> None:
            for _ in range(3):  # (a fetch returns what the broker has; heartbeats also read the control topic)
                one.heartbeat()
                two.heartbeat()

        def agreed() -> bool:  # (the group may move the lead while the second member joins)
            heartbeat()
            return one.view.leader == two.view.leader != "" and len(one.view.members) == 2

        wait_for(agreed, 60, "both members agreeing on a leader")
        b, a = (one, two) if one.view.leader == "one" else (two, one)
        _savepoint_exchange(a, b, heartbeat)
        a.leave()
        b.leave()


@pytest.mark.kafka
def test_a_leader_killed_inside_its_term_claim_hides_no_later_term_on_kafka(
    kafka_bootstrap: str, kafka_topic: Any
) -> None:
    """An instance killed inside the transaction that claims its term leaves that transaction open; the next
    leader's claim (``init_transactions`` on the group's transactional id) aborts it, so the new term is what
    every ``read_committed`` reader of the log's state sees. (Claims with a fresh transactional id each left the
    open one in place: on the test broker no later term became visible.)"""
    from millstream.runtime.scaleout.kafka_group import KafkaJobGroup

    job = kafka_topic("claim-job")
    url = f"kafka://{kafka_bootstrap}"
    die = (
        "import os, sys\n"
        "from millstream.log import open_log\n"
        "txn = open_log(sys.argv[1]).transaction(sys.argv[2])\n"
        "txn.put_state(sys.argv[3], b'41')\n"
        "txn.flush()\n"  # the claim is on the broker, in an open transaction
        "os.kill(os.getpid(), 9)\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", die, url, f"millstream-job-group.{job}", f"job-group/{job}/term"],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        timeout=60,
    )
    assert killed.returncode == -signal.SIGKILL
    with open_log(url) as log:
        group = KafkaJobGroup(log, job, "next", {"slots": 1}, 2000)
        wait_for(lambda: group.heartbeat().leader == "next", 60, "the next leader's claim")
        with open_log(url) as reader:
            assert reader.get_state(f"job-group/{job}/term") == str(group.term()).encode()
        group.leave()


def test_one_job_in_the_registry_and_control_through_a_follower(tmp_path: Path, instances: Any) -> None:
    """The registry lists a reactive job once, with its instances and the leader's REST address; Flink's savepoint
    (``POST /jobs/{id}/savepoints``) and cancel (``PATCH /jobs/{id}?mode=cancel``) sent to a follower's REST API
    are carried out by the leader for the whole job; ``millstream jobs list`` shows one row."""
    from millstream.observe.rest_client import JobRestClient
    from millstream.runtime.checkpoint_storage import load_checkpoint
    from millstream.runtime.job_registry import JobRegistry

    url, out, ckpt = _setup(tmp_path, "control")
    group = instances(url, out, ckpt)
    leader = group.start(pause_s=0.01)
    with open_log(url) as log:
        wait_for(lambda: _term(log) >= 1, 60, "the first instance's lead")
    follower = group.start(pause_s=0.01)

    def entries() -> list[Any]:
        with open_log(url) as log:
            return [e for e in JobRegistry(log).running() if e.job_id == "rj"]

    def both_listed() -> bool:
        found = entries()
        pids = {i["pid"] for e in found for i in e.instances if i.get("rest")}
        return len(found) == 1 and pids == {leader.pid, follower.pid}

    wait_for(both_listed, 60, "one registry entry naming both instances with their REST addresses")
    entry = entries()[0]
    lead = next(i for i in entry.instances if i["leader"])
    assert lead["pid"] == leader.pid and entry.rest == lead["rest"]
    listed = subprocess.run(
        [sys.executable, "-m", "millstream", "jobs", "list", "--log", url],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if entry.jid in line]
    assert len(rows) == 1 and "2 instances" in rows[0], listed.stdout
    described = subprocess.run(
        [sys.executable, "-m", "millstream", "jobs", "describe", entry.jid[:8], "--log", url],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert described.returncode == 0, described.stderr
    assert "runs on:    2 instances (reactive)" in described.stdout, described.stdout
    assert f"(pid {leader.pid}, 1 slot(s), leader)" in described.stdout
    assert f"(pid {follower.pid}, 1 slot(s), follower)" in described.stdout

    at_follower = JobRestClient(next(i["rest"] for i in entry.instances if i["pid"] == follower.pid))
    trigger = at_follower.trigger_savepoint(entry.jid, str(tmp_path / "savepoints"))
    location = at_follower.wait_savepoint(entry.jid, trigger, 60)
    assert Path(location).is_relative_to(tmp_path / "savepoints")
    assert load_checkpoint(Path(location)).blobs  # a whole savepoint, written by the leader

    at_follower.cancel(entry.jid)
    group.wait(60)
    assert leader.returncode == 0 and follower.returncode == 0, group.logs()
    with open_log(url) as log:
        assert orjson.loads(log.get_state("job-group/rj/end") or b"{}")["status"] == "CANCELED"


def kafka_job(tmp_path: Path, url: str, src: str, out: str, guarantee: str, n: int) -> Path:
    """A pipeline file: ``{page, i}`` events → throttle → key_by page → ``{i}`` → a Kafka topic."""
    job = tmp_path / "kafka_job.py"
    job.write_text(
        "import os\n"
        "from millstream import RestartStrategies, StreamExecutionEnvironment\n"
        "from millstream.connectors import DeliveryGuarantee, LogSink, LogSource, OffsetsInitializer\n"
        "from tests.parallel.crash_job import throttled\n\n"
        "def build(env: StreamExecutionEnvironment) -> None:\n"
        "    env.enable_checkpointing(300)\n"
        "    env.set_batch_size(64)\n"
        "    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(1000, 200))\n"
        f"    src = LogSource.builder().set_topics({src!r}).set_group_id('rx').set_value_format('json')"
        ".set_starting_offsets(OffsetsInitializer.earliest()).set_bounded(OffsetsInitializer.latest()).build()\n"
        "    (env.from_source(src, None, 'in').uid('in').map(throttled(0.004)).uid('slow')\n"
        "        .key_by(lambda e: e['page']).map(lambda e: {'i': e['i']}).uid('ids')\n"
        f"        .sink_to(LogSink.builder().set_topic({out!r}).set_value_format('json')"
        f".set_delivery_guarantee(DeliveryGuarantee.{guarantee}).build()).uid('sink'))\n"
    )
    with open_log(url) as log:
        log.create_topic(src, 4)
        log.create_topic(out, 2)
        for p in range(4):
            recs = [ProducerRecord(orjson.dumps({"page": f"/p{i % 5}", "i": i}), None, None) for i in range(p, n, 4)]
            log.append(src, p, recs)
    return job


def read_ids(url: str, topic: str) -> list[int]:
    with open_log(url) as log:
        recs = [r for p in range(2) for r in log.read(topic, p, 0, max_records=100_000, timeout_ms=2000)]
    return sorted(orjson.loads(r.value)["i"] for r in recs)


@pytest.mark.kafka
def test_two_instances_share_one_job_on_kafka(
    tmp_path: Path, kafka_bootstrap: str, instances: Any, kafka_topic: Any
) -> None:
    """On the test broker: Kafka's group protocol elects the leader, the control topic carries heartbeats, and a
    second instance rescales the job to 2; every event is counted exactly once."""
    url = f"kafka://{kafka_bootstrap}"
    src, out = kafka_topic("rx-in"), kafka_topic("rx-out")
    job = kafka_job(tmp_path, url, src, out, "EXACTLY_ONCE", 2000)
    group = instances(url, tmp_path / "unused", tmp_path / "ckpt", job)
    group.start()
    with open_log(url) as log:
        wait_for(lambda: log.get_state("job-group/rj/term") is not None, 60, "the first instance's lead")
    group.start()
    group.wait(180)
    assert [p.returncode for p in group.procs] == [0, 0], group.logs()
    assert 2 in checkpoints_at_any(tmp_path / "ckpt", "in"), group.logs()
    assert read_ids(url, out) == list(range(2000))


@pytest.mark.kafka
def test_at_least_once_on_kafka_with_instances_killed_loses_nothing(
    tmp_path: Path, kafka_bootstrap: str, instances: Any, kafka_topic: Any
) -> None:
    """3 instances on the test broker, random kill -9s (with replacements): every event reaches the output at
    least once; the duplicates (replayed since the last checkpoint) are counted and printed. 3 kills by default;
    ``MILLSTREAM_REACTIVE_KILLS=30`` is the issue's bar (the input grows with the kills, so all of them happen
    while the job runs)."""
    kills = int(os.environ.get("MILLSTREAM_REACTIVE_KILLS", "3"))
    url = f"kafka://{kafka_bootstrap}"
    src, out = kafka_topic("rk-in"), kafka_topic("rk-out")
    n = max(3000, 400 * kills)  # (enough input that the kills, 2 to 4 s apart, happen while the job runs)
    job = kafka_job(tmp_path, url, src, out, "AT_LEAST_ONCE", n)
    group = instances(url, tmp_path / "unused", tmp_path / "ckpt", job)
    for _ in range(3):
        group.start()
    with open_log(url) as log:
        wait_for(lambda: log.get_state("job-group/rj/term") is not None, 60, "a leader")
    done = group.kill_at_random(kills, random.Random(11), (2.0, 4.0))
    group.wait(300)
    assert all(p.returncode in (0, -signal.SIGKILL) for p in group.procs), group.logs()
    ids = read_ids(url, out)
    print(f"{done} kill -9s: {len(ids)} records for {n} events, {len(ids) - len(set(ids))} duplicates")
    assert done == kills, "the job ended before all the kills"
    assert set(ids) == set(range(n))


def checkpoints_at_any(ckpt: Path, uid: str) -> list[int]:
    out = []
    for d in sorted(ckpt.glob("*/chk-*")):
        try:
            payload = __import__("pickle").loads(load_checkpoint(d).blobs[uid])
        except Exception:
            continue
        out.append(int(payload.get("parallelism", 1)))
    return out


def _leader_and_follower(log: Any, job: str, ids: tuple[str, str], session_ms: int) -> tuple[Any, Any]:
    """Two :class:`KafkaJobGroup` members of ``job`` with the instance ids ``ids``, heartbeating until both see
    the same leader and each other: ``(leader, follower)``."""
    from millstream.runtime.scaleout.kafka_group import KafkaJobGroup

    one, two = (KafkaJobGroup(log, job, i, {"slots": 1}, session_ms) for i in ids)

    def agreed() -> bool:
        one.heartbeat()
        two.heartbeat()
        return one.view.leader == two.view.leader != "" and len(one.view.members) == 2

    wait_for(agreed, 60, "both members agreeing on a leader")
    return (one, two) if one.view.leader == one.instance_id else (two, one)


@pytest.mark.kafka
def test_a_lost_leader_is_succeeded_before_the_group_evicts_it_on_kafka(kafka_bootstrap: str, kafka_topic: Any) -> None:
    """Succession on its own: while the leader's consumer still holds the control partition (its session has not
    expired), a follower told it is lost claims the next term; every instance then sees the new leader, the old
    one stands by when it sees the newer term, and a partition holder does not claim over a live leader."""

    job = kafka_topic("lost-job")
    with open_log(f"kafka://{kafka_bootstrap}") as log:
        old, heir = _leader_and_follower(log, job, ("a-one", "b-two"), 10_000)
        term = old.view.epoch
        heir.lost(old.instance_id)  # what a follower does when the leader's slot server refuses connections
        view = heir.heartbeat()
        assert (view.leader, view.epoch, view.members) == (heir.instance_id, term + 1, [heir.instance_id])
        assert log.get_state(f"job-group/{job}/term") == str(term + 1).encode()

        def old_stands_by() -> bool:
            heir.heartbeat()
            return old.heartbeat().leader == heir.instance_id

        wait_for(old_stands_by, 60, "the old leader seeing the new term")
        assert old.term() == term + 1 and not old.is_leader
        for _ in range(3):  # the old leader may still hold the partition: it does not claim over a live leader
            old.heartbeat()
            assert heir.heartbeat().leader == heir.instance_id and heir.view.epoch == term + 1
        old.leave()
        heir.leave()


def _kafka_leader_pid(url: str, job: str = "rj") -> int:
    """The pid of the instance whose latest heartbeat on the job's control topic says it leads (0: none yet)."""
    with open_log(url) as log:
        topic = f"__millstream_job.{job}"
        end = log.latest_offset(topic, 0)
        for r in reversed(log.read(topic, 0, max(0, end - 200), max_records=200, timeout_ms=500)):
            body = orjson.loads(r.value or b"{}")
            if body.get("kind") == "heartbeat" and body.get("leader"):
                return int(body["info"]["pid"])
    return 0


@pytest.mark.kafka
@pytest.mark.parametrize("claimant_beats", [True, False], ids=["claimant-heartbeats", "claimant-dies"])
def test_an_instance_started_just_after_a_loss_defers_to_the_successor_it_has_not_seen_on_kafka(
    kafka_bootstrap: str, kafka_topic: Any, claimant_beats: bool
) -> None:
    """Two successors: a follower finds the leader lost and claims the next term; an instance started just after
    the loss, whose id sorts first, has read the loss but not yet the follower's claim (its heartbeat is on the
    way). It finds the log's term newer than every term in the heartbeats it read and defers: one new term, not
    two, and it stands by when the follower's heartbeat comes. Should the claimant die before its first heartbeat,
    the instance that then holds the group's partition claims over its term."""
    from millstream.runtime.scaleout.kafka_group import KafkaJobGroup

    session_ms = 3000
    job = kafka_topic("two-heirs")
    with open_log(f"kafka://{kafka_bootstrap}") as log:
        old, heir = _leader_and_follower(log, job, ("b-one", "c-two"), session_ms)
        term = old.view.epoch
        heir.lost(old.instance_id)
        late = KafkaJobGroup(log, job, "a-late", {"slots": 1}, session_ms)  # reads the loss; sorts first
        claimed = heir._claim(succession=True)  # the follower's claim, its heartbeat not yet sent
        assert claimed == term + 1
        assert late.heartbeat().leader == ""  # deferred: no claim over a term it has not seen
        assert log.get_state(f"job-group/{job}/term") == str(term + 1).encode()
        if claimant_beats:
            heir._epoch = claimed
            assert heir.heartbeat().leader == heir.instance_id
            wait_for(lambda: late.heartbeat().leader == heir.instance_id, 30, "the late instance seeing the heir")
            assert log.get_state(f"job-group/{job}/term") == str(term + 1).encode() and not late.is_leader
        else:  # the claimant dies before its first heartbeat (as the old leader: the group moves the partition)
            heir.leave()
            old.leave()
            wait_for(lambda: late.heartbeat().leader == late.instance_id, 60, "the late instance's claim")
            assert log.get_state(f"job-group/{job}/term") == str(term + 2).encode()
        for g in (old, heir, late) if claimant_beats else (late,):
            g.leave()


@pytest.mark.kafka
def test_a_killed_leader_is_succeeded_at_once_and_the_output_stays_exactly_once_on_kafka(
    tmp_path: Path, kafka_bootstrap: str, instances: Any, kafka_topic: Any
) -> None:
    """kill -9 of the leader of 2 instances on the test broker (and a replacement started, as an operator would):
    the follower finds the leader's slot server refusing connections and takes the job over in a new term without
    waiting for the group to evict the dead member; the instance that later holds the group's partition does not
    claim over it, nor does any instance when the job ends (the job ends in the next term), and every event is in
    the output exactly once."""
    url = f"kafka://{kafka_bootstrap}"
    src, out = kafka_topic("rl-in"), kafka_topic("rl-out")
    n = 4000
    job = kafka_job(tmp_path, url, src, out, "EXACTLY_ONCE", n)
    group = instances(url, tmp_path / "unused", tmp_path / "ckpt", job)
    group.start()
    group.start()
    wait_for(lambda: 2 in checkpoints_at_any(tmp_path / "ckpt", "in"), 120, "a checkpoint at parallelism 2")
    with open_log(url) as log:
        term = int(log.get_state("job-group/rj/term") or b"0")  # (the job id's terms go on over the session's tests)
    lead = _kafka_leader_pid(url)
    victim = next(p for p in group.procs if p.pid == lead)
    victim.kill()
    victim.wait(10)
    group.start()
    group.wait(240)
    assert victim.returncode == -signal.SIGKILL
    assert all(p.returncode == 0 for p in group.procs if p is not victim), group.logs()
    assert "is gone (its slot server refuses connections)" in group.logs(), group.logs()
    with open_log(url) as log:
        assert log.get_state("job-group/rj/term") == str(term + 1).encode(), group.logs()
    assert read_ids(url, out) == list(range(n))


@pytest.mark.kafka
def test_the_first_instance_claims_the_lead_before_the_group_assigns_anything_on_kafka(
    kafka_bootstrap: str, kafka_topic: Any
) -> None:
    """The group's first assignment takes seconds (half the session timeout on the test broker; Apache Kafka's
    ``group.initial.rebalance.delay.ms``, 3 s by default): the job's first instance, seeing no other, claims the
    first term at its first heartbeat instead. Two instances claiming together end with one leader, the newer
    term, which both see; the other stands by, and does not claim again when the group assigns it the
    partition."""
    from millstream.log.kafka import KafkaLog
    from millstream.runtime.scaleout.kafka_group import KafkaJobGroup

    job = kafka_topic("first-job")
    # a 10 s session: the first assignment waits 5 s on the test broker, longer than this whole first heartbeat
    with KafkaLog(kafka_bootstrap) as log:
        one = KafkaJobGroup(log, job, "one", {"slots": 1}, 10_000)
        view = one.heartbeat()
        assert not one._election.assigned, "the group assigned the control partition before the first heartbeat"
        assert (view.leader, view.epoch) == ("one", 1)
        assert log.get_state(f"job-group/{job}/term") == b"1"
        one.leave()

    job = kafka_topic("first-two")
    with KafkaLog(kafka_bootstrap) as log:
        one = KafkaJobGroup(log, job, "one", {"slots": 1}, 10_000)
        two = KafkaJobGroup(log, job, "two", {"slots": 1}, 10_000)  # (started together: neither sees the other)
        one.heartbeat()
        two.heartbeat()

        def agreed() -> bool:
            one.heartbeat()
            two.heartbeat()
            return one.view.leader == two.view.leader != "" and one.view.epoch == two.view.epoch

        wait_for(agreed, 60, "both instances agreeing on a leader")
        leader, other = (one, two) if one.view.leader == "one" else (two, one)
        term = leader.view.epoch
        assert log.get_state(f"job-group/{job}/term") == str(term).encode()
        wait_for(lambda: leader._election.assigned and other._election.assigned, 60, "the group's assignment")
        for _ in range(5):  # whichever holds the partition now, the lead stays where it is
            other.heartbeat()
            assert leader.heartbeat().leader == leader.instance_id and leader.view.epoch == term
            assert not other.is_leader
        one.leave()
        two.leave()
