"""serambi connect's registry: one entry per CLI name, each builds its connector from the settings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.core.contracts import AccountContext, PollingSource, StreamSource
from connectors.core.http import HttpResponse
from pipeline.cli.connect import NAMES
from pipeline.errors import ConfigError
from pipeline.runtime.connectors import CONNECTORS
from pipeline.settings import load_settings
from schemas.agency import Account, Agency, Directory
from schemas.events import Platform

_IDS = {
    Platform.FACEBOOK: "104857600012345",
    Platform.INSTAGRAM: "17841400000012345",
    Platform.X: "1498765432109876543",
    Platform.YOUTUBE: "UC1a2B3c4D5e6F7g8H9i0JkL",
    Platform.MASTODON: "https://social.kesihatan.example/users/jknselangor",
    Platform.BLUESKY: "did:plc:agencyfictional0000000001",
    Platform.TIKTOK: "7000000000000000001",
}


class Lookup:
    """Answers Mastodon's account lookup (the only request a build makes)."""

    def get(self, url: str, *, params: object = None, headers: object = None) -> HttpResponse:
        assert url == "https://social.kesihatan.example/api/v1/accounts/lookup"
        return HttpResponse(200, b'{"id": "109876543210987654"}')


def test_the_cli_names_are_the_registry_s() -> None:
    assert set(NAMES) == set(CONNECTORS)


@pytest.mark.parametrize("name", sorted(CONNECTORS))
def test_every_connector_builds_from_the_settings_and_refuses_a_missing_credential(name: str, tmp_path: Path) -> None:
    spec = CONNECTORS[name]
    account = Account(platform=spec.platform, account_id=_IDS[spec.platform])
    agency = Agency(id="jkn", name="JKN (fiktif)", tier="state", accounts=(account,))
    context = AccountContext(agency, account, Directory(agencies=(agency,)), lambda native: "ps1:" + native,
                             datetime(2026, 11, 1, tzinfo=UTC))  # fmt: skip
    empty = load_settings(data_dir=tmp_path, pseudonym_key=SecretStr("k"))
    if spec.credential:
        with pytest.raises(ConfigError, match=f"SERAMBI_{spec.credential.upper()}"):
            spec.check(empty)
    settings = empty.model_copy(update={spec.credential: SecretStr("token")} if spec.credential else {})
    spec.check(settings)
    built = spec.build(settings, context, Lookup())
    assert isinstance(built, StreamSource if spec.kind == "stream" else PollingSource)
    assert getattr(built, "source", None) == spec.source
