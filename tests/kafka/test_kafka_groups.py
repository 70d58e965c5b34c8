"""Consumer groups on Kafka: committed offsets via the AdminClient, and KafkaConsumer with real membership."""

from __future__ import annotations

import threading
import time

import pytest

from millstream.core.errors import ConfigError, UnknownTopicError, WakeupError
from millstream.core.record import ProducerRecord, TopicPartition
from millstream.log.consumer import NoOffsetError
from millstream.log.kafka_consumer import KafkaConsumer
from tests.fixtures.kafka_broker import skip_on_tansu

pytestmark = pytest.mark.kafka


def _fill(log, topic, partitions, per_partition):
    for p in range(partitions):
        log.append(topic, p, [ProducerRecord(b"%d-%d" % (p, i), b"k") for i in range(per_partition)])


def test_commit_list_describe_delete_group(kafka_log, kafka_topic):
    name, group = kafka_topic("g"), kafka_topic("group")
    kafka_log.create_topic(name, 2)
    for i in range(4):
        kafka_log.append(name, 0, [ProducerRecord(b"%d" % i)])
    kafka_log.commit_offsets(group, {TopicPartition(name, 0): 1})
    kafka_log.commit_offsets(group, {TopicPartition(name, 0): 3, TopicPartition(name, 1): 0})
    assert kafka_log.committed_offsets(group) == {TopicPartition(name, 0): 3, TopicPartition(name, 1): 0}
    assert kafka_log.committed_offsets(group, [TopicPartition(name, 1)]) == {TopicPartition(name, 1): 0}
    assert group in kafka_log.list_groups()
    desc = kafka_log.describe_group(group)
    rows = {(r.topic, r.partition): (r.committed, r.earliest, r.latest, r.lag) for r in desc.partitions}
    assert rows == {(name, 0): (3, 0, 4, 1), (name, 1): (0, 0, 0, 0)}
    assert desc.total_lag == 1
    kafka_log.delete_group(group)
    assert group not in kafka_log.list_groups()
    assert kafka_log.committed_offsets(group) == {}
    kafka_log.delete_group(group)  # deleting a missing group is not an error


def test_assigned_consumer_reads_from_committed_offsets_and_commits(kafka_log, kafka_topic):
    name, group = kafka_topic("a"), kafka_topic("group")
    kafka_log.create_topic(name, 2)
    _fill(kafka_log, name, 2, 5)
    kafka_log.commit_offsets(group, {TopicPartition(name, 0): 3})
    with kafka_log.consumer(group) as c:
        assert isinstance(c, KafkaConsumer)
        c.assign([TopicPartition(name, 0), TopicPartition(name, 1)])
        got = []
        deadline = time.monotonic() + 10
        while len(got) < 7 and time.monotonic() < deadline:
            got.extend(c.poll(timeout_ms=200))
        assert sorted((r.partition, r.offset) for r in got) == [(0, 3), (0, 4)] + [(1, i) for i in range(5)]
        assert c.position(TopicPartition(name, 0)) == 5
        assert c.lag() == {TopicPartition(name, 0): 0, TopicPartition(name, 1): 0}
        c.seek(TopicPartition(name, 1), 2)
        again = []
        deadline = time.monotonic() + 10
        while len(again) < 3 and time.monotonic() < deadline:
            again.extend(c.poll(timeout_ms=200))
        assert [(r.partition, r.offset) for r in again] == [(1, 2), (1, 3), (1, 4)]
    # closing committed the positions
    assert kafka_log.committed_offsets(group) == {TopicPartition(name, 0): 5, TopicPartition(name, 1): 5}


def test_auto_offset_reset(kafka_log, kafka_topic):
    name = kafka_topic("reset")
    kafka_log.create_topic(name)
    for i in range(3):  # one record per append: Tansu's high watermark lags behind multi-record batches
        kafka_log.append(name, 0, [ProducerRecord(b"%d" % i)])
    with kafka_log.consumer(kafka_topic("group"), auto_offset_reset="latest") as c:
        c.assign([TopicPartition(name, 0)])
        assert c.poll(timeout_ms=500) == []
        assert c.position(TopicPartition(name, 0)) == 3
    with kafka_log.consumer(kafka_topic("group"), auto_offset_reset="none") as c, pytest.raises(NoOffsetError):
        c.assign([TopicPartition(name, 0)])  # no commit and no reset policy: refused at once
    group = kafka_topic("group")
    with kafka_log.consumer(group, auto_offset_reset="none") as c, pytest.raises(NoOffsetError):
        c.subscribe([name])  # the same when the group assigns the partition
    kafka_log.commit_offsets(group, {TopicPartition(name, 0): 2})
    with kafka_log.consumer(group, auto_offset_reset="none") as c:
        c.subscribe([name])
        assert c.assignment() == [TopicPartition(name, 0)]  # subscribe returns once the group assigned
        assert c.position(TopicPartition(name, 0)) == 2
        assert [r.offset for r in c.poll(timeout_ms=5_000)] == [2]
    with pytest.raises(ConfigError):
        kafka_log.consumer("g", auto_offset_reset="sometimes")


def test_subscribe_checks_topics_and_needs_a_group(kafka_log, kafka_topic):
    with kafka_log.consumer(kafka_topic("group")) as c, pytest.raises(UnknownTopicError):
        c.subscribe([kafka_topic("missing")])
    with kafka_log.consumer() as c, pytest.raises(ConfigError, match="group_id"):
        c.subscribe(["x"])


def _poll_until(consumers, want, seconds=30.0):
    got: dict[int, list] = {i: [] for i in range(len(consumers))}
    deadline = time.monotonic() + seconds
    while sum(len(v) for v in got.values()) < want and time.monotonic() < deadline:
        for i, c in enumerate(consumers):
            got[i].extend(c.poll(timeout_ms=50))
    return got


def test_two_members_share_partitions_with_cooperative_rebalancing(kafka_log, kafka_topic):
    name, group = kafka_topic("coop"), kafka_topic("group")
    kafka_log.create_topic(name, 4)
    _fill(kafka_log, name, 4, 10)
    events: list[tuple[str, str, list[TopicPartition]]] = []

    def listener(who):
        return {
            "on_assign": lambda tps: events.append((who, "assign", sorted(tps))),
            "on_revoke": lambda tps: events.append((who, "revoke", sorted(tps))),
        }

    c1 = kafka_log.consumer(group)
    c1.subscribe([name], **listener("c1"))
    got = _poll_until([c1], 40)
    assert len(got[0]) == 40
    assert sorted(c1.assignment()) == [TopicPartition(name, p) for p in range(4)]
    assert events[0] == ("c1", "assign", [TopicPartition(name, p) for p in range(4)])

    c2 = kafka_log.consumer(group)
    c2.subscribe([name], **listener("c2"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (c1.assignment() and c2.assignment()):
        c1.poll(timeout_ms=50)
        c2.poll(timeout_ms=50)
    a1, a2 = set(c1.assignment()), set(c2.assignment())
    assert a1 and a2 and not (a1 & a2)
    assert a1 | a2 == {TopicPartition(name, p) for p in range(4)}
    # cooperative: c1 gave up only the partitions c2 got, and was never revoked everything at once
    revoked = [tps for who, kind, tps in events if who == "c1" and kind == "revoke"]
    assert revoked and set().union(*map(set, revoked)) == a2
    # revoked partitions were committed before they moved, so c2 starts after what c1 read
    committed = kafka_log.committed_offsets(group, sorted(a2))
    assert committed == dict.fromkeys(sorted(a2), 10)

    # new records are split between the two members, each read exactly once
    _fill(kafka_log, name, 4, 5)
    got = _poll_until([c1, c2], 20)
    assert got[0] and got[1]
    assert {r.partition for r in got[0]} <= {tp.partition for tp in a1}
    assert {r.partition for r in got[1]} <= {tp.partition for tp in a2}
    seen = sorted((r.partition, r.offset) for rs in got.values() for r in rs)
    assert seen == sorted((p, o) for p in range(4) for o in range(10, 15))

    # when c2 leaves, c1 takes its partitions back
    c2.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and set(c1.assignment()) != a1 | a2:
        c1.poll(timeout_ms=50)
    assert set(c1.assignment()) == a1 | a2
    c1.close()
    assert kafka_log.committed_offsets(group) == {TopicPartition(name, p): 15 for p in range(4)}


def test_pattern_subscription_matches_whole_names(kafka_log, kafka_topic):
    base = kafka_topic("pat")
    kafka_log.create_topic(f"{base}-a")
    kafka_log.create_topic(f"{base}-b")
    kafka_log.create_topic(f"{base}-a-ignored")
    for t in (f"{base}-a", f"{base}-b", f"{base}-a-ignored"):
        kafka_log.append(t, 0, [ProducerRecord(t.encode())])
    with kafka_log.consumer(kafka_topic("group")) as c:
        c.subscribe(pattern=rf"{base}-[ab]")
        got = _poll_until([c], 2, seconds=20)
        assert sorted(r.topic for r in got[0]) == [f"{base}-a", f"{base}-b"]
        assert c.poll(timeout_ms=300) == []


def test_group_members_show_assignments(kafka_log, kafka_topic, kafka_on_tansu):
    skip_on_tansu(kafka_on_tansu, "group_members")
    name, group = kafka_topic("members"), kafka_topic("group")
    kafka_log.create_topic(name, 2)
    with kafka_log.consumer(group) as c:
        c.subscribe([name])
        members = kafka_log.group_members(group)
        assert len(members) == 1
        assert sorted(members[0][1]) == [TopicPartition(name, 0), TopicPartition(name, 1)]


def test_a_leader_election_waits_for_a_slow_join_instead_of_failing(kafka_bootstrap, kafka_properties, kafka_topic):
    """The control topic's leader election (reactive jobs, Connect workers on Kafka) keeps joining when the first
    assignment takes longer than the log's timeout (a rebalance waiting for members), instead of raising: the
    member leads once the group has assigned it the partition."""
    from millstream.log.control_topic import LeaderElection
    from millstream.log.kafka import KafkaLog

    topic = kafka_topic("slow-join")
    with KafkaLog(kafka_bootstrap, properties=kafka_properties) as setup:
        setup.create_topic(topic, 1)
    log = KafkaLog(kafka_bootstrap, properties=kafka_properties, timeout_ms=300)  # (a join takes 1 s on Tansu)
    try:
        election = LeaderElection(log, topic, topic, 2000)
        election.leads()  # no error however long the join takes: it goes on
        assert election.joined
        deadline = time.monotonic() + 60
        while not election.leads():
            assert time.monotonic() < deadline, "the member never got the partition"
            time.sleep(0.05)
        election.leave()
    finally:
        log.close()


def test_a_leader_election_joins_no_more_after_it_left(kafka_bootstrap, kafka_topic):
    """A member that left (a worker's shutdown) does not join again when a late heartbeat asks whether it leads:
    the join would start a member in the background that the log's close then closes under it."""
    from millstream.log.control_topic import LeaderElection
    from millstream.log.kafka import KafkaLog

    topic = kafka_topic("left-for-good")
    with KafkaLog(kafka_bootstrap) as log:
        log.create_topic(topic, 1)
        election = LeaderElection(log, topic, topic, 2000)
        deadline = time.monotonic() + 60
        while not election.leads():
            assert time.monotonic() < deadline, "the member never got the partition"
            time.sleep(0.05)
        election.leave()
        members = len(log._all_consumers)
        for _ in range(3):
            assert election.leads() is False
        assert election.joined and len(log._all_consumers) == members


def test_wakeup_ends_a_subscribe_that_waits_for_the_first_assignment(kafka_bootstrap, kafka_topic):
    """A member joining a group waits in ``subscribe`` for its first assignment (half the session timeout on
    Tansu, ``group.initial.rebalance.delay.ms`` on Kafka); ``wakeup()`` from another thread ends that wait with
    ``WakeupError``, so a Connect sink task that is stopped while it joins does not hold its worker's shutdown."""
    from millstream.log.kafka import KafkaLog

    topic = kafka_topic("wakeup-join")
    with KafkaLog(kafka_bootstrap) as log:
        log.create_topic(topic, 1)
        consumer = log.consumer(kafka_topic("g"), properties={"session.timeout.ms": 20_000})
        timer = threading.Timer(0.3, consumer.wakeup)
        timer.start()
        started = time.monotonic()
        with pytest.raises(WakeupError):
            consumer.subscribe([topic])
        assert time.monotonic() - started < 2.5  # the join alone waits 3 s (Kafka) or 10 s (Tansu)
        timer.join()
        consumer.close()


def test_a_leader_election_that_leaves_while_joining_closes_its_member_at_once(kafka_bootstrap, kafka_topic):
    """A shutdown while the election's background join waits for the group's first assignment: ``leave()``
    wakes the join, which closes its member before ``leave()`` returns, so the log's close that follows never
    closes a member under a join still running in another thread (that hung a Connect worker's SIGTERM)."""
    from millstream.log.control_topic import LeaderElection
    from millstream.log.kafka import KafkaLog

    topic = kafka_topic("leave-joining")
    with KafkaLog(kafka_bootstrap) as log:
        log.create_topic(topic, 1)
        members = len(log._all_consumers)
        election = LeaderElection(log, topic, topic, 20_000)  # the join waits 10 s on Tansu
        assert election.leads() is False
        time.sleep(0.3)
        election.leave()  # (librdkafka's close waits for the JoinGroup request in flight, up to 5 s)
        assert election._joining is not None and not election._joining.is_alive()
        assert len(log._all_consumers) == members and not election.assigned
