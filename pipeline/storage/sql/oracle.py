"""The batch oracle: first responses computed directly from the raw tables in SQL.

It applies the matching rule as a join instead of a stream: a citizen message m is answered by an
agency reply r whose parent p is a citizen message of the same conversation and author, with p = m or
p created after m; the first response is the earliest such reply (ties: smaller reply id). A removal of m
(``changes``) closes it too: the first closure, reply or removal, is m's fact. Business
seconds use the same calendar function as the stream (SQL has no agency calendars). After the stream
drains, the stream's facts must equal these exactly.

A message's needs-a-reply verdict (``interactions.needs_reply``) is an input, like its text: it changes no fact,
and the report over these facts (:func:`store_oracle_facts`) reads it from ``interactions`` as the raw report does.
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.businesstime import business_seconds
from pipeline.domain.matching import CLOSED_BY_REMOVAL, CLOSED_BY_REPLY, ResponseFact, response_seconds
from pipeline.storage.agencies import AgencyRegistry
from pipeline.storage.rows import fact_row
from pipeline.storage.sql.fragments import agency_reply_sql, citizen_message_sql, facts_sql
from pipeline.storage.store import Store
from schemas.events import ChangeOp
from schemas.tables import CHANGES, FACT_COLUMNS, INTERACTIONS, ORACLE_FACTS, RESPONSE_FACTS
from schemas.timeutil import assume_utc

__all__ = ["oracle_facts", "oracle_facts_sql", "store_oracle_facts"]


def oracle_facts_sql(db: str) -> str:
    """Every closed citizen message with its first closure, from ``interactions`` and ``changes`` alone.

    A closure is an answering reply ``(replied_at, reply_id)`` or the message's earliest removal
    ``(removed_at, '')``; the first is the smallest tuple, so a removal wins a tie, as in the matcher.
    """
    return f"""
WITH cit AS (
    SELECT platform, agency_id, account_id, root_id, message_id, author_id, kind, created_at
    FROM {db}.{INTERACTIONS} FINAL WHERE {citizen_message_sql()}
), answers AS (
    SELECT p.platform AS platform, p.account_id AS account_id, p.root_id AS root_id, p.author_id AS author_id,
           p.message_id AS parent_id, p.created_at AS parent_at, r.message_id AS reply_id, r.created_at AS replied_at
    FROM (SELECT platform, account_id, root_id, message_id, parent_id, created_at FROM {db}.{INTERACTIONS} FINAL
          WHERE {agency_reply_sql()}) AS r
    INNER JOIN cit AS p
        ON p.platform = r.platform AND p.account_id = r.account_id AND p.root_id = r.root_id
       AND p.message_id = r.parent_id
), removals AS (
    SELECT platform, account_id, root_id, target_id, min(created_at) AS removed_at
    FROM {db}.{CHANGES} FINAL WHERE op = '{ChangeOp.REMOVE.value}'
    GROUP BY platform, account_id, root_id, target_id
), closures AS (
    SELECT m.message_id AS message_id, m.platform AS platform, m.agency_id AS agency_id, m.account_id AS account_id,
           m.root_id AS root_id, m.author_id AS author_id, m.kind AS kind, m.created_at AS created_at,
           (a.replied_at, a.reply_id) AS closure
    FROM cit AS m
    INNER JOIN answers AS a
        ON a.platform = m.platform AND a.account_id = m.account_id AND a.root_id = m.root_id
       AND a.author_id = m.author_id
    WHERE a.parent_id = m.message_id OR a.parent_at > m.created_at
    UNION ALL
    SELECT m.message_id, m.platform, m.agency_id, m.account_id, m.root_id, m.author_id, m.kind, m.created_at,
           (x.removed_at, '')
    FROM cit AS m
    INNER JOIN removals AS x
        ON x.platform = m.platform AND x.account_id = m.account_id AND x.root_id = m.root_id
       AND x.target_id = m.message_id
)
SELECT message_id, platform, agency_id, account_id, root_id, author_id, kind, created_at, min(closure) AS first
FROM closures
GROUP BY message_id, platform, agency_id, account_id, root_id, author_id, kind, created_at"""


def oracle_facts(store: Store, agencies: AgencyRegistry) -> list[ResponseFact]:
    """The oracle's first responses, with wall and business seconds."""
    return [_fact(row, agencies) for row in store.query(oracle_facts_sql(store.database)).rows]


def store_oracle_facts(store: Store, agencies: AgencyRegistry) -> str:
    """Write the oracle's facts into ``oracle_facts`` (same shape as ``response_facts``); return the facts source.

    The returned SQL is :func:`~pipeline.storage.sql.fragments.facts_sql` of that table, ready for
    :func:`pipeline.storage.sql.report.build_report`.
    """
    db = store.database
    store.command(f"DROP TABLE IF EXISTS {db}.{ORACLE_FACTS}")
    store.command(f"CREATE TABLE {db}.{ORACLE_FACTS} AS {db}.{RESPONSE_FACTS}")
    store.insert(ORACLE_FACTS, FACT_COLUMNS, [fact_row(f) for f in oracle_facts(store, agencies)])
    return facts_sql(db, ORACLE_FACTS)


def _fact(row: tuple[Any, ...], agencies: AgencyRegistry) -> ResponseFact:
    message_id, platform, agency_id, account_id, root_id, author_id, kind, asked, (answered, reply_id) = row
    asked, answered = assume_utc(asked), assume_utc(answered)
    return ResponseFact(
        message_id=message_id,
        platform=platform,
        agency_id=agency_id,
        account_id=account_id,
        root_id=root_id,
        citizen_id=author_id,
        kind=kind,
        asked_at=asked,
        answered_at=answered,
        reply_id=reply_id,
        response_seconds=response_seconds(asked, answered),
        business_seconds=business_seconds(agencies.get(agency_id), asked, answered),
        closed_by=CLOSED_BY_REMOVAL if reply_id == "" else CLOSED_BY_REPLY,
    )
