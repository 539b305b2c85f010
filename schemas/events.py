"""Canonical events every connector emits and every consumer reads (schema version 2).

Four event types travel on the events topic, told apart by ``type``:

- :class:`Post`: a top-level post by an agency account (content the agency pushes).
- :class:`Interaction`: a comment, reply, mention or direct message, by a citizen, the agency
  itself or another agency, inside one conversation (``root_id``).
- :class:`Reaction`: a like/love/share... either one event or a count snapshot from a polling API.
- :class:`Change` (version 2): an edit or a removal of a post, message or reaction, as its own event: the
  original is never overwritten, so an edited message keeps the time it was first seen, and a removed citizen
  message leaves the backlog as ``removed`` (see the README's domain rules).

Version 1 records (without ``change`` events) stay readable: ``schema_version`` is 1 or 2, and a change is 2.

``event_id`` is ``"<platform>:<platform-native id>"`` so a redelivered event is recognisable.

A ``text`` longer than :data:`MAX_TEXT_CHARS` (65,536 characters) is invalid: the event goes to the dead-letter
topic with the reason. No platform allows messages that long (Facebook's limit, the largest, is 63,206), so such a
text is a broken producer or hostile input; it is refused rather than cut, so a stored text is always whole.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from schemas.timeutil import EARLIEST_EVENT, LATEST_EVENT, event_time

__all__ = [
    "EVENT_ADAPTER",
    "MAX_TEXT_CHARS",
    "SCHEMA_VERSION",
    "AuthorRole",
    "Change",
    "ChangeOp",
    "Event",
    "Interaction",
    "InteractionKind",
    "Platform",
    "Post",
    "Reaction",
    "ReactionMode",
    "TaggedEvent",
    "conversation_key",
    "make_event_id",
]

SCHEMA_VERSION: Final = 2
_ZERO = timedelta(0)
_FIRST_YEAR = EARLIEST_EVENT.year
_END_YEAR = LATEST_EVENT.year
# ClickHouse stores reaction counts as UInt64: a larger count would wrap (2**64 is stored as 0).
_MAX_COUNT: Final = 2**64 - 1
MAX_TEXT_CHARS: Final = 64 * 1024
"""The longest ``text`` accepted, in characters (a longer one is dead-lettered, never cut)."""
_Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]


class Platform(StrEnum):
    """Social platforms Serambi knows."""

    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    X = "x"
    YOUTUBE = "youtube"
    MASTODON = "mastodon"
    BLUESKY = "bluesky"
    TIKTOK = "tiktok"


class AuthorRole(StrEnum):
    """Who wrote an interaction, seen from the agency that owns the conversation."""

    CITIZEN = "citizen"
    AGENCY = "agency"
    OTHER_AGENCY = "other_agency"


class InteractionKind(StrEnum):
    """What kind of message an interaction is."""

    COMMENT = "comment"
    REPLY = "reply"
    MENTION = "mention"
    MESSAGE = "message"


class ChangeOp(StrEnum):
    """What a :class:`Change` does to its target."""

    EDIT = "edit"
    REMOVE = "remove"


class ReactionMode(StrEnum):
    """A reaction is one event, or a total read from a polling API."""

    EVENT = "event"
    SNAPSHOT = "snapshot"


def make_event_id(platform: Platform | str, native_id: str) -> str:
    """Stable event id from the platform's own id: ``make_event_id("x", "123") == "x:123"``."""
    return f"{Platform(platform).value}:{native_id}"


class _EventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)

    schema_version: Literal[1, 2] = SCHEMA_VERSION
    event_id: Annotated[str, Field(min_length=3, max_length=512, pattern=r"^[a-z]+:.+")]
    platform: Platform
    agency_id: Annotated[str, Field(min_length=1, max_length=64)]
    account_id: Annotated[str, Field(min_length=1, max_length=256)]
    created_at: AwareDatetime
    source: Annotated[str, Field(max_length=64)] = "unknown"

    @field_validator("created_at", mode="before")
    @classmethod
    def _text_or_datetime(cls, value: Any) -> Any:
        # Lax pydantic reads a number as epoch seconds (or milliseconds, by its size): a producer that sends
        # a number most likely means something else, so only text (JSON) or a datetime (Python) is a time.
        if isinstance(value, str | datetime):
            return value
        msg = f"must be an ISO 8601 string with a UTC offset (e.g. '2024-05-01T08:00:00Z'), not {type(value).__name__}"
        raise ValueError(msg)  # not TypeError: pydantic reports a ValueError as a validation error

    @field_validator("created_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        # Millisecond precision, as ClickHouse stores it, so stream and stored data agree to the ms.
        # The year test bounds the common case exactly (its offset is zero) at the cost of one comparison.
        if not value.microsecond % 1000 and _FIRST_YEAR <= value.year < _END_YEAR and value.utcoffset() == _ZERO:
            return value  # the common case, on the hot path: already UTC, whole milliseconds, in range
        # Bounds first (a ValueError with the reason), so that no time near year 1 or 9999 gets shifted to UTC
        # and overflows, here or in any consumer.
        utc = event_time(value)
        return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


class Post(_EventBase):
    """A top-level post by an agency account; ``links`` feed the push/pull split."""

    type: Literal["post"] = "post"
    post_id: Annotated[str, Field(min_length=1)]
    text: _Text | None = None
    links: tuple[str, ...] = ()


class Interaction(_EventBase):
    """A comment, reply, mention or direct message inside one conversation.

    ``root_id`` is the conversation root (the post, the top-level mention or the DM thread);
    ``parent_id`` the message it answers (``None`` for a top-level mention or DM).
    Citizen ``author_id`` and ``parent_author_id`` are pseudonyms once a connector published them.
    """

    type: Literal["interaction"] = "interaction"
    kind: InteractionKind
    message_id: Annotated[str, Field(min_length=1)]
    root_id: Annotated[str, Field(min_length=1)]
    parent_id: str | None = None
    author_id: Annotated[str, Field(min_length=1)]
    author_role: AuthorRole
    parent_author_id: str | None = None
    text: _Text | None = None
    links: tuple[str, ...] = ()


class Reaction(_EventBase):
    """A reaction event (``count`` = 1) or a snapshot of a total (``mode`` = snapshot)."""

    type: Literal["reaction"] = "reaction"
    mode: ReactionMode = ReactionMode.EVENT
    target_id: Annotated[str, Field(min_length=1)]
    root_id: Annotated[str, Field(min_length=1)]
    reaction_type: Annotated[str, Field(min_length=1, max_length=32)]
    count: Annotated[int, Field(ge=0, le=_MAX_COUNT)] = 1
    author_id: str | None = None


class Change(_EventBase):
    """An edit or a removal of a post, message or reaction (schema version 2).

    ``target_id`` is the changed item's ``post_id``, ``message_id`` or reaction target, ``root_id`` its
    conversation; ``created_at`` is when the change happened. An edit carries the new ``text``; the original
    event keeps its time and its place in every figure. A removal of a citizen message closes it: it leaves the
    backlog and counts as ``removed`` unless an agency reply answered it first (event time).
    ``author_id`` (who made the change, when the platform says) is a pseudonym once published, unless it is
    an agency's account.
    """

    schema_version: Literal[2] = 2
    type: Literal["change"] = "change"
    op: ChangeOp
    target_id: Annotated[str, Field(min_length=1)]
    root_id: Annotated[str, Field(min_length=1)]
    author_id: str | None = None
    author_role: AuthorRole | None = None
    text: _Text | None = None


Event = Post | Interaction | Reaction | Change
"""Any canonical event (the one alias every module uses)."""
TaggedEvent = Annotated[Event, Field(discriminator="type")]
"""An event field told apart by ``type``, for models and validation."""
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(TaggedEvent)


def conversation_key(event: Event) -> str:
    """Partition key: one conversation (platform + account + root) stays in one partition."""
    root = event.post_id if isinstance(event, Post) else event.root_id
    return f"{event.platform.value}:{event.account_id}:{root}"
