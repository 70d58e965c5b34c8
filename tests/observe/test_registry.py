"""The registry's scopes and meters (Flink's MeterView arithmetic)."""

from __future__ import annotations

from collections import deque

from millstream.observe.registry import MetricRegistry, summary

TAGS = {"job_id": "j1", "job_name": "job", "vertex_id": "v1", "vertex_name": "map", "subtask_index": "0"}


def test_same_name_and_scope_is_one_metric_and_counters_add() -> None:
    reg = MetricRegistry()
    a = reg("numRecordsIn", "job.map", TAGS)
    assert reg("numRecordsIn", "job.map", TAGS) is a
    a.inc(5)
    a.inc(7)
    reg("currentInputWatermark", "job.map", TAGS).set(42)
    reg("lastCheckpointDuration", "job", {"job_id": "j1", "job_name": "job"}).set(9)
    assert reg.values("j1", "v1") == {
        "numRecordsIn": 12,
        "numRecordsInPerSecond": reg.values("j1", "v1")["numRecordsInPerSecond"],
        "currentInputWatermark": 42,
    }
    assert reg.values("j1") == {"lastCheckpointDuration": 9}
    assert reg.jobs() == {"j1": "job"}
    view = summary(reg)["j1"]
    assert view["name"] == "job" and view["job"] == {"lastCheckpointDuration": 9}
    assert view["vertices"]["v1"]["name"] == "map" and view["vertices"]["v1"]["numRecordsIn"] == 12


def test_meter_is_the_increase_over_the_span() -> None:
    reg = MetricRegistry(meter_span_s=5)
    m = reg("numRecordsOut", "x", TAGS)
    m.samples = deque([(0.0, 0.0), (1.0, 100.0), (2.0, 200.0), (10.0, 1000.0)])
    m.value = 1000.0
    assert m.rate(now=10.0) == (1000 - 200) / 5  # the value at the span's start is the sample at t=2
    assert m.rate(now=20.0) == 0.0  # nothing new for a whole span
    young = reg("numRecordsIn", "x", TAGS)
    young.samples = deque([(100.0, 0.0), (102.0, 50.0)])
    young.value = 50.0
    assert young.rate(now=104.0) == 50 / 4  # younger than the span: over its age


def test_sensors_of_no_job_are_kept_apart_and_exposed_with_their_scope() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from millstream.observe.prometheus import prometheus_text

    reg = MetricRegistry()
    reg("source-record-poll-total", "connect.src.0", {}).inc(40)
    reg("numRecordsIn", "job.map", TAGS).inc(3)
    assert reg.other("connect.src.0") == {"source-record-poll-total": 40}
    assert reg.jobs() == {"j1": "job"} and list(summary(reg)) == ["j1"]
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(prometheus_text(reg).decode())
        for s in fam.samples
    }
    assert samples[("millstream_source_record_poll_total", (("scope", "connect.src.0"),))] == 40
    vertex_labels = {
        "job_id": "j1",
        "job_name": "job",
        "task_id": "v1",
        "task_name": "map",
        "operator_id": "v1",
        "operator_name": "map",
        "subtask_index": "0",
    }
    key = ("flink_taskmanager_job_task_operator_numRecordsIn", tuple(sorted(vertex_labels.items())))
    assert samples[key] == 3
