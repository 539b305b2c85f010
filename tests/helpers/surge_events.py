"""Canonical events of an agency's normal days and one flood of unanswered mentions, for surge detection tests.

Normal traffic: one citizen mention a minute in given UTC hours, each its own conversation (so they spread over
every partition), answered three minutes later. A flood: many mentions in a few minutes, unanswered until the
agency replies to all of them at once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from schemas.agency import Agency
from schemas.events import AuthorRole, Event, Interaction, InteractionKind, Platform


class SurgeTraffic:
    """Citizen mentions of an agency's X account and the agency's replies, in event-time order on demand."""

    def __init__(self, agency: Agency) -> None:
        self.agency = agency
        self.account = next(a.account_id for a in agency.accounts if a.platform is Platform.X)
        self.events: list[Event] = []

    def _interaction(self, message_id: str, at: datetime, **fields: Any) -> Interaction:
        return Interaction(
            event_id=f"x:{message_id}",
            platform=Platform.X,
            agency_id=self.agency.id,
            account_id=self.account,
            created_at=at,
            source="surge-test",
            message_id=message_id,
            **fields,
        )

    def mention(self, message_id: str, at: datetime, answered_at: datetime | None) -> None:
        """A citizen mention, answered at ``answered_at`` (``None``: not yet)."""
        self.events.append(
            self._interaction(
                message_id,
                at,
                kind=InteractionKind.MENTION,
                root_id=message_id,
                author_id=f"ps1:{abs(hash(message_id)) % 10**32:032x}",
                author_role=AuthorRole.CITIZEN,
                text="Bila lesen saya siap?",
            )
        )
        if answered_at is not None:
            self.reply(message_id, answered_at)

    def reply(self, message_id: str, at: datetime) -> None:
        """The agency's reply to ``message_id``."""
        self.events.append(
            self._interaction(
                f"r-{message_id}",
                at,
                kind=InteractionKind.REPLY,
                root_id=message_id,
                parent_id=message_id,
                author_id=self.account,
                author_role=AuthorRole.AGENCY,
                text="Sila semak portal kami.",
            )
        )

    def normal(self, day: date, since: time, until: time) -> None:
        """One mention a minute (at a varying second) in ``[since, until)`` UTC, answered three minutes later."""
        at = datetime.combine(day, since, tzinfo=UTC)
        end = datetime.combine(day, until, tzinfo=UTC)
        while at < end:
            self.mention(f"n{at:%Y%m%d%H%M}", at + timedelta(seconds=at.minute * 7 % 60), at + timedelta(minutes=3))
            at += timedelta(minutes=1)

    def flood(self, start: datetime, messages: int, every: timedelta, replies_at: datetime | None) -> list[str]:
        """``messages`` mentions from ``start``, one every ``every``; all answered from ``replies_at`` on."""
        ids = [f"s{start:%Y%m%d%H%M}-{n:04d}" for n in range(messages)]
        for n, message_id in enumerate(ids):
            self.mention(message_id, start + n * every, None)
        if replies_at is not None:
            for n, message_id in enumerate(ids):
                self.reply(message_id, replies_at + timedelta(seconds=n))
        return ids

    def ordered(self, since: datetime | None = None, until: datetime | None = None) -> list[Event]:
        """The events in ``[since, until)``, oldest first."""
        low = since or datetime.min.replace(tzinfo=UTC)
        high = until or datetime.max.replace(tzinfo=UTC)
        return sorted((e for e in self.events if low <= e.created_at < high), key=lambda e: e.created_at)


SURGE_DAY = date(2026, 11, 6)  # a Friday; jpj works Monday to Friday: 4 previous working days
FLOOD_AT = datetime.combine(SURGE_DAY, time(2, 10), tzinfo=UTC)
REPLIES_AT = FLOOD_AT + timedelta(minutes=30)


def flood_day(agency: Agency) -> SurgeTraffic:
    """Four working days of normal traffic 01:00-04:00 UTC, then on :data:`SURGE_DAY` 300 unanswered mentions in
    10 minutes from :data:`FLOOD_AT`, all answered from :data:`REPLIES_AT`, and normal traffic until 04:00."""
    traffic = SurgeTraffic(agency)
    for back in range(4, 0, -1):
        traffic.normal(SURGE_DAY - timedelta(days=back), time(1, 0), time(4, 0))
    traffic.normal(SURGE_DAY, time(1, 0), time(4, 0))
    traffic.flood(FLOOD_AT, 300, timedelta(seconds=2), replies_at=REPLIES_AT)
    return traffic
