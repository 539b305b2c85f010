"""Stored interactions read back into the matcher: ClickHouse is the durable copy of its state.

The worker reloads, before each chunk, the stored conversations of that chunk it does not hold in memory
(never seen by this process, e.g. after a restart, or evicted), so a reply matches the messages seen before
it however late it arrives and whichever partition it is on (:meth:`InteractionHistory.conversations`; see
:meth:`pipeline.stream.processor.Processor.prepare`). At start-up it may also warm up with the conversations
active within the lateness window (:meth:`InteractionHistory.recent`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from pipeline.domain.matching import ConversationKey, Matchable
from pipeline.storage.query import DATETIME_PARAM
from pipeline.storage.store import Store
from schemas.events import AuthorRole, Change, ChangeOp, Interaction, InteractionKind, Platform
from schemas.tables import CHANGES, CONVERSATION_INDEX, INTERACTIONS, KAFKA_PARTITION
from schemas.timeutil import assume_utc

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
_CHANGE_COLUMNS = ("event_id", "platform", "agency_id", "account_id", "op", "target_id", "root_id", "created_at")


class InteractionHistory:
    """The ``interactions`` table as the matcher's history (implements the processor's ``History``).

    Example: ``InteractionHistory(store).conversations([("x", "900100", "p1")])``.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def conversations(self, keys: Collection[ConversationKey]) -> list[Matchable]:
        """Every stored interaction and removal of the conversations ``keys`` (``(platform, account_id, root_id)``).

        One query whatever the number of keys; rows in no particular order (the matcher needs none).
        """
        if not keys:
            return []
        db = self._store.database
        # Most of a chunk's new conversations have never been stored: the index (sorted by conversation) says
        # which have, cheaply, so the interactions table is read only for those. Both reads run on the read
        # session: the previous chunk's insert may be running on the writer's.
        # The root ids alone are asked for, and the exact conversations kept here: ClickHouse matches a set of
        # strings several times faster than a set of tuples (measured on chDB, 5,000 keys: 8 against 38 us per
        # key with a million conversations stored, and the tuple form slows down as the index grows).
        asked = {tuple(key) for key in keys}
        stored = self._store.read(
            f"SELECT platform, account_id, root_id FROM {db}.{CONVERSATION_INDEX} "
            f"WHERE root_id IN {{roots:Array(String)}}",
            {"roots": sorted({key[2] for key in keys})},
        ).rows
        found = sorted(key for key in {(str(p), str(a), str(r)) for p, a, r in stored} if key in asked)
        if not found:
            return []
        # The table is not sorted by conversation: PREWHERE on the root ids (one column, selective) reads the
        # other columns only of the matching granules; the tuple filter then keeps exactly the conversations
        # asked for. FINAL: the same rows as the oracle reads.
        wanted = {"roots": sorted({key[2] for key in found}), "keys": found}
        result = self._store.read(
            f"SELECT {', '.join(_COLUMNS)} FROM {db}.{INTERACTIONS} FINAL "
            f"PREWHERE root_id IN {{roots:Array(String)}} "
            f"WHERE (platform, account_id, root_id) IN {{keys:Array(Tuple(String, String, String))}}",
            wanted,
        )
        events: list[Matchable] = [_interaction(row) for row in result.dicts()]
        return events + self._removals(wanted)

    def _removals(self, wanted: dict[str, Any]) -> list[Matchable]:
        # Removals are few (a small table): a removal stored before its message still closes it after a reload.
        db = self._store.database
        result = self._store.read(
            f"SELECT {', '.join(_CHANGE_COLUMNS)} FROM {db}.{CHANGES} "
            f"PREWHERE root_id IN {{roots:Array(String)}} "
            f"WHERE op = '{ChangeOp.REMOVE.value}' "
            f"AND (platform, account_id, root_id) IN {{keys:Array(Tuple(String, String, String))}}",
            wanted,
        )
        return [_removal(row) for row in result.dicts()]

    def recent(
        self, lateness: timedelta, until: datetime, partitions: Collection[int] | None = None
    ) -> list[Matchable]:
        """Every stored interaction of the conversations active within ``lateness``, oldest first, then removals.

        The window ends at the latest stored interaction not after ``until`` (an event stamped in the
        future must not hide the real recent past) and whole conversations come back, older messages too.
        ``partitions``: only conversations with an interaction read from these events-topic partitions (a
        conversation is on one partition; ``None``: all). The window's end is the same whichever partitions
        are asked for, so workers sharing the partitions warm up the same conversations one would alone.
        """
        db = self._store.database
        window: dict[str, Any] = {"until": until, "lateness_s": int(lateness.total_seconds())}
        mine = ""
        if partitions is not None:
            mine = f"AND {KAFKA_PARTITION} IN {{partitions:Array(UInt16)}} "
            window["partitions"] = sorted(partitions)
        active = (
            f"SELECT DISTINCT platform, account_id, root_id FROM {db}.{INTERACTIONS} WHERE created_at >= "
            f"(SELECT max(created_at) FROM {db}.{INTERACTIONS} "
            f"WHERE created_at <= {{until:{DATETIME_PARAM}}}) - toIntervalSecond({{lateness_s:UInt32}}) {mine}"
        )
        result = self._store.query(
            f"SELECT {', '.join(_COLUMNS)} FROM {db}.{INTERACTIONS} FINAL "
            f"WHERE (platform, account_id, root_id) IN ({active}) ORDER BY created_at",
            window,
        )
        removals = self._store.query(
            f"SELECT {', '.join(_CHANGE_COLUMNS)} FROM {db}.{CHANGES} "
            f"WHERE op = '{ChangeOp.REMOVE.value}' AND (platform, account_id, root_id) IN ({active})",
            window,
        )
        events: list[Matchable] = [_interaction(row) for row in result.dicts()]
        return events + [_removal(row) for row in removals.dicts()]


def _common(row: dict[str, Any]) -> dict[str, Any]:
    # Rows come from our own tables, already validated once: the models are constructed without validating again.
    return {
        "event_id": row["event_id"],
        "platform": Platform(row["platform"]),
        "agency_id": row["agency_id"],
        "account_id": row["account_id"],
        "root_id": row["root_id"],
        "created_at": assume_utc(row["created_at"]),
    }


def _interaction(row: dict[str, Any]) -> Interaction:
    return Interaction.model_construct(
        **_common(row),
        kind=InteractionKind(row["kind"]),
        message_id=row["message_id"],
        parent_id=row["parent_id"],
        author_id=row["author_id"],
        author_role=AuthorRole(row["author_role"]),
    )


def _removal(row: dict[str, Any]) -> Change:
    return Change.model_construct(**_common(row), op=ChangeOp(row["op"]), target_id=row["target_id"])
