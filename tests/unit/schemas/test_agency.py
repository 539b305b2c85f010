from __future__ import annotations

from pathlib import Path

import pytest

from schemas.agency import Directory, load_directory
from schemas.errors import DirectoryError
from schemas.events import Platform


def test_sample_directory_has_twelve_agencies_with_two_to_four_accounts(sample_directory: Directory) -> None:
    assert len(sample_directory.agencies) == 12
    for agency in sample_directory.agencies:
        assert 2 <= len(agency.accounts) <= 4
        assert {a.platform for a in agency.accounts} <= {
            Platform.FACEBOOK,
            Platform.INSTAGRAM,
            Platform.X,
            Platform.YOUTUBE,
        }
    tiers = {agency.tier for agency in sample_directory.agencies}
    assert {"federal", "state"} <= tiers


def test_sample_has_a_sun_to_thu_state_agency(sample_directory: Directory) -> None:
    week = [a for a in sample_directory.agencies if a.weekday_numbers == frozenset({6, 0, 1, 2, 3})]
    assert week, "expected a Kelantan-style Sun-Thu agency"


def test_owner_of_uses_platform_and_id(sample_directory: Directory) -> None:
    agency = sample_directory.agencies[0]
    account = agency.accounts[0]
    assert sample_directory.owner_of(account.platform, account.account_id) == agency
    assert sample_directory.owner_of(account.platform, "no-such-account") is None


def test_invalid_file_says_what_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "agencies.yaml"
    path.write_text("agencies:\n  - id: Bad Id\n    name: x\n    tier: federal\n    accounts: []\n")
    with pytest.raises(DirectoryError, match="fix these fields"):
        load_directory(path)


def test_missing_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(DirectoryError, match="SERAMBI_AGENCIES_FILE"):
        load_directory(tmp_path / "nope.yaml")


def test_unknown_timezone_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "agencies.yaml"
    path.write_text(
        "agencies:\n  - {id: a, name: A, tier: state, timezone: Mars/Olympus,\n"
        "     accounts: [{platform: x, account_id: '1'}]}\n"
    )
    with pytest.raises(DirectoryError, match="unknown timezone"):
        load_directory(path)
