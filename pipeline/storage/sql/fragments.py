"""The SQL catalog's one definition of every metric rule; the report, the views and the oracle use these.

Each fragment is an SQL *expression* over column expressions the caller names, so one rule reads the same
in every query that needs it. Fragments hold no caller values: windows, agency ids and defaults are
bound parameters (:func:`param`) in ad-hoc queries; views, which cannot take parameters, get
``now64()``-relative windows (:func:`interval_sql`) and numbers rendered by :func:`float_sql`.

Python twins, held to the same answers by tests: :func:`pipeline.domain.windows.message_status`
(:func:`message_status_sql`), :func:`pipeline.domain.classify.classify` (:func:`class_sql`),
:func:`pipeline.domain.histogram.bucket` and ``quantile`` (:func:`hist_bucket_sql`, :func:`hist_quantile_sql`),
:data:`pipeline.domain.windows.ROLLING_WINDOWS` (:func:`interval_sql`). The activity rollup in migration
``0002_response_facts.sql`` carries the pull-post and agency-reply predicates as they were when it was
written; a unit test checks that they still read as :func:`pull_post_sql` and :func:`agency_reply_sql`.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

from pipeline.domain import histogram
from pipeline.domain.classify import ClassThresholds
from pipeline.domain.matching import CLOSED_BY_REMOVAL, CLOSED_BY_REPLY
from pipeline.domain.windows import MessageStatus
from schemas.events import AuthorRole
from schemas.tables import AGENCIES, RESPONSE_FACTS

__all__ = [
    "FACTS_SELECT",
    "ROLLUP_FORMAT",
    "SECONDS_PER_HOUR",
    "age_seconds_sql",
    "agency_reply_sql",
    "answered_sql",
    "citizen_message_sql",
    "class_sql",
    "closed_sql",
    "directory_hash_sql",
    "directory_sql",
    "facts_sql",
    "figures_sql",
    "float_sql",
    "hist_bucket_sql",
    "hist_quantile_sql",
    "interval_sql",
    "message_status_sql",
    "param",
    "pull_post_sql",
    "sla_seconds_sql",
    "within_sla_sql",
]

SECONDS_PER_HOUR = 3600
# What a report needs of a first response, from the stream's facts or the oracle's (same table shape).
FACTS_SELECT = (
    "message_id",
    "platform",
    "account_id",
    "answered_at",
    "response_seconds",
    "business_seconds",
    "closed_by",
)
ROLLUP_FORMAT = 2
"""What a rollup row holds, as a number hashed with the directory (:func:`directory_hash_sql`): a build of another
format is stale, so days derived before a column existed (format 1 lacked the needs-reply counts, which read as 0)
are read from raw data until derived again, whichever version of serambi derived or reads them."""
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def param(name: str, sql_type: str) -> str:
    """A server-side placeholder, e.g. ``param("agency", "String") == "{agency:String}"``."""
    if not _NAME.match(name):
        msg = f"not a parameter name: {name!r}"
        raise ValueError(msg)
    return f"{{{name}:{sql_type}}}"


def float_sql(value: float) -> str:
    """A finite number as an SQL literal, for views (they cannot take parameters).

    The value goes through ``float()`` and its ``repr`` is digits, a point and an exponent only: no
    text of the caller reaches the SQL. ``float_sql(24) == "24.0"``.
    """
    number = float(value)
    if not math.isfinite(number):
        msg = f"not a finite number: {value!r}"
        raise ValueError(msg)
    return repr(number)


def interval_sql(span: timedelta) -> str:
    """A positive whole-second ``timedelta`` as an SQL interval.

    Example: ``interval_sql(timedelta(hours=24)) == "INTERVAL 86400 SECOND"``.
    """
    seconds = span.total_seconds()
    if seconds <= 0 or seconds != int(seconds):
        msg = f"an interval must be a positive whole number of seconds: {span!r}"
        raise ValueError(msg)
    return f"INTERVAL {int(seconds)} SECOND"


def facts_sql(database: str, table: str = RESPONSE_FACTS) -> str:
    """First responses (:data:`FACTS_SELECT`) of a facts table: the stream's, or the oracle's."""
    return f"SELECT {', '.join(FACTS_SELECT)} FROM {database}.{table} FINAL"


def citizen_message_sql(alias: str = "") -> str:
    """An interaction written by a citizen (``alias`` prefixes the columns, e.g. ``"i."``)."""
    return f"{alias}author_role = '{AuthorRole.CITIZEN.value}'"


def agency_reply_sql(alias: str = "") -> str:
    """An agency reply: written by the agency, in answer to a message (a post of its own is no reply)."""
    return f"{alias}author_role = '{AuthorRole.AGENCY.value}' AND {alias}parent_id IS NOT NULL"


def pull_post_sql(links: str, domains: str) -> str:
    """A pull post: one of ``links`` is on an official domain or a subdomain of it (case-insensitive)."""
    return (
        f"arrayExists(l -> arrayExists(d -> lower(domain(l)) = lower(d) "
        f"OR endsWith(lower(domain(l)), concat('.', lower(d))), {domains}), {links})"
    )


def sla_seconds_sql(default_hours: str, agencies: str = "ag") -> str:
    """The SLA in seconds: the agency's ``sla_hours`` (``agencies`` is its LEFT-joined alias), else the default.

    ``default_hours`` is SQL: a placeholder in a report, :func:`float_sql` of the setting in a view.
    """
    return f"if({agencies}.agency_id = '', {default_hours}, {agencies}.sla_hours) * {SECONDS_PER_HOUR}"


def age_seconds_sql(since: str, until: str) -> str:
    """Seconds from ``since`` to ``until``, to the millisecond (the tables' precision)."""
    return f"dateDiff('millisecond', {since}, {until}) / 1000"


def answered_sql(answered_at: str, until: str) -> str:
    """Answered by ``until``: a first response at or after ``until`` does not count yet."""
    return f"{answered_at} < {until}"


def closed_sql(fact: str, until: str, closed_by: str) -> str:
    """A LEFT-joined fact (alias ``fact``, e.g. ``"f"``) closed its message by ``until``, the way ``closed_by`` says.

    ``closed_by`` is :data:`~pipeline.domain.matching.CLOSED_BY_REPLY` (answered) or ``CLOSED_BY_REMOVAL``
    (removed first). A fact is the message's *first* closure, so at most one of the two holds.
    """
    if closed_by not in (CLOSED_BY_REPLY, CLOSED_BY_REMOVAL):
        msg = f"not a closure: {closed_by!r}"
        raise ValueError(msg)
    return (
        f"{fact}.message_id != '' AND {fact}.closed_by = '{closed_by}' AND {answered_sql(f'{fact}.answered_at', until)}"
    )


def within_sla_sql(response_seconds: str, sla_seconds: str) -> str:
    """An answer within the SLA: the bound is inclusive."""
    return f"{response_seconds} <= {sla_seconds}"


def message_status_sql(
    answered: str, response_seconds: str, age_seconds: str, sla_seconds: str, removed: str = "0"
) -> str:
    """The :class:`~pipeline.domain.windows.MessageStatus` value of a message at ``until``, as the report counts it.

    ``answered`` and ``removed`` are :func:`closed_sql` conditions (at most one holds: a fact is the first
    closure); ``age_seconds`` runs from the message to ``until`` (:func:`age_seconds_sql`). An open message is
    pending while its age is within the SLA (inclusive), overdue after.
    """
    s = MessageStatus
    return (
        f"multiIf({removed}, '{s.REMOVED.value}', "
        f"({answered}) AND {within_sla_sql(response_seconds, sla_seconds)}, '{s.ANSWERED_WITHIN_SLA.value}', "
        f"{answered}, '{s.ANSWERED_LATE.value}', "
        f"{age_seconds} <= {sla_seconds}, '{s.PENDING.value}', '{s.OVERDUE.value}')"
    )


def class_sql(
    thresholds: ClassThresholds,
    *,
    two_way: str = "two_way_ratio",
    reply_rate: str = "reply_rate",
    citizen_messages: str = "citizen_messages",
    output: str = "agency_posts + agency_replies",
) -> str:
    """The SQL twin of :func:`pipeline.domain.classify.classify`, from the same thresholds.

    Ratios are NULL when undefined, like ``None`` in Python: a NULL counts as 0, except that an unknown
    reply rate alone never makes a soapbox. Thresholds are rendered by :func:`float_sql` (views use this too).
    """
    t, num = thresholds, float_sql
    return (
        f"multiIf(({output}) < {num(t.min_style_output)} "
        f"OR (({citizen_messages}) < {num(t.min_messages)} AND ({output}) < {num(t.min_output)}), "
        "'insufficient_data', "
        f"coalesce({two_way}, 0) >= {num(t.dinner_min_two_way)} "
        f"AND coalesce({reply_rate}, 0) >= {num(t.dinner_min_reply_rate)}, 'dinner_party', "
        f"coalesce({two_way}, 0) <= {num(t.soapbox_max_two_way)} "
        f"OR (({reply_rate}) IS NOT NULL AND ({reply_rate}) <= {num(t.soapbox_max_reply_rate)}), 'soapbox', "
        "'mixed')"
    )


def hist_bucket_sql(seconds: str) -> str:
    """The :func:`pipeline.domain.histogram.bucket` (UInt16) of a response time in seconds."""
    h = histogram
    smallest, log_gamma = float_sql(h.GAMMA ** (1 - h.OFFSET)), float_sql(math.log(h.GAMMA))
    return (
        f"if({seconds} <= 0, toUInt16(0), toUInt16(least({h.MAX_BUCKET}, greatest(1, "
        f"toInt32(ceil(log(greatest({seconds}, {smallest})) / {log_gamma})) + {h.OFFSET}))))"
    )


def hist_quantile_sql(hist: str, q: float) -> str:
    """The nearest-rank ``q``-quantile of a histogram (``Map(UInt16, UInt64)``), NULL when it is empty.

    ``hist`` must have sorted keys, as ``sumMap`` returns them (every histogram here is a ``sumMap``). The twin
    of :func:`pipeline.domain.histogram.quantile`: within 1 % of ClickHouse's ``quantileExact(q)``.
    """
    h = histogram
    total = f"arraySum(mapValues({hist}))"
    rank = f"least(toUInt64(floor({float_sql(q)} * {total})), {total} - 1)"
    index = f"mapKeys({hist})[arrayFirstIndex(c -> c > {rank}, arrayCumSum(mapValues({hist})))]"
    reported = f"if({index} = 0, 0., 2 * pow({float_sql(h.GAMMA)}, {index} - {h.OFFSET}) / {float_sql(h.GAMMA + 1)})"
    return f"if({total} = 0, NULL, {reported})"


def directory_sql(database: str) -> str:
    """The agency directory as the figures read it: each agency's latest SLA, domains, name and tier.

    ``agencies`` is a ReplacingMergeTree on the agency id; ``argMax`` by ``updated_at`` reads the latest row
    of each without FINAL.
    """
    return (
        f"SELECT agency_id, argMax(sla_hours, updated_at) AS sla_hours, "
        f"argMax(official_domains, updated_at) AS official_domains, argMax(name, updated_at) AS name, "
        f"argMax(tier, updated_at) AS tier FROM {database}.{AGENCIES} GROUP BY agency_id"
    )


def directory_hash_sql(database: str, default_sla_hours: str) -> str:
    """A scalar: a hash of what the rollups depend on in the directory, of the default SLA and of the rows' format.

    It covers each agency's SLA and official domains, the SLA of agencies it lacks (``default_sla_hours``) and
    :data:`ROLLUP_FORMAT`.

    A day built under another hash is stale: an SLA changes which answers were in time, domains which posts pull,
    and a build of an older format lacks counts the readers sum.
    """
    return (
        f"(SELECT cityHash64(arraySort(groupArray(tuple(agency_id, sla_hours, official_domains))), "
        f"toFloat64({default_sla_hours}), toUInt32({ROLLUP_FORMAT})) FROM ({directory_sql(database)}))"
    )


def figures_sql(thresholds: ClassThresholds, oldest_seconds: str) -> str:
    """The report's figures from its counts: the select list after the keys, one definition for every reader.

    Reads ``citizen_messages``, ``answered``, ``answered_within_sla``, ``pending``, ``overdue``, ``removed``,
    ``needs_reply_messages``, ``needs_reply_answered``, ``needs_reply_overdue`` (the counts of the messages whose
    stored verdict says they need a reply), ``response_hist``, ``business_hist``, ``agency_posts``,
    ``pull_posts``, ``agency_replies`` and ``backlog``; ``oldest_seconds`` is the oldest unanswered message's age
    at the window's end (SQL). Ratios are NULL when undefined. The needs-reply rate is the reply rate's rule over
    the messages that need a reply; the plain reply rate keeps counting every message.
    """
    return f"""citizen_messages, answered, pending, overdue, removed, needs_reply_messages,
       if(answered + overdue = 0, NULL, answered / (answered + overdue)) AS reply_rate,
       if(needs_reply_answered + needs_reply_overdue = 0, NULL,
          needs_reply_answered / (needs_reply_answered + needs_reply_overdue)) AS needs_reply_rate,
       if(answered + overdue = 0, NULL, answered_within_sla / (answered + overdue)) AS sla_compliance,
       {hist_quantile_sql("response_hist", 0.5)} AS median_response_seconds,
       {hist_quantile_sql("response_hist", 0.9)} AS p90_response_seconds,
       {hist_quantile_sql("business_hist", 0.5)} AS median_business_seconds,
       {hist_quantile_sql("business_hist", 0.9)} AS p90_business_seconds,
       agency_posts, agency_replies, agency_posts + agency_replies AS output,
       if(output = 0, NULL, agency_replies / output) AS two_way_ratio,
       if(output = 0, NULL, (agency_posts - pull_posts) / output) AS push_share,
       if(output = 0, NULL, pull_posts / output) AS pull_share,
       if(output = 0, NULL, agency_replies / output) AS networking_share,
       backlog,
       if(backlog = 0, NULL, {oldest_seconds}) AS oldest_unanswered_seconds,
       {class_sql(thresholds, output="output")} AS class"""
