"""The worker stores each citizen message's needs-a-reply verdict (migration 0011): real chDB, the Processor."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry

from pipeline.metrics import Metrics
from pipeline.storage.agencies import AgencyRegistry
from pipeline.storage.history import InteractionHistory
from pipeline.storage.store import Store
from pipeline.stream.decode import Record
from pipeline.stream.processor import Processor
from schemas.agency import Directory
from schemas.records import encode_batch
from tests.helpers.events import T0, EventFactory
from tests.helpers.fakes import FakeClock

PSEUDONYM = "ps1:" + "e" * 32


def test_thanks_question_and_agency_reply_are_stored_with_their_verdicts(
    store: Store, tiny_directory: Directory, event_factory: EventFactory
) -> None:
    clock = FakeClock(T0 + timedelta(hours=2))
    processor = Processor(
        store,
        Metrics(CollectorRegistry()),
        AgencyRegistry(store, tiny_directory),
        InteractionHistory(store),
        clock=clock,
    )
    # Times fixed here: the factory's default moves on with every event made in the process (a whole test run),
    # which would put these past the worker's accepted future and dead-letter them.
    events = [
        event_factory(
            "comment",
            message_id="thanks",
            author_id=PSEUDONYM,
            text='Terima kasih "JKR" \\ 🙏',
            created_at=T0 + timedelta(minutes=1),
        ),
        event_factory(
            "comment",
            message_id="question",
            author_id=PSEUDONYM,
            text="Where do I renew my passport?",
            created_at=T0 + timedelta(minutes=2),
        ),
        event_factory(
            "reply",
            message_id="answer",
            parent_id="question",
            text="Di mana-mana pejabat, bila-bila?",
            created_at=T0 + timedelta(minutes=3),
        ),
    ]
    processor.commit(processor.prepare([Record(2, 0, encode_batch(events))]))
    stored = store.query(
        "SELECT message_id, needs_reply, needs_reply_reason, language, kafka_partition "
        f"FROM {store.database}.interactions ORDER BY message_id"
    ).rows
    assert [tuple(row) for row in stored] == [
        ("answer", False, "", "", 2),
        ("question", True, "question word: where do", "en", 2),
        ("thanks", False, "thanks: terima kasih", "ms", 2),
    ]
