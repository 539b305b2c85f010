"""Canonical events every connector emits and every consumer reads (schema version 1).

Three event types travel on the events topic, told apart by ``type``:

- :class:`Post`: a top-level post by an agency account (content the agency pushes).
- :class:`Interaction`: a comment, reply, mention or direct message, by a citizen, the agency
  itself or another agency, inside one conversation (``root_id``).
- :class:`Reaction`: a like/love/share... either one event or a count snapshot from a polling API.

``event_id`` is ``"<platform>:<platform-native id>"`` so a redelivered event is recognisable.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, field_validator

__all__ = [
    "EVENT_ADAPTER",
    "SCHEMA_VERSION",
    "AuthorRole",
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

SCHEMA_VERSION: Final = 1
_ZERO = timedelta(0)


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


class ReactionMode(StrEnum):
    """A reaction is one event, or a total read from a polling API."""

    EVENT = "event"
    SNAPSHOT = "snapshot"


def make_event_id(platform: Platform | str, native_id: str) -> str:
    """Stable event id from the platform's own id: ``make_event_id("x", "123") == "x:123"``."""
    return f"{Platform(platform).value}:{native_id}"


class _EventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: Annotated[str, Field(min_length=3, max_length=512, pattern=r"^[a-z]+:.+")]
    platform: Platform
    agency_id: Annotated[str, Field(min_length=1, max_length=64)]
    account_id: Annotated[str, Field(min_length=1, max_length=256)]
    created_at: AwareDatetime
    source: Annotated[str, Field(max_length=64)] = "unknown"

    @field_validator("created_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        # Millisecond precision, as ClickHouse stores it, so stream and stored data agree to the ms.
        if not value.microsecond % 1000 and value.utcoffset() == _ZERO:
            return value  # the common case, on the hot path: already UTC and whole milliseconds
        utc = value.astimezone(UTC)
        return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


class Post(_EventBase):
    """A top-level post by an agency account; ``links`` feed the push/pull split."""

    type: Literal["post"] = "post"
    post_id: Annotated[str, Field(min_length=1)]
    text: str | None = None
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
    text: str | None = None
    links: tuple[str, ...] = ()


class Reaction(_EventBase):
    """A reaction event (``count`` = 1) or a snapshot of a total (``mode`` = snapshot)."""

    type: Literal["reaction"] = "reaction"
    mode: ReactionMode = ReactionMode.EVENT
    target_id: Annotated[str, Field(min_length=1)]
    root_id: Annotated[str, Field(min_length=1)]
    reaction_type: Annotated[str, Field(min_length=1, max_length=32)]
    count: Annotated[int, Field(ge=0)] = 1
    author_id: str | None = None


Event = Post | Interaction | Reaction
"""Any canonical event (the one alias every module uses)."""
TaggedEvent = Annotated[Event, Field(discriminator="type")]
"""An event field told apart by ``type``, for models and validation."""
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(TaggedEvent)


def conversation_key(event: Event) -> str:
    """Partition key: one conversation (platform + account + root) stays in one partition."""
    root = event.post_id if isinstance(event, Post) else event.root_id
    return f"{event.platform.value}:{event.account_id}:{root}"
