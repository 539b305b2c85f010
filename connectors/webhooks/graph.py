"""The Meta Graph webhook envelope that the Facebook and Instagram parsers share.

Meta delivers both platforms' webhooks in one shape, ``{"object": OBJ, "entry": [{"id": ACCOUNT, "time": s,
...}]}``, with the same id and time conventions. This module reads that envelope and those values, so that
:mod:`connectors.webhooks.facebook` and :mod:`connectors.webhooks.instagram` keep only what their ``changes`` mean:

- :func:`graph_entries`: the entries of a delivery whose account the directory knows (the rest rejected);
  :class:`GraphEntry` gives the fields every event of an entry shares.
- :func:`guarded`: one change parsed, or rejected with where and why, so one bad change never loses the others.
- :func:`native_id`, :func:`required_id`, :func:`text_of`, :func:`unix_time`: Graph values. Ids stay strings:
  Facebook's and Instagram's exceed 2**53, so a JSON number id is taken as its exact integer.
- :func:`role_of`: an author's role, by immutable id only.

:func:`guarded`, :func:`native_id` and :func:`role_of` are :mod:`connectors.core.items`' (re-exported here).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from connectors.core.contracts import Parsed, Rejected
from connectors.core.errors import InvalidInput
from connectors.core.items import event_fields, guard, native_id, role_of
from schemas.agency import Directory
from schemas.events import Platform
from schemas.timeutil import event_time

__all__ = [
    "SOURCE",
    "GraphEntry",
    "Pseudonym",
    "graph_entries",
    "guarded",
    "native_id",
    "required_id",
    "role_of",
    "text_of",
    "unix_time",
]

SOURCE: Final = "webhook:meta"
"""The ``source`` label of every event from Meta's webhooks (Facebook and Instagram share one callback)."""
Pseudonym = Callable[[str], str]
"""A platform user id -> its keyed pseudonym (pure), for event ids that name a person."""

_UNIX_SECONDS: Final = re.compile(r"[0-9]{1,12}")  # ASCII digits only: int() would also take "١٢" or "1_2"


@dataclass(frozen=True)
class GraphEntry:
    """One ``entry`` of a Graph webhook delivery whose account the directory knows.

    Args:
        index: its place in ``entry`` (for reasons).
        platform: the platform of the account.
        account_id: ``entry.id``, the agency's Page or Instagram account.
        agency_id: the agency owning that account.
        raw: the entry as delivered.
    """

    index: int
    platform: Platform
    account_id: str
    agency_id: str
    raw: Mapping[str, Any]

    def fields(self, native: str, created_at: datetime) -> dict[str, Any]:
        """The fields every event of this entry shares, for the event ``<platform>:<native>``."""
        return event_fields(self.platform, self.agency_id, self.account_id, native, created_at, SOURCE)


def graph_entries(payload: Any, obj: str, platform: Platform, directory: Directory) -> list[GraphEntry | Rejected]:
    """The entries of ``{"object": obj, "entry": [...]}``, each known to the directory or :class:`Rejected`.

    A payload of another shape is one ``Rejected``; an entry without an id one each; an entry of an account
    that no agency owns one ``Rejected(..., "unknown_account")`` each.
    """
    if not isinstance(payload, dict) or payload.get("object") != obj or not isinstance(payload.get("entry"), list):
        reason = f'{platform.value} webhook: expected a delivery {{"object": "{obj}", "entry": [...]}}'
        return [Rejected(reason, payload)]
    out: list[GraphEntry | Rejected] = []
    for index, entry in enumerate(payload["entry"]):
        account = native_id(entry.get("id")) if isinstance(entry, dict) else None
        if account is None or not isinstance(entry, dict):
            out.append(Rejected(f"entry {index}: not an object with an id", entry))
            continue
        owner = directory.owner_of(platform, account)
        if owner is None:
            reason = f"entry {index}: {platform.value} account {account} is not in the agency directory"
            out.append(Rejected(reason, entry, "unknown_account"))
            continue
        out.append(GraphEntry(index, platform, account, owner.id, entry))
    return out


def guarded(where: str, raw: Any, parse: Callable[[], Parsed | None]) -> Parsed | None:
    """``parse()``, or :class:`Rejected` saying ``where`` and why: one bad change never loses the others."""
    return guard(where, raw, parse)


def required_id(value: Mapping[str, Any], key: str, what: str) -> str:
    """``value[key]`` as an id; :class:`InvalidInput` naming ``what`` lacks it."""
    found = native_id(value.get(key))
    if found is None:
        msg = f"{what} without {key}"
        raise InvalidInput(msg)
    return found


def text_of(value: Mapping[str, Any], key: str) -> str | None:
    """``value[key]`` when it is text or absent; :class:`InvalidInput` for anything else."""
    text = value.get(key)
    if text is None or isinstance(text, str):
        return text
    msg = f"{key} is a {type(text).__name__}, not text"
    raise InvalidInput(msg)


def unix_time(raw: Any, name: str) -> datetime:
    """Unix seconds (an int, or a string of digits) as an aware UTC time within the event bounds.

    Raises :class:`InvalidInput` naming ``name`` for anything else (missing, a float, out of range).
    """
    if isinstance(raw, str) and _UNIX_SECONDS.fullmatch(raw):
        raw = int(raw)
    if not isinstance(raw, int) or isinstance(raw, bool):
        msg = f"{name} {repr(raw)[:40]} is not unix seconds"
        raise InvalidInput(msg)
    try:
        moment = datetime.fromtimestamp(raw, UTC)
    except (OverflowError, OSError, ValueError):
        msg = f"{name} {str(raw)[:40]} is not a time in unix seconds"
        raise InvalidInput(msg) from None
    try:
        return event_time(moment, name)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
