"""millstream.runtime: runs job graphs built with :mod:`millstream.stream` on this machine.

Importing it registers :func:`millstream.runtime.job.execute` as the stream layer's executor (the stream
layer may not import the runtime, so the runtime plugs itself in); ``import millstream`` does this.
"""

from typing import Any

from ..stream.connector_descriptors import register_connector_binder
from ..stream.environment import register_executor
from ..stream.jdbc_descriptors import register_jdbc_binder
from . import async_io as _async_io  # noqa: F401 (registers the event loop of async I/O operators)
from .job import JobClient, JobExecutionResult, JobRunner, SourceDriver, execute
from .sinks import CollectOperator, make_sink
from .sources import Fault, Pause, SourceReader, make_reader

register_executor(execute)


def _connector_reader(descriptor: Any, clock: Any) -> Any:
    from .connector_bridge import ConnectorReader  # imports millstream.connect: only for jobs with connectors

    return ConnectorReader(descriptor, clock)


def _connector_sink(descriptor: Any, name: str, uid: str | None) -> Any:
    from .connector_bridge import ConnectorSinkOperator

    return ConnectorSinkOperator(name, uid, descriptor)


register_connector_binder("source", _connector_reader)
register_connector_binder("sink", _connector_sink)


def _jdbc_reader(descriptor: Any, clock: Any) -> Any:
    from .jdbc_table import jdbc_reader  # imports millstream.connect only when a SQL jdbc table runs

    return jdbc_reader(descriptor, clock)


def _jdbc_sink(descriptor: Any, name: str, uid: str | None) -> Any:
    from .jdbc_table import jdbc_sink

    return jdbc_sink(descriptor, name, uid)


register_jdbc_binder("source", _jdbc_reader)
register_jdbc_binder("sink", _jdbc_sink)

__all__ = [
    "CollectOperator",
    "Fault",
    "JobClient",
    "JobExecutionResult",
    "JobRunner",
    "Pause",
    "SourceDriver",
    "SourceReader",
    "execute",
    "make_reader",
    "make_sink",
]
