"""A simulated period with a theme burst, stored the way the worker stores it (the real processor, real chDB).

For five weeks the tiny directory's agency ``tdemo`` is asked about roads and street lights, three messages a
day, and ``tother`` about licences. In the last 24 h before :data:`END` a flood hits tdemo's area: twelve
messages about ``banjir`` (eight say ``paras air``, six ask for a ``bot``), of which the first
:data:`FLOOD_ANSWERED` get a reply. The day before saw one flood message already.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from pipeline.metrics import Metrics
from pipeline.storage.agencies import AgencyRegistry
from pipeline.storage.history import InteractionHistory
from pipeline.storage.store import Store
from pipeline.stream.decode import Record
from pipeline.stream.processor import Processor
from schemas.agency import Directory
from schemas.events import Event
from schemas.records import encode_batch
from tests.helpers.events import ACCOUNT, AGENCY, OTHER_ACCOUNT, make_event
from tests.helpers.fakes import FakeClock

__all__ = ["END", "FLOOD", "FLOODED", "FLOOD_ANSWERED", "QUIET", "burst_events", "store_events"]

FLOODED, QUIET = AGENCY, "tother"
# Today's midnight (UTC): the topic lists are kept 7 days (citizen_topics' TTL), so a fixed date would age out.
END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
ROADS = (
    "Jalan rosak teruk di Taman Melati, bila nak baiki?",
    "Lampu jalan padam sudah 3 hari",
    "Lubang besar tepi jalan, bahaya untuk motosikal",
    "Bila turapan semula jalan ini siap?",
)
LICENCES = ("Lesen memandu saya tamat, boleh renew online?", "Saman ekzos bising, macam mana nak bayar?")
_PLACES = ("Kampung Baru", "Sri Muda", "Klang", "Shah Alam", "Kajang", "Dengkil", "Puchong", "Sepang", "Ampang")
_LEVELS = ("naik", "makin tinggi", "cecah lutut", "cecah pinggang", "melimpah", "naik mendadak", "semakin dalam")
FLOOD = tuple(
    f"Banjir {where}! "
    + (f"Paras air {(*_LEVELS, 'bahaya')[n]}. " if n < 8 else "Tolong. ")
    + ("Perlu bot." if n < 6 else "")
    for n, where in enumerate((*_PLACES, "Rawang", "Batu Arang", "Kuang"))
)
FLOOD_ANSWERED = 5


def _message(agency: str, account: str, key: str, text: str, at: datetime) -> Any:
    return make_event(
        "comment",
        message_id=key,
        event_id=f"x:{key}",
        text=text,
        created_at=at,
        agency_id=agency,
        account_id=account,
        author_id=f"ps1:{hashlib.md5(key.encode()).hexdigest()}",
    )


def burst_events(end: datetime = END) -> list[Event]:
    """Five weeks of routine questions for both agencies ending at ``end``, and tdemo's flood in its last 24 h."""
    events: list[Event] = []
    for agency, account, texts in ((FLOODED, ACCOUNT, ROADS), (QUIET, OTHER_ACCOUNT, LICENCES)):
        for day in range(35):
            for n in range(3):
                at = end - timedelta(days=day, hours=2 + 5 * n)
                events.append(_message(agency, account, f"{agency}-{day}-{n}", texts[(day + n) % len(texts)], at))
    events.append(_message(FLOODED, ACCOUNT, "old-flood", "Banjir kilat di Klang lagi", end - timedelta(hours=30)))
    for n, text in enumerate(FLOOD):
        asked = end - timedelta(hours=20 - n)
        question = _message(FLOODED, ACCOUNT, f"flood-{n}", text, asked)
        events.append(question)
        if n < FLOOD_ANSWERED:
            events.append(
                make_event(
                    "reply",
                    message_id=f"answer-{n}",
                    event_id=f"x:answer-{n}",
                    parent_id=f"flood-{n}",
                    parent_author_id=question.author_id,
                    agency_id=FLOODED,
                    account_id=ACCOUNT,
                    text="Pasukan kami dalam perjalanan",
                    created_at=asked + timedelta(minutes=20),
                )
            )
    return events


def store_events(store: Store, directory: Directory, events: Sequence[Event], now: datetime = END) -> None:
    """Store ``events`` as the worker does (raw rows, facts), with the processor's clock at ``now``."""
    registry = AgencyRegistry(store, directory)
    registry.publish()
    processor = Processor(
        store, Metrics(CollectorRegistry()), registry, InteractionHistory(store), clock=FakeClock(now)
    )
    ordered = sorted(events, key=lambda event: event.created_at)
    chunks = [ordered[at : at + 200] for at in range(0, len(ordered), 200)]
    processor.commit(processor.prepare([Record(0, offset, encode_batch(chunk)) for offset, chunk in enumerate(chunks)]))
