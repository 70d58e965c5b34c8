"""Prometheus exposition of a :class:`~millstream.observe.registry.MetricRegistry`, named as Flink's
Prometheus reporter names metrics.

Names: ``flink_taskmanager_job_task_operator_<metric>`` for vertex metrics and ``flink_jobmanager_job_<metric>``
for job metrics (checkpoints, restarts, uptime) and ``millstream_<metric>`` with the label ``scope`` for sensors
that belong to no job (Connect workers: ``millstream_source_record_poll_total{scope="connect.src.0"}``); every
character outside ``[A-Za-z0-9_:]`` replaced by ``_``
(so ``records-lag-max`` is ``flink_taskmanager_job_task_operator_records_lag_max``). Labels as Flink's:
``job_id``, ``job_name`` and, for vertex metrics, ``task_id``/``operator_id`` (the vertex id),
``task_name``/``operator_name`` (the vertex name) and ``subtask_index``. Every metric is exposed as a gauge,
as Flink's reporter does for counters too (values are read at scrape time; rates are already per second).
Dashboards and alerts written for Flink's reporter therefore work unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .registry import MetricRegistry

VERTEX_PREFIX = "flink_taskmanager_job_task_operator_"
JOB_PREFIX = "flink_jobmanager_job_"
_VERTEX_LABELS = ["job_id", "job_name", "task_id", "task_name", "operator_id", "operator_name", "subtask_index"]
_JOB_LABELS = ["job_id", "job_name"]
_BAD = re.compile(r"[^A-Za-z0-9_:]")


OTHER_PREFIX = "millstream_"


def prometheus_name(metric: str, job_level: bool, other: bool = False) -> str:
    """The Prometheus name of a millstream/Flink metric name (``other``: a sensor of no job)."""
    prefix = OTHER_PREFIX if other else JOB_PREFIX if job_level else VERTEX_PREFIX
    return prefix + _BAD.sub("_", metric)


class RegistryCollector:
    """A prometheus-client collector that reads the registry at every scrape."""

    def __init__(self, registry: MetricRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        families: dict[str, Any] = {}
        for sc, name, value in self.registry.snapshot():
            pname = prometheus_name(name, sc.is_job, sc.is_other)
            fam = families.get(pname)
            if fam is None:
                labels = ["scope"] if sc.is_other else _JOB_LABELS if sc.is_job else _VERTEX_LABELS
                fam = families[pname] = GaugeMetricFamily(pname, f"metric {name}", labels=labels)
            if sc.is_other:
                fam.add_metric([sc.other], value)
            elif sc.is_job:
                fam.add_metric([sc.job_id, sc.job_name], value)
            else:
                v = sc.vertex_id
                fam.add_metric(
                    [sc.job_id, sc.job_name, v, sc.vertex_name, v, sc.vertex_name, str(sc.subtask_index)], value
                )
        yield from families.values()


def prometheus_text(registry: MetricRegistry) -> bytes:
    """The registry in Prometheus' text exposition format (what ``GET /metrics`` returns)."""
    from prometheus_client import CollectorRegistry, generate_latest

    reg = CollectorRegistry(auto_describe=False)
    reg.register(RegistryCollector(registry))
    return generate_latest(reg)


__all__ = ["JOB_PREFIX", "OTHER_PREFIX", "VERTEX_PREFIX", "RegistryCollector", "prometheus_name", "prometheus_text"]
