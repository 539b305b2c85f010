"""Buckets and rolling views in ClickHouse hold to the pure definitions (pipeline.domain.windows, classify)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.domain.classify import classify
from pipeline.domain.windows import MessageStatus, message_status
from schemas.agency import Directory
from tests.helpers.events import AGENCY, EventFactory
from tests.helpers.stack import publish, run_on_stack, with_store
from tests.integration.conftest import SettingsFactory

SLA = timedelta(hours=24)


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
            "q2": event_factory(
                "comment", message_id="q2", author_id="ps1:" + "1" * 32, root_id="b", created_at=_at(30)
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
    db, now = store.database, s["now"]
    minute = dict(
        store.query(
            f"SELECT metric, sum(value) FROM {db}.metrics_by_minute WHERE agency_id = '{AGENCY}' GROUP BY metric"
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
                f"SELECT metric, sum(value) FROM {db}.metrics_by_{bucket} WHERE agency_id = '{AGENCY}' GROUP BY metric"
            ).rows
        )
        assert rolled == minute, bucket
    answered = {"q3": s["r3"].created_at, "q4": s["r4"].created_at}
    for window, hours in (("7d", 24 * 7), ("24h", 24)):
        [row] = store.query(f"SELECT * FROM {db}.agency_metrics_{window} WHERE agency_id = '{AGENCY}'").dicts()
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
    [week] = store.query(f"SELECT * FROM {db}.agency_metrics_7d WHERE agency_id = '{AGENCY}'").dicts()
    assert (week["reply_rate"], week["sla_compliance"]) == (pytest.approx(2 / 3), pytest.approx(1 / 3))
    assert (week["two_way_ratio"], week["pull_share"], week["push_share"]) == (0.5, 0.25, 0.25)
    accounts = store.query(f"SELECT agency_id, account_id, platform FROM {db}.account_metrics_7d").rows
    assert (AGENCY, s["q1"].account_id, "x") in accounts
