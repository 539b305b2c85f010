"""The production record sink: kafka-python with acks=all and the idempotent producer."""

from __future__ import annotations

import logging
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from connectors.core.errors import PublishError

__all__ = ["KafkaRecordSink"]

log = logging.getLogger(__name__)


class KafkaRecordSink:
    """Sends records to Kafka; :meth:`flush` raises :class:`PublishError` if any was lost.

    Example: ``sink = KafkaRecordSink("127.0.0.1:9092"); sink.send(topic, 0, b"k", b"v"); sink.flush()``.
    """

    def __init__(self, bootstrap_servers: str, **overrides: Any) -> None:
        config: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers.split(","),
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 5,
            "max_request_size": 8 * 1024 * 1024,
            "retries": 10,
            "client_id": "serambi-connector",
        }
        config.update(overrides)
        try:
            self._producer = KafkaProducer(**config)
        except KafkaError as exc:
            msg = f"cannot reach Kafka at {bootstrap_servers}: {exc}; check the broker and retry"
            raise PublishError(msg) from exc
        self._failures: list[BaseException] = []
        self._acked: dict[tuple[str, int], int] = {}

    def send(self, topic: str, partition: int | None, key: bytes | None, value: bytes) -> None:
        """Queue one record; delivery failures surface at the next :meth:`flush`."""
        future = self._producer.send(topic, value=value, key=key, partition=partition)
        future.add_callback(self._ack)
        future.add_errback(self._failures.append)

    def take_acked(self) -> dict[tuple[str, int], int]:
        """The highest acknowledged offset per (topic, partition) since the last call (after a flush: all)."""
        acked, self._acked = self._acked, {}
        return acked

    def _ack(self, metadata: Any) -> None:
        key = (metadata.topic, metadata.partition)
        if metadata.offset > self._acked.get(key, -1):
            self._acked[key] = metadata.offset

    def flush(self) -> None:
        """Wait for every queued record; raise :class:`PublishError` if any failed."""
        self._producer.flush()
        if self._failures:
            first, count = self._failures[0], len(self._failures)
            self._failures.clear()
            msg = f"{count} record(s) not acknowledged by Kafka (first: {first}); retry"
            raise PublishError(msg, failed=count)

    def close(self) -> None:
        """Flush and close the producer."""
        try:
            self.flush()
        finally:
            self._producer.close(timeout=5)
