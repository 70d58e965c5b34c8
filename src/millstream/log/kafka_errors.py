"""Turning librdkafka errors into millstream's error tree, with messages that name the cluster and the fix."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, KafkaException

from ..core.errors import (
    BrokerError,
    BrokerTimeoutError,
    ConfigError,
    LogError,
    MillstreamError,
    TopicExistsError,
    TransactionError,
    UnknownTopicError,
)


class RecordTooLargeError(LogError):
    """A record is larger than the producer or broker accepts (``message.max.bytes``)."""


_UNREACHABLE = {
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._TIMED_OUT,
    KafkaError._RESOLVE,
    KafkaError._MSG_TIMED_OUT,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError._WAIT_COORD,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
}
_UNKNOWN_TOPIC = {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION}
_BAD_CONFIG = {
    KafkaError.INVALID_CONFIG,
    KafkaError.INVALID_PARTITIONS,
    KafkaError.INVALID_REPLICATION_FACTOR,
    KafkaError.TOPIC_EXCEPTION,
    KafkaError.POLICY_VIOLATION,
    KafkaError._INVALID_ARG,
}
_TOO_LARGE = {KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE}


def kafka_error_of(exc: BaseException | KafkaError) -> KafkaError | None:
    """The ``KafkaError`` inside a ``KafkaException`` (or the error itself), else ``None``."""
    if isinstance(exc, KafkaError):
        return exc
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def translate(
    exc: BaseException | KafkaError,
    bootstrap: str,
    what: str,
    *,
    topic: str | None = None,
    transactional: bool = False,
) -> MillstreamError:
    """A millstream error for a librdkafka error that happened while doing ``what`` (e.g. "create topic x")."""
    if isinstance(exc, MillstreamError):
        return exc
    err = kafka_error_of(exc)
    if err is None:
        return BrokerError(f"{what} failed on the Kafka cluster at {bootstrap}: {exc}")
    code = err.code()
    text = f"{err.name()}: {err.str()}"
    if code in _UNKNOWN_TOPIC and topic is not None:
        return UnknownTopicError(topic)
    if code == KafkaError.TOPIC_ALREADY_EXISTS and topic is not None:
        return TopicExistsError(topic)
    if code in _BAD_CONFIG:
        return ConfigError(f"{what} was rejected by the Kafka cluster at {bootstrap}: {text}")
    if code in _TOO_LARGE:
        return RecordTooLargeError(
            f"{what}: a record is too large for the Kafka cluster at {bootstrap} ({text})",
            hint="raise message.max.bytes on the producer (properties) and max.message.bytes on the topic",
        )
    if code in _UNREACHABLE:
        return BrokerError(
            f"{what}: cannot reach the Kafka cluster at {bootstrap} ({text})",
            hint="check that the bootstrap servers are right and the brokers are up; "
            "security settings (security.protocol, sasl.*, ssl.*) go in properties",
        )
    if transactional or (hasattr(err, "txn_requires_abort") and err.txn_requires_abort()):
        return TransactionError(f"{what} failed on the Kafka cluster at {bootstrap}: {text}")
    if code in (
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError._AUTHENTICATION,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    ):
        return BrokerError(
            f"{what}: the Kafka cluster at {bootstrap} refused access ({text})",
            hint="check the credentials and ACLs (sasl.username, sasl.password, ssl.* in properties)",
        )
    return BrokerError(f"{what} failed on the Kafka cluster at {bootstrap}: {text}")


def make_client(factory: Any, conf: dict[str, Any], what: str) -> Any:
    """Create a librdkafka client; a bad property becomes a :class:`ConfigError` naming it."""
    try:
        return factory(conf)
    except (KafkaException, ValueError, TypeError) as exc:
        err = kafka_error_of(exc) if isinstance(exc, KafkaException) else None
        text = err.str() if err is not None else str(exc)
        raise ConfigError(
            f"cannot create the Kafka {what}: {text}",
            hint="check the client properties (librdkafka names, e.g. security.protocol, sasl.mechanism)",
        ) from exc


def unreachable(bootstrap: str, what: str, timeout_s: float, detail: Any = None) -> BrokerTimeoutError:
    """The error for "no answer from the cluster within the timeout"."""
    extra = f" ({detail})" if detail else ""
    return BrokerTimeoutError(
        f"{what}: no answer from the Kafka cluster at {bootstrap} within {timeout_s:g} s{extra}",
        hint="check that the bootstrap servers are right and the brokers are up, or raise timeout_ms",
    )


__all__ = ["RecordTooLargeError", "kafka_error_of", "make_client", "translate", "unreachable"]
