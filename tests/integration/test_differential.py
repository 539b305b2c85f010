"""Stream == oracle: the Faust worker's response facts against the batch oracle's, on real services."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.simulator.source import Simulation
from pipeline.settings import load_settings
from pipeline.storage.sql.oracle import oracle_facts, store_oracle_facts
from pipeline.storage.sql.report import ReportWindow, build_report
from schemas.agency import Directory
from schemas.events import Interaction, Platform
from schemas.tables import INTERACTIONS, RESPONSE_FACTS
from tests.helpers.events import make_event
from tests.helpers.live import LiveStack
from tests.helpers.strategies import conversations
from tests.helpers.verdicts import mark_needing_no_reply

START = datetime(2026, 11, 5, 6, 0, tzinfo=UTC)
UNTIL = datetime(2026, 11, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, chdb_dir: Path) -> Iterator[LiveStack]:
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("live"),
        clickhouse_url=SecretStr(f"chdb://{chdb_dir}"),
        clickhouse_database=f"diff_{uuid.uuid4().hex[:8]}",
        partitions=4,
        pseudonym_key=SecretStr("differential"),
        sink_batch_seconds=0.1,
    )
    stack = LiveStack(settings).start()
    yield stack
    stack.stop()


def _x_account(directory: Directory) -> tuple[str, str]:
    for agency in directory.agencies:
        for account in agency.accounts:
            if account.platform is Platform.X and agency.weekday_numbers != frozenset(range(5)):
                return agency.id, account.account_id
    agency = directory.agencies[0]
    return agency.id, next(a.account_id for a in agency.accounts if a.platform is Platform.X)


def _stream_facts(live: LiveStack, prefix: str = "") -> dict[str, tuple[Any, ...]]:
    store = live.stack.store
    rows = store.query(
        f"SELECT message_id, answered_at, reply_id, response_seconds, business_seconds "
        f"FROM {store.database}.{RESPONSE_FACTS} FINAL WHERE startsWith(root_id, {{prefix:String}})",
        {"prefix": prefix},
    ).rows
    return {r[0]: (r[1].replace(tzinfo=UTC), r[2], round(r[3], 3), round(r[4], 3)) for r in rows}


def _oracle_facts(live: LiveStack, prefix: str = "") -> dict[str, tuple[Any, ...]]:
    facts = oracle_facts(live.stack.store, live.stack.agencies)
    return {
        f.message_id: (f.answered_at, f.reply_id, round(f.response_seconds, 3), round(f.business_seconds, 3))
        for f in facts
        if f.root_id.startswith(prefix)
    }


# The stack's own threads (Kafka clients) use `random` while hypothesis draws; that is not the strategy's doing.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_stream_equals_oracle_on_random_late_duplicated_out_of_order_data(
    live: LiveStack, sample_directory: Directory, data: st.DataObject
) -> None:
    agency_id, account_id = _x_account(sample_directory)
    prefix = f"h{uuid.uuid4().hex[:8]}"
    events = data.draw(conversations(agency_id, account_id, START, prefix))
    half = len(events) // 2
    live.publish(sample_directory, events[:half])
    live.drain()
    live.publish(sample_directory, events[half:])  # the rest arrives later, in another batch
    live.drain()
    assert _stream_facts(live, prefix) == _oracle_facts(live, prefix)


def test_stream_equals_oracle_on_a_simulator_day_and_reports_agree(
    live: LiveStack, sample_directory: Directory
) -> None:
    simulation = Simulation(sample_directory, seed=11, start=START, incident_at=START + timedelta(hours=9))
    events = simulation.advance(START + timedelta(days=1))
    live.publish(sample_directory, events + events[: len(events) // 10])  # with redeliveries
    live.drain()
    stream, oracle = _stream_facts(live), _oracle_facts(live)
    assert len(oracle) > 100
    assert stream == oracle
    store = live.stack.store
    oracle_sql = store_oracle_facts(store, live.stack.agencies)
    window = ReportWindow(since=START, until=UNTIL)
    assert build_report(store, store.database, window) == build_report(store, store.database, window, oracle_sql)
    mark_needing_no_reply(store)  # whatever the classifier said: a third need none, so the two rates differ
    rows = build_report(store, store.database, window)
    assert rows == build_report(store, store.database, window, oracle_sql)
    assert 0 < sum(r["needs_reply_messages"] for r in rows) < sum(r["citizen_messages"] for r in rows)
    [(counts,)] = store.query(
        f"SELECT count() FROM {store.database}.{INTERACTIONS} FINAL WHERE source = {{source:String}}",
        {"source": "simulator"},
    ).rows
    assert counts == sum(1 for e in events if e.type == "interaction")


def test_a_thank_you_needs_no_reply_and_counts_in_the_plain_figures_only(
    live: LiveStack, sample_directory: Directory
) -> None:
    # The worker stores the classifier's verdict; a thank-you left unanswered lowers the reply rate only.
    agency_id, account_id = _x_account(sample_directory)
    asked = START - timedelta(days=40)  # a window of its own: other tests' data are elsewhere
    root = f"t{uuid.uuid4().hex[:8]}"
    common = {"agency_id": agency_id, "account_id": account_id, "root_id": root, "parent_id": root}
    question = make_event("comment", **common, created_at=asked, text="Bila jalan ini akan dibaiki?")
    thanks = make_event("comment", **common, created_at=asked, text="Terima kasih JKR, jalan dah cantik!")
    assert isinstance(question, Interaction)
    assert isinstance(thanks, Interaction)
    answer = make_event(
        "reply",
        **{**common, "parent_id": question.message_id},
        author_id=account_id,
        parent_author_id=question.author_id,
        created_at=asked + timedelta(hours=2),
        text="Kerja dijadual minggu depan.",
    )
    live.publish(sample_directory, [question, thanks, answer])
    live.drain()
    store = live.stack.store
    stored = store.query(
        f"SELECT message_id, needs_reply FROM {store.database}.{INTERACTIONS} FINAL WHERE root_id = {{root:String}} "
        "AND author_role = 'citizen' ORDER BY message_id",
        {"root": root},
    ).rows
    assert dict(stored) == {question.message_id: True, thanks.message_id: False}
    window = ReportWindow(since=asked, until=asked + timedelta(days=5), agency_id=agency_id)
    oracle_sql = store_oracle_facts(store, live.stack.agencies)
    [row] = build_report(store, store.database, window)
    assert [row] == build_report(store, store.database, window, oracle_sql)
    assert (row["citizen_messages"], row["answered"], row["overdue"], row["reply_rate"]) == (2, 1, 1, 0.5)
    assert (row["needs_reply_messages"], row["needs_reply_rate"]) == (1, 1.0)
