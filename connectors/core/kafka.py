"""The production record sink: kafka-python with acks=all and the idempotent producer."""

from __future__ import annotations

import logging
import time
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from connectors.core.errors import PublishError

__all__ = ["KafkaRecordSink"]

log = logging.getLogger(__name__)
_Record = tuple[str, int | None, bytes | None, bytes]
_RESENDS = 5
_RESEND_BACKOFF_S = 0.2


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
            # A record not acknowledged within 30 s fails and flush() sends it again from a new producer: a
            # producer stuck on the broker's state (Tansu restarted or a topic recreated under it) recovers in
            # 30 s instead of kafka-python's default 120 s, which outlasted a caller's patience (Ctrl-C waits for
            # the flush). Duplicates cost nothing: the worker's sinks are idempotent.
            "request_timeout_ms": 10_000,
            "delivery_timeout_ms": 30_000,
            "client_id": "serambi-connector",
        }
        config.update(overrides)
        self._config = config
        try:
            self._producer = KafkaProducer(**config)
        except KafkaError as exc:
            msg = f"cannot reach Kafka at {bootstrap_servers}: {exc}; check the broker and retry"
            raise PublishError(msg) from exc
        self._failures: list[tuple[_Record, BaseException]] = []
        self._acked: dict[tuple[str, int], int] = {}

    def send(self, topic: str, partition: int | None, key: bytes | None, value: bytes) -> None:
        """Queue one record; delivery failures surface at the next :meth:`flush`."""
        future = self._producer.send(topic, value=value, key=key, partition=partition)
        future.add_callback(self._ack)
        future.add_errback(self._failed, (topic, partition, key, value))

    def take_acked(self) -> dict[tuple[str, int], int]:
        """The highest acknowledged offset per (topic, partition) since the last call (after a flush: all)."""
        acked, self._acked = self._acked, {}
        return acked

    def _ack(self, metadata: Any) -> None:
        key = (metadata.topic, metadata.partition)
        if metadata.offset > self._acked.get(key, -1):
            self._acked[key] = metadata.offset

    def flush(self) -> None:
        """Wait for every queued record; raise :class:`PublishError` if any failed after re-sends.

        A record the producer gave up on (e.g. Tansu answers "unknown error" while a topic is recreated) is
        sent again a few times with back-off: the worker's sinks are idempotent and order-insensitive, so a
        duplicate or a later position costs nothing, whereas a lost record would.
        """
        self._producer.flush()
        for attempt in range(_RESENDS):
            if not self._failures:
                return
            failed, self._failures = self._failures, []
            log.warning(
                "Kafka refused %d record(s) (%s); sending them again (%d/%d)",
                len(failed),
                failed[0][1],
                attempt + 1,
                _RESENDS,
            )
            time.sleep(_RESEND_BACKOFF_S * 2**attempt)  # back-off before the re-send, by design
            # A new producer: after a topic was recreated, Tansu keeps refusing the old one's sequence.
            self._producer.close(timeout=5)
            self._producer = KafkaProducer(**self._config)
            for (topic, partition, key, value), _ in failed:
                self.send(topic, partition, key, value)
            self._producer.flush()
        if self._failures:
            first, count = self._failures[0][1], len(self._failures)
            self._failures.clear()
            msg = f"{count} record(s) not acknowledged by Kafka (first: {first}); retry"
            raise PublishError(msg, failed=count)

    def _failed(self, record: _Record, exc: BaseException) -> None:
        self._failures.append((record, exc))

    def close(self) -> None:
        """Flush and close the producer."""
        try:
            self.flush()
        finally:
            self._producer.close(timeout=5)
