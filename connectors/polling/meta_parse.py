"""What the Facebook and Instagram poll parsers share: the account's scope, count snapshots, parse results.

- :class:`Scope`: the fields every event of one polled account shares, and authors' roles (by immutable id).
- :class:`Snapshot`: when counts were read; :func:`reaction_snapshots` turns counts into :class:`Reaction`
  snapshots ``<platform>:<target>:<type>:<bucket>``, ``bucket`` the unix start of the poller's window.
- :class:`Node` (a post of a walk), :class:`Counts` (a refreshed post), :class:`CommentBatch` (a comments page).
- :func:`guard` (:mod:`connectors.core.items`', re-exported): one item parsed, or :class:`Rejected` saying where
  and why; :func:`count_of`: a Graph count.

Everything here is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from connectors.core.contracts import Parsed
from connectors.core.items import event_fields, guard, role_of
from connectors.polling.meta_graph import Paging
from schemas.agency import Directory
from schemas.events import AuthorRole, Platform, Reaction, ReactionMode

__all__ = ["CommentBatch", "Counts", "Node", "Scope", "Snapshot", "count_of", "guard", "reaction_snapshots"]

_MAX_COUNT: Final = 2**63  # Graph's counts are far below; anything larger is no count


@dataclass(frozen=True)
class Scope:
    """What every event of one polled account shares: platform, account, agency, directory, source label."""

    platform: Platform
    account_id: str
    agency_id: str
    directory: Directory
    source: str

    def fields(self, native: str, created_at: datetime) -> dict[str, Any]:
        """The common fields of the event ``<platform>:<native>``."""
        return event_fields(self.platform, self.agency_id, self.account_id, native, created_at, self.source)

    def role(self, author: str) -> AuthorRole:
        """The role of an author, by immutable id."""
        return role_of(self.platform, author, self.account_id, self.directory)


@dataclass(frozen=True)
class Snapshot:
    """When counts are read: ``observed_at`` (the event time) and its ``bucket`` (unix s, the event id)."""

    bucket: int
    observed_at: datetime


@dataclass(frozen=True)
class Node:
    """A post of a walk: its id, time, comment count (if given) and events (the post, its count snapshots)."""

    post_id: str
    created: datetime
    comments: int | None
    items: Sequence[Parsed]


@dataclass(frozen=True)
class Counts:
    """A refreshed post: its count snapshots and its comment count (if given)."""

    items: Sequence[Parsed]
    comments: int | None


@dataclass(frozen=True)
class CommentBatch:
    """A page of comments: items, paging, and nested reply lists that continue elsewhere (comment id, position)."""

    items: Sequence[Parsed]
    paging: Paging
    replies: list[tuple[str, dict[str, str]]] = field(default_factory=list)


def count_of(raw: Any) -> int | None:
    """A Graph count (a non-negative JSON integer), or ``None`` for anything else (a malformed count is left out)."""
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < _MAX_COUNT:
        return raw
    return None


def reaction_snapshots(scope: Scope, target: str, counts: Mapping[str, int], snapshot: Snapshot) -> list[Parsed]:
    """One :class:`Reaction` snapshot per type: id ``<platform>:<target>:<type>:<bucket>``."""
    return [
        Reaction(
            **scope.fields(f"{target}:{kind}:{snapshot.bucket}", snapshot.observed_at),
            mode=ReactionMode.SNAPSHOT,
            target_id=target,
            root_id=target,
            reaction_type=kind,
            count=count,
        )
        for kind, count in counts.items()
    ]
