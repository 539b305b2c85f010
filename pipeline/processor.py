"""What the worker does with a batch of records: raw rows, reply matching, response facts.

Open conversations live in memory (a :class:`pipeline.matching.Matcher`); ClickHouse is the durable
copy. After a restart (or with a broker that kept nothing) :meth:`Processor.rebuild` replays the stored
interactions of the lateness window into the matcher, so a reply that arrives after the restart still
matches a message seen before it. Facts are upserts, so replays never double-count.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.agencies import AgencyRegistry
from pipeline.businesstime import business_seconds
from pipeline.matching import Matcher, ResponseFact
from pipeline.metrics import Metrics
from pipeline.sink import DeadLetterRow, RawSink, Record
from pipeline.store import Store
from schemas.events import AuthorRole, Interaction, InteractionKind, Platform

__all__ = ["FACT_COLUMNS", "Processor", "fact_row"]

log = logging.getLogger(__name__)
FACT_COLUMNS = ("message_id", "platform", "agency_id", "account_id", "root_id", "citizen_id", "kind", "asked_at",
                "answered_at", "reply_id", "response_seconds", "business_seconds", "version")
_VERSION_BASE_MS = 2**62
_REBUILD_COLUMNS = ("event_id", "platform", "agency_id", "account_id", "kind", "message_id", "root_id", "parent_id",
                    "author_id", "author_role", "created_at")


def fact_row(fact: ResponseFact) -> tuple[Any, ...]:
    """The ``response_facts`` row; the version grows as answered_at shrinks (earliest reply wins)."""
    version = _VERSION_BASE_MS - int(fact.answered_at.timestamp() * 1000)
    return (fact.message_id, fact.platform, fact.agency_id, fact.account_id, fact.root_id, fact.citizen_id,
            fact.kind, fact.asked_at, fact.answered_at, fact.reply_id, fact.response_seconds,
            fact.business_seconds, version)


@dataclass
class Processor:
    """Stores raw events, matches replies and stores response facts, for one worker process."""

    store: Store
    metrics: Metrics
    agencies: AgencyRegistry
    lateness: timedelta = timedelta(days=7)

    def __post_init__(self) -> None:
        self.sink = RawSink(self.store, self.metrics)
        self.matcher = Matcher(business=self._business, lateness=self.lateness)
        self.facts_total = 0

    def process(self, records: Sequence[Record]) -> list[DeadLetterRow]:
        """Handle one batch of records; return the failures to dead-letter."""
        result = self.sink.write(records)
        self._store_facts(self.matcher.add(result.interactions))
        self.matcher.evict()
        return result.failures

    def rebuild(self) -> int:
        """Replay stored interactions of the lateness window into the matcher; return how many."""
        db = self.store.database
        rows = self.store.query(
            f"SELECT {', '.join(_REBUILD_COLUMNS)} FROM {db}.interactions FINAL "
            f"WHERE created_at >= (SELECT max(created_at) FROM {db}.interactions) - "
            f"toIntervalSecond({int(self.lateness.total_seconds())}) ORDER BY created_at").rows
        events = [_interaction(dict(zip(_REBUILD_COLUMNS, row, strict=True))) for row in rows]
        self._store_facts(self.matcher.add(events))
        log.info("rebuilt %d conversations from %d stored interactions", len(self.matcher), len(events))
        return len(events)

    def _store_facts(self, facts: list[ResponseFact]) -> None:
        if facts:
            self.store.insert("response_facts", FACT_COLUMNS, [fact_row(f) for f in facts])
            self.metrics.rows_stored.labels("response_facts").inc(len(facts))
            self.facts_total += len(facts)

    def _business(self, agency_id: str, start: datetime, end: datetime) -> float:
        return business_seconds(self.agencies.get(agency_id), start, end)


def _interaction(row: dict[str, Any]) -> Interaction:
    created = row["created_at"]
    return Interaction.model_construct(
        event_id=row["event_id"], platform=Platform(row["platform"]), agency_id=row["agency_id"],
        account_id=row["account_id"], kind=InteractionKind(row["kind"]), message_id=row["message_id"],
        root_id=row["root_id"], parent_id=row["parent_id"], author_id=row["author_id"],
        author_role=AuthorRole(row["author_role"]),
        created_at=created if created.tzinfo else created.replace(tzinfo=UTC),
    )
