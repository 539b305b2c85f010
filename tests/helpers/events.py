"""Canonical test events: fixed agency, accounts and start time, and a factory of valid events."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.events import AuthorRole, Change, ChangeOp, Event, Interaction, InteractionKind, Platform, Post, Reaction

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
AGENCY = "tdemo"
ACCOUNT = "900100"
OTHER_ACCOUNT = "900200"

_counter = itertools.count(1)

EventFactory = Callable[..., Any]


def make_event(kind: str, **overrides: Any) -> Event:
    """A valid canonical event: kind is post, comment, reply, reaction, edit or remove; fields may be overridden."""
    n = next(_counter)
    base: dict[str, Any] = {
        "platform": Platform.X,
        "agency_id": AGENCY,
        "account_id": ACCOUNT,
        "created_at": T0 + timedelta(minutes=n),
        "source": "test",
    }
    if kind == "post":
        fields = {"event_id": f"x:p{n}", "post_id": f"p{n}", "text": "Amaran banjir"}
        return Post(**{**base, **fields, **overrides})
    if kind == "reaction":
        fields = {
            "event_id": f"x:r{n}",
            "target_id": "p1",
            "root_id": "p1",
            "reaction_type": "like",
            "author_id": f"citizen{n}",
        }
        return Reaction(**{**base, **fields, **overrides})
    if kind in ("edit", "remove"):
        fields = {"event_id": f"x:c{n}", "op": ChangeOp(kind), "target_id": "m1", "root_id": "p1"}
        return Change(**{**base, **fields, **overrides})
    citizen = kind != "reply"
    fields = {
        "event_id": f"x:m{n}",
        "message_id": f"m{n}",
        "root_id": "p1",
        "parent_id": "p1",
        "kind": InteractionKind.COMMENT if citizen else InteractionKind.REPLY,
        "author_id": f"70123456{n:04d}" if citizen else ACCOUNT,
        "author_role": AuthorRole.CITIZEN if citizen else AuthorRole.AGENCY,
        "text": "Bila jalan ini akan dibaiki?",
    }
    return Interaction(**{**base, **fields, **overrides})
