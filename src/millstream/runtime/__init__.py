"""millstream.runtime: runs job graphs built with :mod:`millstream.stream` on this machine.

Importing it registers :func:`millstream.runtime.job.execute` as the stream layer's executor (the stream
layer may not import the runtime, so the runtime plugs itself in); ``import millstream`` does this.
"""

from ..stream.environment import register_executor
from . import connector_bridge as _connector_bridge  # noqa: F401 - registers the connector binder
from .job import JobClient, JobExecutionResult, JobRunner, SourceDriver, execute
from .sinks import CollectOperator, make_sink
from .sources import Fault, Pause, SourceReader, make_reader

register_executor(execute)

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
