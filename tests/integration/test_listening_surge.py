"""A burst about one theme is the agency's top rising topic and its surge alert says so (issue 15, acceptance).

The real stack (embedded broker, worker, chDB, the worker's surge detector and alert store) reads four working
days of everyday questions to two agencies, then on the fifth day a burst of unanswered messages to each, about
a different theme: metmy is asked about a flood (every message says *banjir*, most *paras air*), jpj about
traffic fines (*saman*). Each agency's top rising topic (``serambi listen topics``) is its own theme, and each
surge alert (``serambi alerts``) carries its own theme's terms and none of the other's: the terms come from the
alert's own messages, not from whatever surged anywhere.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from typing import Any

import orjson

from connectors.simulator.texts import QUESTIONS
from pipeline.cli.alerts import print_alerts
from pipeline.domain.topics import Message, Topic, rank_topics
from pipeline.storage.sql.alerts import AlertFilter, list_alerts
from pipeline.storage.sql.topics import TopicSpan, topic_texts
from schemas.agency import Agency, load_directory
from schemas.alerts import AlertEvent
from schemas.events import AuthorRole, Interaction, InteractionKind
from tests.helpers.live import LiveStack
from tests.helpers.monitoring import wait_until
from tests.helpers.surge_events import FLOOD_AT, REPLIES_AT, SURGE_DAY, SurgeTraffic, flood_day

FLOODED, FINED = "metmy", "jpj"
FLOOD_THEME = {"banjir", "paras air"}
FINES_THEME = {"saman"}
FLOOD = (
    "Banjir makin teruk di Kuala Krai, paras air dah cecah lutut",
    "Bila banjir ni akan surut? Paras air sungai masih tinggi",
    "Ada amaran banjir untuk kawasan Dabong malam ini?",
    "Banjir dah masuk rumah, tolong hantar bantuan segera",
    "Paras air Sungai Golok naik lagi, banjir besar ke?",
    "Laluan ke sekolah ditutup sebab banjir, paras air tinggi",
)
FINES = (
    "Saman trafik saya salah, macam mana nak rayu saman ini?",
    "Kenapa saya dapat saman AWAS padahal tak pernah lalu situ?",
    "Boleh bayar saman secara dalam talian?",
    "Diskaun saman masih ada bulan ini?",
    "Saman ekzos bising sudah dibayar tapi status belum berubah",
    "Tolong semak saman saya, nombor kenderaan dalam DM",
)
WINDOW_END = datetime.combine(SURGE_DAY, time(4, 0), tzinfo=UTC)  # the end of the surge day's traffic


class ThemedTraffic(SurgeTraffic):
    """:func:`~tests.helpers.surge_events.flood_day`'s traffic with texts: everyday questions, a burst on a theme.

    Message ids carry the agency, so two agencies' traffic can go through one stack.
    """

    def __init__(self, agency: Agency, burst: tuple[str, ...]) -> None:
        super().__init__(agency)
        self.burst = burst
        self._turn = itertools.count()

    def _id(self, message_id: str) -> str:
        prefix = f"{self.agency.id}-"
        return message_id if message_id.startswith(prefix) else prefix + message_id

    def mention(self, message_id: str, at: datetime, answered_at: datetime | None) -> None:
        """A citizen mention: of the burst (ids ``s...``) on its theme, else an everyday question."""
        texts = self.burst if message_id.startswith("s") else QUESTIONS
        message_id, turn = self._id(message_id), next(self._turn)
        self.events.append(
            self._interaction(
                message_id,
                at,
                kind=InteractionKind.MENTION,
                root_id=message_id,
                author_id=f"ps1:{turn:032x}",
                author_role=AuthorRole.CITIZEN,
                text=texts[turn % len(texts)],
            )
        )
        if answered_at is not None:
            self.reply(message_id, answered_at)

    def reply(self, message_id: str, at: datetime) -> None:
        """The agency's reply to ``message_id``."""
        super().reply(self._id(message_id), at)


def _traffic(agency: Agency, burst: tuple[str, ...]) -> ThemedTraffic:
    traffic = ThemedTraffic(agency, burst)
    # The days, hours and burst of the surge tests, replayed with texts.
    plain = [e for e in flood_day(agency).ordered() if isinstance(e, Interaction)]
    replied = {e.parent_id: e.created_at for e in plain if e.author_role is AuthorRole.AGENCY}
    for event in plain:
        if event.author_role is AuthorRole.CITIZEN:
            traffic.mention(event.message_id, event.created_at, replied.get(event.message_id))
    return traffic


def _resolved_alerts(live: LiveStack) -> dict[str, AlertEvent]:
    store = live.stack.store

    def ready() -> dict[str, AlertEvent] | None:
        alerts, _ = list_alerts(store, store.database, AlertFilter())
        done = {a.agency: a for a in alerts if not a.active}
        return done if {FLOODED, FINED} <= set(done) and all(not a.active for a in alerts) else None

    return wait_until(ready, timeout_s=120, what="both agencies' surge alerts, resolved, in the alerts table")


def _topics(live: LiveStack, agency: str) -> list[Topic]:
    """``serambi listen topics --agency AGENCY --window 24h --until WINDOW_END``: its query and its ranking."""
    day = timedelta(days=1)
    span = TopicSpan(WINDOW_END - 5 * day, WINDOW_END - 2 * day, WINDOW_END - day, WINDOW_END, agency)
    texts = topic_texts(live.stack.store, live.stack.store.database, span)[agency]
    window = [Message(text.text, text.unanswered) for text in texts.window]
    return rank_topics(window, [text.text for text in texts.previous], [text.text for text in texts.history])


def _alerts_json(live: LiveStack) -> list[dict[str, Any]]:
    """``serambi alerts --format json``: its query and its output."""
    found, total = list_alerts(live.stack.store, live.stack.store.database, AlertFilter())
    out: list[str] = []
    print_alerts("the live stack", found, total, "json", out.append)
    return list(orjson.loads(out[0])["alerts"])


def test_a_burst_on_one_theme_is_the_top_rising_topic_and_its_alert_carries_the_terms(settings_factory: Any) -> None:
    directory = load_directory()
    events = [
        *_traffic(directory.get(FLOODED), FLOOD).events,
        *_traffic(directory.get(FINED), FINES).events,
    ]
    live = LiveStack(settings_factory()).start()
    try:
        live.publish(directory, sorted(events, key=lambda e: e.created_at))
        alerts = _resolved_alerts(live)
        flooded, fined = _topics(live, FLOODED), _topics(live, FINED)
        listed = _alerts_json(live)
    finally:
        live.stop()

    # The theme is the agency's top rising topic: in the burst's messages, absent before.
    top = flooded[0]
    assert top.term in FLOOD_THEME, flooded
    assert top.rise == top.count > 0
    assert fined[0].term in FINES_THEME, fined
    # Each alert carries its own theme's terms, first, and none of the other's.
    flood_alert, fines_alert = alerts[FLOODED], alerts[FINED]
    assert FLOOD_AT < flood_alert.started_at <= FLOOD_AT + timedelta(minutes=5)
    assert flood_alert.resolved_at is not None
    assert flood_alert.resolved_at > REPLIES_AT  # the resolve carries the raise's terms
    assert flood_alert.top_terms[0] in FLOOD_THEME, flood_alert.top_terms
    assert set(flood_alert.top_terms) >= FLOOD_THEME
    assert not set(flood_alert.top_terms) & FINES_THEME
    assert fines_alert.top_terms[0] in FINES_THEME, fines_alert.top_terms
    assert not set(fines_alert.top_terms) & FLOOD_THEME
    # `serambi alerts --format json` shows them as stored.
    by_agency = {row["agency"]: row for row in listed}
    assert tuple(by_agency[FLOODED]["top_terms"]) == flood_alert.top_terms
    assert tuple(by_agency[FINED]["top_terms"]) == fines_alert.top_terms
