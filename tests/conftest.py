"""Factories shared by unit and integration tests."""

from __future__ import annotations

import pytest

from schemas.agency import Directory, load_directory
from tests.helpers.events import ACCOUNT, AGENCY, OTHER_ACCOUNT, EventFactory, make_event


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


@pytest.fixture
def event_factory() -> EventFactory:
    """make("post"|"comment"|"reply"|"reaction", **overrides) -> a valid canonical event."""
    return make_event
