"""In-memory fakes of the processor's Protocols (inserter, agency lookup, history) and a settable clock."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from pipeline.domain.matching import ConversationKey, conversation_key
from pipeline.errors import StoreError
from schemas.agency import Agency, Directory
from schemas.events import Interaction


class ListInserter:
    """Keeps inserted rows as JSON dicts per table, the way ClickHouse would parse them.

    ``fail_next`` makes that many of the next inserts raise :class:`StoreError` (an outage).
    """

    __test__ = False

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.fail_next = 0

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self._outage()
        stored = [orjson.loads(orjson.dumps(dict(zip(columns, row, strict=True)))) for row in rows]
        self.rows.setdefault(table, []).extend(stored)

    def insert_encoded(self, table: str, columns: Sequence[str], body: bytes) -> None:
        self._outage()
        stored = [orjson.loads(line) for line in body.splitlines()]
        # Raw rows are whole events: ClickHouse skips extra fields, but every column must be there.
        assert all(set(columns) <= set(row) for row in stored), (table, columns)
        self.rows.setdefault(table, []).extend(stored)

    def column(self, table: str, name: str) -> list[Any]:
        """One column of a table's rows, in insert order (empty when nothing was inserted)."""
        return [row[name] for row in self.rows.get(table, [])]

    def _outage(self) -> None:
        if self.fail_next:
            self.fail_next -= 1
            msg = "ClickHouse is down (fake)"
            raise StoreError(msg)


class DirectoryAgencies:
    """The agency lookup over a fixed directory (``KeyError`` for an unknown agency)."""

    __test__ = False

    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    def get(self, agency_id: str) -> Agency:
        return self._directory.get(agency_id)

    def is_account(self, platform: str, account_id: str) -> bool:
        return self._directory.owner_of(platform, account_id) is not None


class ListHistory:
    """Stored interactions as a list; remembers what it was asked.

    ``asked`` holds the (lateness, until) of each :meth:`recent`, ``asked_keys`` the keys of each
    :meth:`conversations`; ``fail_next`` makes that many of the next reads raise :class:`StoreError`.
    """

    __test__ = False

    def __init__(self, events: Iterable[Interaction] = ()) -> None:
        self.events = list(events)
        self.asked: list[tuple[timedelta, datetime]] = []
        self.asked_keys: list[set[ConversationKey]] = []
        self.asked_partitions: list[set[int] | None] = []
        self.partition_of: dict[str, int] = {}  # event id -> the partition it was read from (default 0)
        self.fail_next = 0

    def conversations(self, keys: Collection[ConversationKey]) -> list[Interaction]:
        self.asked_keys.append(set(keys))
        if self.fail_next:
            self.fail_next -= 1
            msg = "ClickHouse is down (fake)"
            raise StoreError(msg)
        return [event for event in self.events if conversation_key(event) in keys]

    def recent(
        self, lateness: timedelta, until: datetime, partitions: Collection[int] | None = None
    ) -> list[Interaction]:
        self.asked.append((lateness, until))
        self.asked_partitions.append(None if partitions is None else set(partitions))
        if self.fail_next:
            self.fail_next -= 1
            msg = "ClickHouse is down (fake)"
            raise StoreError(msg)
        if partitions is None:
            return list(self.events)
        return [e for e in self.events if self.partition_of.get(e.event_id, 0) in partitions]


class FakeClock:
    """A wall clock that moves only when told to."""

    __test__ = False

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta
