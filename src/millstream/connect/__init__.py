"""millstream.connect: Kafka Connect's model, config keys, converters, transforms, error handling and REST
API,
in Python, on any millstream log (``memory://``, ``file://``, ``kafka://``).

- API: :class:`SourceConnector`/:class:`SourceTask`, :class:`SinkConnector`/:class:`SinkTask`,
  :class:`ConfigDef` (:mod:`.api`, :mod:`.config`, :mod:`.data`).
- Runtime: :class:`Herder` (connectors, tasks, target states, offsets), :mod:`.worker` (threads),
  :mod:`.storage` (the ``connect-offsets``/``connect-configs``/``connect-status`` topics).
- :mod:`.converters`, :mod:`.transforms`, :mod:`.tolerance` (errors.* and the dead-letter topic),
  :mod:`.rest` (the REST API), :mod:`.plugins` (discovery by class name, alias, entry point).
- Built-in connectors in :mod:`.connectors`: FileStreamSource/Sink, datagen, console sink.
"""

from .api import (
    Connector,
    ConnectorContext,
    ErrantRecordReporter,
    OffsetStorageReader,
    SinkConnector,
    SinkTask,
    SinkTaskContext,
    SourceConnector,
    SourceTask,
    SourceTaskContext,
    Task,
)
from .config import ConfigDef, ConfigValue, Importance, Password, Range, Type, ValidList, ValidString, Width
from .data import Header, Schema, SinkRecord, SourceRecord, source_record
from .errors import (
    AlreadyExistsError,
    BadRequestError,
    ConnectorConfigError,
    DataError,
    NotFoundError,
    PluginNotFoundError,
    RetriableError,
    ToleranceExceededError,
)
from .herder import Herder
from .plugins import ENTRY_POINT_GROUP, REGISTRY

__all__ = [
    "ENTRY_POINT_GROUP",
    "REGISTRY",
    "AlreadyExistsError",
    "BadRequestError",
    "ConfigDef",
    "ConfigValue",
    "Connector",
    "ConnectorConfigError",
    "ConnectorContext",
    "DataError",
    "ErrantRecordReporter",
    "Header",
    "Herder",
    "Importance",
    "NotFoundError",
    "OffsetStorageReader",
    "Password",
    "PluginNotFoundError",
    "Range",
    "RetriableError",
    "Schema",
    "SinkConnector",
    "SinkRecord",
    "SinkTask",
    "SinkTaskContext",
    "SourceConnector",
    "SourceRecord",
    "SourceTask",
    "SourceTaskContext",
    "Task",
    "ToleranceExceededError",
    "Type",
    "ValidList",
    "ValidString",
    "Width",
    "source_record",
]
