"""Simulated agencies and citizens: a seeded, reproducible stream of canonical events.

:class:`Simulation` is pure and framework-free: the same directory, seed, start and sequence of
``advance()`` calls give the same events. Each simulated minute draws from its own generator, seeded by
the seed and that minute, and names its events after it: two runs whose spans overlap (a demo run again on
the same data dir) produce the same events, with the same ids, for the minutes they share, so the
idempotent sinks store the overlap once. :class:`connectors.simulator.source.SimulatorConnector` paces it
against a clock; :class:`schemas.workcalendar.WorkingCalendar` says when an agency works.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.simulator.texts import FLOOD_QUESTIONS, FLOOD_TEXT, POST_TEXTS, QUESTIONS, REPLIES
from schemas.agency import Account, Agency, Directory
from schemas.events import (
    AuthorRole,
    Change,
    ChangeOp,
    Event,
    Interaction,
    InteractionKind,
    Platform,
    Post,
    Reaction,
    ReactionMode,
    make_event_id,
)
from schemas.timeutil import require_aware
from schemas.workcalendar import WorkingCalendar

__all__ = ["SOURCE", "Simulation"]

SOURCE = "simulator"
_MINUTES_PER_DAY = 1440.0
# Citizen activity by local hour: quiet nights, a late-morning peak and an evening peak (mean ~1).
_CITIZEN_HOURLY = (
    0.15, 0.15, 0.15, 0.15, 0.15, 0.2, 0.4, 0.7, 1.0, 1.3, 1.6, 1.6,
    1.4, 1.2, 1.1, 1.0, 1.0, 1.1, 1.2, 1.4, 1.7, 1.7, 1.6, 0.6,
)  # fmt: skip
# Agencies post mostly in working hours: 9 of 24 hours carry ~90% of a working day's posts.
_POST_FACTOR_WORKING, _POST_FACTOR_OFF = 2.4, 0.1
_COMMENT_DELAY_MINUTES = 90.0
_FOLLOW_UP_SHARE, _INTER_AGENCY_SHARE = 0.15, 0.05
_REPLY_SIGMA = 0.9
_SNAPSHOT_HOURS = 6
_INCIDENT_QUESTIONS = (220, 380)
_INCIDENT_REPLY_PROBABILITY = 0.03
# Citizens delete some comments (1 in 64), within two hours. Drawn from the comment's id, not the minute's
# generator: the other events of a seed stay exactly what they were before removals were simulated.
_REMOVAL_ONE_IN, _REMOVAL_MAX_MINUTES = 64, 120


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's Poisson draw; fine for the small rates used here."""
    limit, count, product = math.exp(-lam), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _citizen_factor(agency: Agency, at: datetime) -> float:
    return _CITIZEN_HOURLY[at.astimezone(agency.zone).hour]


def _minute_ceiling(moment: datetime) -> datetime:
    """``moment`` rounded up to a whole UTC minute: every run ticks on the same minute boundaries."""
    moment = moment.astimezone(UTC)
    floor = moment.replace(second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(minutes=1)


def _working_minutes(agency: Agency) -> float:
    opening, closing = agency.working_hours
    return (closing.hour * 60 + closing.minute) - (opening.hour * 60 + opening.minute)


class Simulation:
    """A seeded simulation of agencies posting, citizens asking and agencies (sometimes) answering.

    Args:
        directory: the agencies; each agency's ``simulation`` profile drives its behaviour.
        seed: seeds the only random generator; same seed, same events.
        start: simulated start (aware); events come strictly after it (ticks start at the next whole
            minute, so runs with different starts share minute boundaries and their common events).
        incident_at: when the flood incident happens (``None``: no incident).
        incident_agency_id: the agency publishing the flood warning (default ``metmy``, else the first).

    >>> sim = Simulation(directory, seed=7, start=datetime(2026, 11, 2, tzinfo=UTC), incident_at=None)
    >>> events = sim.advance(datetime(2026, 11, 2, 6, tzinfo=UTC))
    """

    def __init__(
        self,
        directory: Directory,
        *,
        seed: int,
        start: datetime,
        incident_at: datetime | None,
        incident_agency_id: str = "metmy",
    ) -> None:
        self._directory = directory
        self._seed = seed
        # A placeholder until the first tick: every minute (and the incident) reseeds it.
        self._rng = random.Random(seed)  # noqa: S311 - a reproducible simulation, not cryptography
        self._clock = _minute_ceiling(require_aware(start, "start"))
        self._incident_at = None if incident_at is None else require_aware(incident_at, "incident_at")
        ids = {agency.id for agency in directory.agencies}
        self._incident_agency = directory.get(
            incident_agency_id if incident_agency_id in ids else directory.agencies[0].id
        )
        self._seed_tag = hashlib.blake2s(str(seed).encode(), digest_size=3).hexdigest()
        self._id_prefix = ""
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self._heap: list[tuple[datetime, int, Event]] = []
        self.flood_post_id: str | None = None

    @property
    def now(self) -> datetime:
        """Simulated time generated so far (a minute boundary at or after the last ``advance``)."""
        return self._clock

    def advance(self, until: datetime) -> list[Event]:
        """Every event created after the previous ``until`` and at or before this one, oldest first."""
        until = require_aware(until, "until")
        while self._clock < until:
            self._tick(self._clock, self._clock + timedelta(minutes=1))
            self._clock += timedelta(minutes=1)
        events: list[Event] = []
        while self._heap and self._heap[0][0] <= until:
            events.append(heapq.heappop(self._heap)[2])
        return events

    def _tick(self, low: datetime, high: datetime) -> None:
        self._reseed(f"m{int(low.timestamp()) // 60}")
        for agency in self._directory.agencies:
            profile = agency.simulation
            factor = _POST_FACTOR_WORKING if WorkingCalendar.of(agency).is_open(low) else _POST_FACTOR_OFF
            for _ in range(_poisson(self._rng, profile.posts_per_day / _MINUTES_PER_DAY * factor)):
                self._post(agency, self._within(low))
            citizens = profile.mentions_per_day / _MINUTES_PER_DAY * _citizen_factor(agency, low)
            for _ in range(_poisson(self._rng, citizens)):
                self._mention(agency, self._within(low))
        if self._incident_at is not None and low < self._incident_at <= high:
            self._reseed(f"f{int(self._incident_at.timestamp())}")
            self._flood(self._incident_at)

    def _reseed(self, scope: str) -> None:
        """Draw what happens in ``scope`` (a minute, the incident) from its own generator, and name it after it."""
        self._rng = random.Random(f"{self._seed}:{scope}")  # noqa: S311 - reproducible, not cryptography
        self._id_prefix = f"sim{self._seed_tag}{scope}n"
        self._ids = itertools.count(1)

    # -- building blocks -------------------------------------------------------------------

    def _within(self, low: datetime) -> datetime:
        return low + timedelta(seconds=self._rng.randint(1, 60))

    def _native_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids)}"

    def _schedule(self, event: Event) -> None:
        heapq.heappush(self._heap, (event.created_at, next(self._seq), event))

    def _common(self, agency: Agency, account: Account, at: datetime, native_id: str) -> dict[str, Any]:
        return {
            "event_id": make_event_id(account.platform, native_id),
            "platform": account.platform,
            "agency_id": agency.id,
            "account_id": account.account_id,
            "created_at": at,
            "source": SOURCE,
        }

    @staticmethod
    def _common_of(event: Interaction, at: datetime, native_id: str) -> dict[str, Any]:
        return {
            "event_id": make_event_id(event.platform, native_id),
            "platform": event.platform,
            "agency_id": event.agency_id,
            "account_id": event.account_id,
            "created_at": at,
            "source": SOURCE,
        }

    def _citizen(self, platform: Platform) -> str:
        """Draw a citizen's clear platform id from a pool, shaped like the platform's ids."""
        index = self._rng.randrange(50_000)
        number = (index * 2_654_435_761) % 10**14  # a bijection, so the pool has no collisions
        if platform is Platform.YOUTUBE:
            return "UC" + hashlib.blake2s(str(index).encode(), digest_size=11).hexdigest()
        prefixes = {Platform.FACEBOOK: "70", Platform.INSTAGRAM: "179", Platform.X: "12000"}
        return f"{prefixes.get(platform, '9')}{number:014d}"

    # -- what happens ----------------------------------------------------------------------

    def _post(self, agency: Agency, at: datetime) -> None:
        account = self._rng.choice(agency.accounts)
        native = self._native_id()
        links: tuple[str, ...] = ()
        if agency.official_domains and self._rng.random() < agency.simulation.link_share:
            links = (f"https://{self._rng.choice(agency.official_domains)}/berita/{native}",)
        text = self._rng.choice(POST_TEXTS)
        post = Post(**self._common(agency, account, at, native), post_id=native, text=text, links=links)
        self._schedule(post)
        self._comments(agency, account, post)
        self._reactions(agency, account, post)
        if self._rng.random() < _INTER_AGENCY_SHARE:
            self._inter_agency(agency, account, post)

    def _comments(self, agency: Agency, account: Account, post: Post) -> None:
        profile = agency.simulation
        for _ in range(_poisson(self._rng, profile.comments_per_post)):
            at = post.created_at + timedelta(minutes=self._rng.expovariate(1 / _COMMENT_DELAY_MINUTES))
            if self._rng.random() > _citizen_factor(agency, at):
                continue  # citizens sleep: fewer comments at night
            citizen = self._citizen(account.platform)
            last = self._citizen_message(agency, account, post.post_id, citizen, at, QUESTIONS)
            if self._rng.random() < _FOLLOW_UP_SHARE:  # a second message, answered by one reply
                again = at + timedelta(minutes=self._rng.expovariate(1 / 15))
                last = self._citizen_message(agency, account, post.post_id, citizen, again, QUESTIONS)
            self._maybe_reply(agency, account, last, profile.reply_probability)

    def _citizen_message(  # noqa: PLR0913 - one message, all of it
        self, agency: Agency, account: Account, post_id: str, citizen: str, at: datetime, texts: Sequence[str]
    ) -> Interaction:
        native = self._native_id()
        comment = Interaction(
            **self._common(agency, account, at, native),
            kind=InteractionKind.COMMENT,
            message_id=native,
            root_id=post_id,
            parent_id=post_id,
            author_id=citizen,
            author_role=AuthorRole.CITIZEN,
            text=self._rng.choice(texts),
        )
        self._schedule(comment)
        self._maybe_removed(comment)
        return comment

    def _maybe_removed(self, comment: Interaction) -> None:
        digest = hashlib.blake2s(f"{self._seed}:{comment.message_id}".encode(), digest_size=4).digest()
        draw = int.from_bytes(digest, "big")
        if draw % _REMOVAL_ONE_IN:
            return
        after = timedelta(minutes=1 + (draw // _REMOVAL_ONE_IN) % _REMOVAL_MAX_MINUTES)
        removal = Change(
            **self._common_of(comment, comment.created_at + after, f"{comment.message_id}:remove"),
            op=ChangeOp.REMOVE,
            target_id=comment.message_id,
            root_id=comment.root_id,
            author_id=comment.author_id,
            author_role=AuthorRole.CITIZEN,
        )
        self._schedule(removal)

    def _mention(self, agency: Agency, at: datetime) -> None:
        account = self._rng.choice(agency.accounts)
        native = self._native_id()
        mention = Interaction(
            **self._common(agency, account, at, native),
            kind=InteractionKind.MENTION,
            message_id=native,
            root_id=native,
            author_id=self._citizen(account.platform),
            author_role=AuthorRole.CITIZEN,
            text=f"@{account.handle or agency.id} {self._rng.choice(QUESTIONS)}",
        )
        self._schedule(mention)
        self._maybe_reply(agency, account, mention, agency.simulation.reply_probability)

    def _maybe_reply(self, agency: Agency, account: Account, parent: Interaction, probability: float) -> None:
        if self._rng.random() >= probability:
            return
        at = self._reply_time(agency, parent.created_at)
        if at is None:
            return
        native = self._native_id()
        reply = Interaction(
            **self._common(agency, account, at, native),
            kind=InteractionKind.REPLY,
            message_id=native,
            root_id=parent.root_id,
            parent_id=parent.message_id,
            author_id=account.account_id,
            author_role=AuthorRole.AGENCY,
            parent_author_id=parent.author_id,
            text=self._rng.choice(REPLIES),
        )
        self._schedule(reply)

    def _reply_time(self, agency: Agency, after: datetime) -> datetime | None:
        """Lognormal delay around the median, pushed into the agency's next working period."""
        median = agency.simulation.median_reply_minutes
        wanted = after + timedelta(minutes=median * math.exp(_REPLY_SIGMA * self._rng.gauss(0.0, 1.0)))
        at = WorkingCalendar.of(agency).next_opening(wanted)
        if at is None or at == wanted:
            return at
        # Nobody answers at the stroke of opening: spread the backlog over the first part of the day.
        spread = min(90.0, _working_minutes(agency) / 2)
        return at + timedelta(minutes=self._rng.uniform(1.0, spread))

    def _inter_agency(self, agency: Agency, account: Account, post: Post) -> None:
        others = [
            (other, acc)
            for other in self._directory.agencies
            if other.id != agency.id
            for acc in other.accounts
            if acc.platform == account.platform
        ]
        if not others:
            return
        other, other_account = self._rng.choice(others)
        at = post.created_at + timedelta(minutes=self._rng.expovariate(1 / 60))
        native = self._native_id()
        comment = Interaction(
            **self._common(agency, account, at, native),
            kind=InteractionKind.COMMENT,
            message_id=native,
            root_id=post.post_id,
            parent_id=post.post_id,
            author_id=other_account.account_id,
            author_role=AuthorRole.OTHER_AGENCY,
            text=f"Terima kasih atas perkongsian. Salam dari {other.name}.",
        )
        self._schedule(comment)

    def _reactions(self, agency: Agency, account: Account, post: Post) -> None:
        likes: list[datetime] = []
        for _ in range(_poisson(self._rng, agency.simulation.comments_per_post * 2.5)):
            at = post.created_at + timedelta(minutes=self._rng.expovariate(1 / 120))
            kind = self._rng.choices(("like", "love", "share"), weights=(70, 15, 15))[0]
            native = self._native_id()
            self._schedule(Reaction(
                **self._common(agency, account, at, native), target_id=post.post_id, root_id=post.post_id,
                reaction_type=kind, author_id=self._citizen(account.platform),
            ))  # fmt: skip
            if kind == "like":
                likes.append(at)
        for hour in range(1, _SNAPSHOT_HOURS + 1):  # what a polling API would read every hour
            at = post.created_at + timedelta(hours=hour)
            self._schedule(Reaction(
                **self._common(agency, account, at, f"{post.post_id}-likes-{hour}h"),
                mode=ReactionMode.SNAPSHOT, target_id=post.post_id, root_id=post.post_id,
                reaction_type="like", count=sum(1 for liked in likes if liked <= at),
            ))  # fmt: skip

    def _flood(self, at: datetime) -> None:
        """Script the incident: a flood warning drawing hundreds of questions, almost none answered."""
        agency = self._incident_agency
        account = next((a for a in agency.accounts if a.platform is Platform.FACEBOOK), agency.accounts[0])
        native = self._native_id()
        domain = agency.official_domains[0] if agency.official_domains else None
        links = (f"https://{domain}/amaran-banjir/{native}",) if domain else ()
        common = self._common(agency, account, at, native)
        post = Post(**common, post_id=native, text=FLOOD_TEXT, links=links)
        self.flood_post_id = native
        self._schedule(post)
        for _ in range(self._rng.randint(*_INCIDENT_QUESTIONS)):
            delay = self._rng.expovariate(1 / 18)
            delay = delay if delay < 58 else self._rng.uniform(0.5, 58)
            citizen = self._citizen(account.platform)
            question_at = at + timedelta(minutes=delay)
            question = self._citizen_message(agency, account, native, citizen, question_at, FLOOD_QUESTIONS)
            self._maybe_reply(agency, account, question, _INCIDENT_REPLY_PROBABILITY)
        self._reactions(agency, account, post)
