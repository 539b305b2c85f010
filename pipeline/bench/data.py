"""Synthetic benchmark traffic: realistic conversations as batch records, fast to generate."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from kafka import KafkaProducer

from schemas.records import BATCH_FORMAT
from schemas.topics import EVENTS, partition_for

__all__ = ["SyntheticEvents"]

_START = datetime(2026, 11, 2, tzinfo=UTC)
_TEXTS = (
    "Bila jalan ini akan dibaiki?",
    "Is the clinic open on Saturday?",
    "Terima kasih atas makluman.",
    "Where do I renew my passport?",
)


class SyntheticEvents:
    """Posts (10 %), citizen questions (50 %), agency replies (15 %) and reactions (25 %), ~300 bytes each.

    Events are built as dicts (the canonical JSON), grouped per partition into batch records exactly as
    :class:`connectors.core.publisher.Publisher` sends them.
    """

    def __init__(self, partitions: int, batch_events: int, seed: int) -> None:
        self._partitions = partitions
        self._batch = batch_events
        self._rng = random.Random(seed)  # noqa: S311 - reproducible load, not cryptography
        self._n = 0

    def produce(self, bootstrap: str, events: int) -> None:
        """Send ``events`` events as fast as Kafka takes them."""
        producer = _producer(bootstrap)
        sent = 0
        while sent < events:
            sent += self._send(producer, min(self._batch * self._partitions, events - sent))
        producer.flush()
        producer.close()

    def produce_paced(self, bootstrap: str, rate: int, seconds: float) -> None:
        """Send ``rate`` events/s for ``seconds``, in small records every 20 ms."""
        producer = _producer(bootstrap)
        step, started, sent = 0.02, time.monotonic(), 0
        while (now := time.monotonic()) - started < seconds:
            due = int((now - started + step) * rate)
            if due > sent:
                sent += self._send(producer, due - sent)
                producer.flush()
            time.sleep(max(0.0, step - (time.monotonic() - now)))  # pacing the load, by design
        producer.close()

    def batch_records(self, count: int) -> list[tuple[int, bytes]]:
        """The next ``count`` events as ``(partition, batch record value)`` pairs, as a connector sends them."""
        per_partition: dict[int, list[dict[str, Any]]] = {}
        for _ in range(count):
            event = self._event()
            key = f"x:{event['account_id']}:{event.get('root_id', event.get('post_id'))}"
            per_partition.setdefault(partition_for(key, self._partitions), []).append(event)
        return [
            (partition, orjson.dumps({"format": BATCH_FORMAT, "events": events[i : i + self._batch]}))
            for partition, events in per_partition.items()
            for i in range(0, len(events), self._batch)
        ]

    def live_events(
        self, accounts: Sequence[tuple[str, str, str]], clock: Callable[[], datetime]
    ) -> Iterator[dict[str, Any]]:
        """The same mix, endless, one event at a time, as a connector sees live traffic (for a paced run).

        Args:
            accounts: ``(platform, agency id, account id)`` triples, e.g. from the agency directory, so the
                publisher knows every account; conversation ``c`` belongs to ``accounts[c % len(accounts)]``.
            clock: each event's time (e.g. ``lambda: datetime.now(UTC)``), so event time moves as live data's.
        """
        while True:
            self._n += 1
            n, roll = self._n, self._rng.random()
            platform, agency_id, account_id = accounts[(n // 40) % len(accounts)]
            head = {
                "schema_version": 1,
                "platform": platform,
                "agency_id": agency_id,
                "account_id": account_id,
                "created_at": clock().isoformat(),
                "source": "bench",
            }
            yield self._shaped(n, roll, head)

    def _send(self, producer: KafkaProducer, count: int) -> int:
        for partition, value in self.batch_records(count):
            producer.send(EVENTS.name, value=value, partition=partition)
        return count

    def _event(self) -> dict[str, Any]:
        self._n += 1
        n, roll = self._n, self._rng.random()
        agency = n % 12
        head = {
            "schema_version": 1,
            "platform": "x",
            "agency_id": f"bench{agency}",
            "account_id": f"9{agency:03d}",
            "created_at": (_START + timedelta(milliseconds=n * 50)).isoformat(),
            "source": "bench",
        }
        return self._shaped(n, roll, head)

    def _shaped(self, n: int, roll: float, head: dict[str, Any]) -> dict[str, Any]:
        """Event ``n`` of the mix (``roll`` picks its type) on ``head``'s account and time."""
        conversation = n // 40
        root = f"p{conversation}"
        platform = head["platform"]
        if roll < 0.10:
            return {
                **head,
                "type": "post",
                "event_id": f"{platform}:e{n}",
                "post_id": f"b{n}",
                "text": _TEXTS[2],
                "links": ["https://bench.gov.my/x"],
            }
        if roll < 0.60:
            return {
                **head,
                "type": "interaction",
                "event_id": f"{platform}:e{n}",
                "kind": "comment",
                "message_id": f"m{n}",
                "root_id": root,
                "parent_id": root,
                "author_id": f"ps1:{n % 5000:032x}",
                "author_role": "citizen",
                "text": _TEXTS[n % 4],
            }
        if roll < 0.75:
            return {
                **head,
                "type": "interaction",
                "event_id": f"{platform}:e{n}",
                "kind": "reply",
                "message_id": f"m{n}",
                "root_id": root,
                "parent_id": f"m{max(n - self._rng.randint(1, 30), conversation * 40)}",
                "author_id": head["account_id"],
                "author_role": "agency",
                "text": _TEXTS[2],
            }
        return {
            **head,
            "type": "reaction",
            "event_id": f"{platform}:e{n}",
            "target_id": root,
            "root_id": root,
            "reaction_type": "like",
            "author_id": f"ps1:{n % 7000:032x}",
        }


def _producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=8 * 1024 * 1024, batch_size=1024 * 1024
    )
