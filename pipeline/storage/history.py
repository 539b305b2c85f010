"""Stored interactions read back to rebuild the matcher: ClickHouse is the durable copy of its state.

After a restart (or with a broker that kept nothing) the worker replays the conversations that were
active within the lateness window, so a reply that arrives after the restart still matches a message
seen before it (see :meth:`pipeline.stream.processor.Processor.rebuild`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.storage.query import DATETIME_PARAM
from pipeline.storage.store import Store
from schemas.events import AuthorRole, Interaction, InteractionKind, Platform
from schemas.tables import INTERACTIONS

__all__ = ["InteractionHistory"]

# What the matcher reads of an interaction (text, links and the like stay in ClickHouse).
_COLUMNS = (
    "event_id",
    "platform",
    "agency_id",
    "account_id",
    "kind",
    "message_id",
    "root_id",
    "parent_id",
    "author_id",
    "author_role",
    "created_at",
)


class InteractionHistory:
    """The ``interactions`` table as the matcher's history (implements the processor's ``History``).

    Example: ``InteractionHistory(store).recent(timedelta(days=7), until=now + timedelta(hours=1))``.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def recent(self, lateness: timedelta, until: datetime) -> list[Interaction]:
        """Every stored interaction of the conversations active within ``lateness``, oldest first.

        The window ends at the latest stored interaction not after ``until`` (an event stamped in the
        future must not hide the real recent past) and whole conversations come back, older messages too.
        """
        db = self._store.database
        active = (
            f"SELECT DISTINCT platform, account_id, root_id FROM {db}.{INTERACTIONS} WHERE created_at >= "
            f"(SELECT max(created_at) FROM {db}.{INTERACTIONS} "
            f"WHERE created_at <= {{until:{DATETIME_PARAM}}}) - toIntervalSecond({{lateness_s:UInt32}})"
        )
        result = self._store.query(
            f"SELECT {', '.join(_COLUMNS)} FROM {db}.{INTERACTIONS} FINAL "
            f"WHERE (platform, account_id, root_id) IN ({active}) ORDER BY created_at",
            {"until": until, "lateness_s": int(lateness.total_seconds())},
        )
        return [_interaction(row) for row in result.dicts()]


def _interaction(row: dict[str, Any]) -> Interaction:
    # Rows come from our own table, already validated once: construct without validating again.
    created = row["created_at"]
    return Interaction.model_construct(
        event_id=row["event_id"],
        platform=Platform(row["platform"]),
        agency_id=row["agency_id"],
        account_id=row["account_id"],
        kind=InteractionKind(row["kind"]),
        message_id=row["message_id"],
        root_id=row["root_id"],
        parent_id=row["parent_id"],
        author_id=row["author_id"],
        author_role=AuthorRole(row["author_role"]),
        created_at=created if created.tzinfo else created.replace(tzinfo=UTC),
    )
