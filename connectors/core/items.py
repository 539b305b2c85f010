"""Pure helpers that every parser of platform items shares: webhooks, pollers and streams alike.

- :func:`guard`: one item parsed, or :class:`Rejected` saying where and why, so one bad item never loses the others;
  :func:`guard_one` does the same for a parser that may skip its item (``[]``, ``[event]`` or ``[Rejected]``).
- :func:`role_of`: an author's role, by immutable id only (never by name or handle).
- :func:`event_fields`: the fields every event of one account shares.
- :func:`native_id`: a platform id as text (ids stay strings: Facebook's, Instagram's and X's exceed 2**53).
- :func:`aware_iso`: an ISO 8601 time with an offset, or ``None``.

Everything here is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from connectors.core.contracts import Parsed, Rejected
from connectors.core.errors import InvalidInput
from schemas.agency import Directory
from schemas.events import AuthorRole, Event, Platform, make_event_id
from schemas.records import POISON, poison_reason, validation_reason

__all__ = ["aware_iso", "event_fields", "guard", "guard_one", "native_id", "role_of"]

T = TypeVar("T")


def guard(where: str, raw: Any, parse: Callable[[], T]) -> T | Rejected:
    """``parse()``, or :class:`Rejected` saying ``where`` and why: one bad item never loses the others."""
    try:
        return parse()
    except InvalidInput as exc:
        return Rejected(f"{where}: {exc.reason}", raw, exc.error_type)
    except ValidationError as exc:
        return Rejected(f"{where}: {validation_reason(exc)}", raw, "schema")
    except Exception as exc:  # a case the checks missed: dead-letter it as poison rather than lose the rest
        return Rejected(f"{where}: {poison_reason(exc)}", raw, POISON)


def guard_one(where: str, raw: Any, parse: Callable[[], Event | None]) -> list[Parsed]:
    """:func:`guard` for a parser that may skip its item: ``[item]``, ``[]`` (skipped) or ``[Rejected]``."""
    item = guard(where, raw, parse)
    return [] if item is None else [item]


def role_of(platform: Platform, author_id: str, account_id: str, directory: Directory) -> AuthorRole:
    """By immutable id: the delivery's own account is the agency, another directory account another agency."""
    if author_id == account_id:
        return AuthorRole.AGENCY
    if directory.owner_of(platform, author_id) is not None:
        return AuthorRole.OTHER_AGENCY
    return AuthorRole.CITIZEN


def event_fields(  # noqa: PLR0913 - the six fields every event carries
    platform: Platform, agency_id: str, account_id: str, native: str, created_at: datetime, source: str
) -> dict[str, Any]:
    """The fields every event of one account shares, for the event ``<platform>:<native>``."""
    return {
        "event_id": make_event_id(platform, native),
        "platform": platform,
        "agency_id": agency_id,
        "account_id": account_id,
        "created_at": created_at,
        "source": source,
    }


def native_id(raw: Any) -> str | None:
    """A platform id as text: a non-empty string, or the exact text of a JSON integer; else ``None``."""
    if isinstance(raw, str):
        return raw or None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)  # JSON integers decode exactly in Python; floats (rounded past 2**53) are refused
    return None


def aware_iso(raw: Any) -> datetime | None:
    """An ISO 8601 time with an offset as an aware datetime; ``None`` for anything else (naive, not text, invalid)."""
    try:
        moment = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.utcoffset() is not None else None
