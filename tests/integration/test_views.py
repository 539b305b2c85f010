"""Buckets, rolling views and the SQL fragments in ClickHouse hold to the pure definitions (windows, classify)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.domain.classify import ClassThresholds, classify
from pipeline.domain.windows import MessageStatus, message_status
from pipeline.storage.sql.fragments import (
    age_seconds_sql,
    answered_sql,
    class_sql,
    float_sql,
    message_status_sql,
    sla_seconds_sql,
)
from pipeline.storage.store import Store
from schemas.agency import Directory
from tests.helpers.events import AGENCY, EventFactory
from tests.helpers.settings import SettingsFactory
from tests.helpers.stack import publish, run_on_stack, with_store

SLA = timedelta(hours=24)
T = datetime(2026, 11, 2, 10, 17, 42, 500000, tzinfo=UTC)
MS = timedelta(milliseconds=1)


@pytest.fixture
def scenario(event_factory: EventFactory) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)  # the views measure against the time they are read

    def _at(hours: float) -> datetime:
        return now - timedelta(hours=hours)

    citizen = "ps1:" + "f" * 32
    return {
        "now": now,
        **{
            "q1": event_factory("comment", message_id="q1", author_id=citizen, root_id="a", created_at=_at(3)),
            "q2": event_factory(  # a thank-you, overdue: it lowers the reply rate, not the needs-reply rate
                "comment",
                message_id="q2",
                author_id="ps1:" + "1" * 32,
                root_id="b",
                created_at=_at(30),
                text="Terima kasih JKR, jalan dah cantik!",
            ),
            "q3": event_factory(
                "comment", message_id="q3", author_id="ps1:" + "2" * 32, root_id="c", created_at=_at(2)
            ),
            "r3": event_factory("reply", message_id="r3", parent_id="q3", root_id="c", created_at=_at(1)),
            "q4": event_factory(
                "comment", message_id="q4", author_id="ps1:" + "3" * 32, root_id="d", created_at=_at(50)
            ),
            "r4": event_factory("reply", message_id="r4", parent_id="q4", root_id="d", created_at=_at(20)),
            "pull": event_factory("post", post_id="pp", links=("https://www.test.gov.my/banjir",), created_at=_at(5)),
            "push": event_factory("post", post_id="pq", created_at=_at(6)),
        },
    }


def test_buckets_and_rolling_views(
    settings_factory: SettingsFactory, tiny_directory: Directory, scenario: dict[str, Any]
) -> None:
    settings = settings_factory()

    async def body(stack: Any) -> None:
        stack.agencies.register(tiny_directory.agencies)
        publish(stack, tiny_directory, [v for k, v in scenario.items() if k != "now"])

    run_on_stack(settings, body)
    with_store(settings, lambda store: _check(store, scenario))


def _check(store: Any, s: dict[str, Any]) -> None:
    db, now, agency = store.database, s["now"], {"agency": AGENCY}
    minute = dict(
        store.query(
            f"SELECT metric, sum(value) FROM {db}.metrics_by_minute "
            "WHERE agency_id = {agency:String} GROUP BY metric",
            agency,
        ).rows
    )
    assert minute == {
        "citizen_message": 4,
        "agency_reply": 2,
        "agency_post_pull": 1,
        "agency_post_push": 1,
        "answered": 2,
        "answered_within_sla": 1,
    }
    for bucket in ("hour", "day"):
        rolled = dict(
            store.query(
                f"SELECT metric, sum(value) FROM {db}.metrics_by_{bucket} "
                "WHERE agency_id = {agency:String} GROUP BY metric",
                agency,
            ).rows
        )
        assert rolled == minute, bucket
    answered = {"q3": s["r3"].created_at, "q4": s["r4"].created_at}
    for window, hours in (("7d", 24 * 7), ("24h", 24)):
        [row] = store.query(
            f"SELECT * FROM {db}.agency_metrics_{window} WHERE agency_id = {{agency:String}}", agency
        ).dicts()
        asked = [q for q in ("q1", "q2", "q3", "q4") if s[q].created_at >= now - timedelta(hours=hours)]
        statuses = [message_status(s[q].created_at, answered.get(q), SLA, now) for q in asked]
        assert row["citizen_messages"] == len(asked), window
        assert row["pending"] == statuses.count(MessageStatus.PENDING), window
        assert row["overdue"] == statuses.count(MessageStatus.OVERDUE), window
        assert row["answered"] == len(asked) - row["pending"] - row["overdue"], window
        assert row["backlog"] == 2, window  # q1 pending and q2 overdue, whatever the window
        assert row["oldest_unanswered_seconds"] == pytest.approx(30 * 3600, abs=120), window
        output = row["agency_posts"] + row["agency_replies"]
        assert row["class"] == classify(row["two_way_ratio"], row["reply_rate"], row["citizen_messages"], output)
    [week] = store.query(f"SELECT * FROM {db}.agency_metrics_7d WHERE agency_id = {{agency:String}}", agency).dicts()
    assert (week["reply_rate"], week["sla_compliance"]) == (pytest.approx(2 / 3), pytest.approx(1 / 3))
    assert (week["needs_reply_messages"], week["needs_reply_rate"]) == (3, 1.0)  # the worker stored q2's verdict
    assert (week["two_way_ratio"], week["pull_share"], week["push_share"]) == (0.5, 0.25, 0.25)
    accounts = store.query(f"SELECT agency_id, account_id, platform FROM {db}.account_metrics_7d").rows
    assert (AGENCY, s["q1"].account_id, "x") in accounts


@pytest.mark.parametrize(
    "thresholds",
    [
        ClassThresholds(),
        ClassThresholds(min_messages=3, min_output=2, soapbox_max_two_way=0.25, dinner_min_two_way=0.5),
    ],
)
def test_class_sql_agrees_with_classify_on_a_grid(store: Store, thresholds: ClassThresholds) -> None:
    ratios = [None, 0.0, 0.05, 0.1, 0.11, 0.2, 0.21, 0.25, 0.39, 0.4, 0.5, 0.59, 0.6, 0.9, 1.0]
    grid = list(itertools.product(ratios, ratios, [0, 2, 3, 9, 10, 11], [0, 1, 2, 4, 5]))
    klass = class_sql(thresholds, two_way="tw", reply_rate="rr", citizen_messages="cm", output="out")
    sql = (
        f"SELECT tw, rr, cm, out, {klass} "
        "FROM (SELECT g.1 AS tw, g.2 AS rr, g.3 AS cm, g.4 AS out FROM "
        "(SELECT arrayJoin({grid:Array(Tuple(Nullable(Float64), Nullable(Float64), UInt32, UInt32))}) AS g))"
    )
    rows = store.query(sql, {"grid": grid}, read_only=True).rows
    assert len(rows) == len(grid)
    disagree = [r for r in rows if r[4] != classify(r[0], r[1], r[2], r[3], thresholds=thresholds)]
    assert not disagree
    assert {r[4] for r in rows} == {"insufficient_data", "soapbox", "mixed", "dinner_party"}


def test_status_fragments_agree_with_message_status_on_a_grid(store: Store) -> None:
    default_hours = 24.0
    slas = {"": default_hours, "a": 0.5, "b": 1.5}  # '' = agency unknown: the default SLA applies
    grid = []
    for agency_id, hours in slas.items():
        sla = timedelta(hours=hours)
        answers = [None, timedelta(0), sla - MS, sla, sla + MS, 2 * sla]
        instants = [MS, sla - MS, sla, sla + MS, 2 * sla, 3 * sla]
        removals = [None, sla, 2 * sla]  # before, at and after some answers and instants
        for answer, at, removal in itertools.product(answers, instants, removals):
            answered_ms = None if answer is None else _ms(T + answer)
            removed_ms = None if removal is None else _ms(T + removal)
            grid.append((agency_id, 0.0 if agency_id == "" else hours, _ms(T), answered_ms, _ms(T + at), removed_ms))
    # The first closure is what a fact holds: the answer, or the removal when it came first (it wins a tie).
    by_removal = "removed_at IS NOT NULL AND (answered_at IS NULL OR removed_at <= answered_at)"
    by_reply = f"answered_at IS NOT NULL AND NOT ({by_removal})"
    status = message_status_sql(
        f"{by_reply} AND {answered_sql('answered_at', 'at')}",
        age_seconds_sql("asked_at", "answered_at"),
        age_seconds_sql("asked_at", "at"),
        sla_seconds_sql(float_sql(default_hours), "ag"),
        f"{by_removal} AND {answered_sql('removed_at', 'at')}",
    )
    sql = (
        f"SELECT agency_id, asked_ms, answered_ms, at_ms, removed_ms, {status} FROM ("
        "SELECT g.1 AS agency_id, g.2 AS sla_hours, g.3 AS asked_ms, g.4 AS answered_ms, g.5 AS at_ms, "
        "g.6 AS removed_ms, fromUnixTimestamp64Milli(asked_ms, 'UTC') AS asked_at, "
        "fromUnixTimestamp64Milli(answered_ms, 'UTC') AS answered_at, "
        "fromUnixTimestamp64Milli(at_ms, 'UTC') AS at, fromUnixTimestamp64Milli(removed_ms, 'UTC') AS removed_at "
        "FROM (SELECT arrayJoin({grid:Array(Tuple(String, Float64, Int64, Nullable(Int64), Int64, Nullable(Int64)))}) "
        "AS g)) AS ag"
    )
    rows = store.query(sql, {"grid": grid}, read_only=True).rows
    assert len(rows) == len(grid)
    seen = set()
    for agency_id, asked_ms, answered_ms, at_ms, removed_ms, got in rows:
        sla = timedelta(hours=slas[agency_id])
        answered_at = None if answered_ms is None else _at(answered_ms)
        removed_at = None if removed_ms is None else _at(removed_ms)
        want = message_status(_at(asked_ms), answered_at, sla, _at(at_ms), removed_at)
        assert MessageStatus(got) is want, (agency_id, asked_ms, answered_ms, at_ms, removed_ms)
        seen.add(want)
    assert seen == set(MessageStatus)


def _ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // MS


def _at(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + ms * MS
