"""Factories shared by unit and integration tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.agency import Directory, load_directory
from schemas.events import AuthorRole, Event, Interaction, InteractionKind, Platform, Post, Reaction

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
AGENCY = "tdemo"
ACCOUNT = "900100"
OTHER_ACCOUNT = "900200"

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def sample_directory() -> Directory:
    return load_directory()


@pytest.fixture
def tiny_directory() -> Directory:
    return Directory.model_validate(
        {
            "agencies": [
                {
                    "id": AGENCY,
                    "name": "Test Agency",
                    "tier": "federal",
                    "official_domains": ["test.gov.my"],
                    "accounts": [{"platform": "x", "account_id": ACCOUNT}],
                },
                {
                    "id": "tother",
                    "name": "Other Agency",
                    "tier": "state",
                    "accounts": [{"platform": "x", "account_id": OTHER_ACCOUNT}],
                },
            ]
        }
    )


EventFactory = Callable[..., Any]


@pytest.fixture
def event_factory() -> EventFactory:
    """make("post"|"comment"|"reply"|"reaction", **overrides) -> a valid canonical event."""

    def make(kind: str, **overrides: Any) -> Event:
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

    return make
