"""ClickHouse table and column names, declared once (the DDL lives in ``schemas/clickhouse/``).

Raw rows are the events' own JSON (field names are column names), so these tuples are also what a
JSONEachRow insert of each table carries.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ACTIVITY_MINUTES",
    "AGENCIES",
    "AGENCY_COLUMNS",
    "ALERTS",
    "ALERT_COLUMNS",
    "CHANGES",
    "COLUMNS",
    "CONVERSATION_INDEX",
    "CURSOR_COLUMNS",
    "DAY_ROLLUP",
    "DEAD_LETTERS",
    "FACT_COLUMNS",
    "HOUR_ROLLUP",
    "INTERACTIONS",
    "KAFKA_PARTITION",
    "LANGUAGE",
    "NEEDS_REPLY",
    "NEEDS_REPLY_REASON",
    "ORACLE_FACTS",
    "POSTS",
    "RAW_TABLES",
    "REACTIONS",
    "RESPONSE_FACTS",
    "ROLLUP_BUILDS",
    "ROLLUP_TOUCHES",
    "SOURCE_CURSORS",
    "STORED_COLUMNS",
    "TABLE_OF_EVENT",
]

POSTS: Final = "posts"
INTERACTIONS: Final = "interactions"
REACTIONS: Final = "reactions"
CHANGES: Final = "changes"
DEAD_LETTERS: Final = "dead_letters"
RESPONSE_FACTS: Final = "response_facts"
AGENCIES: Final = "agencies"
ORACLE_FACTS: Final = "oracle_facts"
ACTIVITY_MINUTES: Final = "activity_minutes"
CONVERSATION_INDEX: Final = "conversation_index"
ALERTS: Final = "alerts"
DAY_ROLLUP: Final = "day_rollup"
HOUR_ROLLUP: Final = "hour_rollup"
ROLLUP_BUILDS: Final = "rollup_builds"
ROLLUP_TOUCHES: Final = "rollup_touches"
SOURCE_CURSORS: Final = "source_cursors"
RAW_TABLES: Final = (POSTS, INTERACTIONS, REACTIONS, CHANGES)
TABLE_OF_EVENT: Final = {"post": POSTS, "interaction": INTERACTIONS, "reaction": REACTIONS, "change": CHANGES}

_COMMON = ("event_id", "platform", "agency_id", "account_id")
COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    POSTS: (*_COMMON, "post_id", "created_at", "text", "links", "source", "schema_version"),
    INTERACTIONS: (*_COMMON, "kind", "message_id", "root_id", "parent_id", "author_id", "author_role",
                   "parent_author_id", "created_at", "text", "links", "source", "schema_version"),
    REACTIONS: (*_COMMON, "mode", "target_id", "root_id", "reaction_type", "count", "author_id",
                "created_at", "source", "schema_version"),
    CHANGES: (*_COMMON, "op", "target_id", "root_id", "author_id", "author_role", "created_at", "text", "source",
              "schema_version"),
    DEAD_LETTERS: ("id", "source", "stage", "error_type", "reason", "raw", "received_at"),
}  # fmt: skip
KAFKA_PARTITION: Final = "kafka_partition"
"""The events-topic partition an interaction was read from (migration 0010): a worker warms up its partitions."""
NEEDS_REPLY: Final = "needs_reply"
"""Whether a citizen's message needs a reply (migration 0011; :mod:`pipeline.domain.needs_reply`); agency rows false."""
NEEDS_REPLY_REASON: Final = "needs_reply_reason"
"""The cue that decided ``needs_reply`` (``"question word: bila"``); empty on agency rows."""
LANGUAGE: Final = "language"
"""The message's language, ``ms``, ``en`` or ``mixed``; empty on agency rows."""
# What the worker writes per raw table: the event's fields; for interactions, where it was read and the verdict.
STORED_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    **COLUMNS,
    INTERACTIONS: (*COLUMNS[INTERACTIONS], KAFKA_PARTITION, NEEDS_REPLY, NEEDS_REPLY_REASON, LANGUAGE),
}
FACT_COLUMNS: Final = (
    "message_id",
    "platform",
    "agency_id",
    "account_id",
    "root_id",
    "citizen_id",
    "kind",
    "asked_at",
    "answered_at",
    "reply_id",
    "response_seconds",
    "business_seconds",
    "version",
    "closed_by",
)
CURSOR_COLUMNS: Final = ("source", "account", "seq", "part", "parts", "state", "fetched_at")
AGENCY_COLUMNS: Final = (
    "agency_id",
    "name",
    "tier",
    "timezone",
    "sla_hours",
    "official_domains",
    "definition",
    "updated_at",
)
ALERT_COLUMNS: Final = (
    "alert_id",
    "transition",
    "agency",
    "platform",
    "kind",
    "severity",
    "started_at",
    "updated_at",
    "resolved_at",
    "backlog",
    "oldest_unanswered_seconds",
    "arrivals_per_minute",
    "baseline_per_minute",
    "window_minutes",
    "score",
    "example_ids",
)
