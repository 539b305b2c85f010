"""Implausible event times go to the dead-letter topic with their reason (issue 8, item 4), on the real stack.

At the publisher (``serambi import``, through the real entry point) and in the worker, for records that did not
come through the publisher; bounds from ``SERAMBI_EARLIEST_EVENT`` and ``SERAMBI_MAX_FUTURE_HOURS``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from pipeline.runtime.stack import RunningStack
from schemas.privacy import Pseudonymizer
from schemas.records import encode_batch
from tests.helpers.events import EventFactory, make_event
from tests.helpers.processes import cli_env, run_cli
from tests.helpers.settings import SettingsFactory
from tests.helpers.stack import produce_raw, run_on_stack, with_store

# An agency of the packaged sample directory and its X account.
AGENCY, ACCOUNT = "kesihatan", "1458392012345670101"


def test_import_dead_letters_events_from_the_future_and_stores_the_rest(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    now = datetime.now(UTC)
    ours = {"agency_id": AGENCY, "account_id": ACCOUNT}
    good = make_event("comment", message_id="q1", created_at=now - timedelta(hours=2), **ours)
    ahead = make_event("comment", message_id="q2", created_at=now + timedelta(days=3), **ours)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(orjson.dumps(e.model_dump(mode="json")) + b"\n" for e in (good, ahead)))

    run_cli(["import", "jsonl", str(events)], env)

    status = orjson.loads(run_cli(["status", "--format", "json"], env).stdout)
    assert {(d["stage"], d["error_type"]): d["letters"] for d in status["dead_letters"]} == {
        ("connector", "out_of_range"): 1
    }
    report = orjson.loads(run_cli(["report", "--format", "json"], env).stdout)
    assert [row["citizen_messages"] for row in report["agencies"] if row["agency_id"] == AGENCY] == [1]


def test_the_worker_dead_letters_out_of_range_events_of_any_producer(
    settings_factory: SettingsFactory, event_factory: EventFactory
) -> None:
    settings = settings_factory(earliest_event=date(2020, 1, 1), max_future_hours=1.0)
    citizen = Pseudonymizer(settings.pseudonym_key).pseudonym("x", "42")
    now = datetime.now(UTC)
    kept = event_factory("comment", message_id="kept", author_id=citizen, created_at=now - timedelta(days=1))
    old = event_factory("comment", message_id="old", author_id=citizen, created_at=datetime(2019, 6, 1, tzinfo=UTC))
    ahead = event_factory("comment", message_id="ahead", author_id=citizen, created_at=now + timedelta(hours=5))

    async def body(stack: RunningStack) -> None:
        # Straight to the topic: the publisher's own check is not on this path.
        await asyncio.to_thread(produce_raw, stack.bootstrap_servers, [encode_batch([kept, old, ahead])])

    run_on_stack(settings, body)

    def check(store: Any) -> None:
        db = settings.clickhouse_database
        stored = store.query(f"SELECT message_id FROM {db}.interactions FINAL").rows
        assert stored == [("kept",)]
        rows = store.query(f"SELECT stage, error_type, reason, raw FROM {db}.dead_letters FINAL").rows
        letters = {orjson.loads(raw)["message_id"]: (stage, kind, reason) for stage, kind, reason, raw in rows}
        assert set(letters) == {"old", "ahead"}
        assert letters["old"][:2] == letters["ahead"][:2] == ("worker", "out_of_range")
        assert "SERAMBI_EARLIEST_EVENT" in letters["old"][2]
        assert "more than 1 h after the ingest clock" in letters["ahead"][2]

    with_store(settings, check)
