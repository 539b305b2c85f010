"""Settings errors speak the operator's language (issue 8, item 6); reading creates nothing (item 8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.settings import SettingsError, load_settings, read_settings


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        ("SERAMBI_PARTITIONS", "0", "SERAMBI_PARTITIONS: must be >= 1 (got 0)"),
        ("SERAMBI_SLA_HOURS", "-1", "SERAMBI_SLA_HOURS: must be > 0 (got -1)"),
        ("SERAMBI_API_PORT", "http", "SERAMBI_API_PORT: must be a valid integer"),
        ("SERAMBI_MAX_FUTURE_HOURS", "-2", "SERAMBI_MAX_FUTURE_HOURS: must be >= 0 (got -2)"),
        ("SERAMBI_EARLIEST_EVENT", "1999-01-01", "SERAMBI_EARLIEST_EVENT: must be on or after 2006-01-01"),
        ("SERAMBI_CLICKHOUSE_URL", "ftp://user:pw@host/db", "SERAMBI_CLICKHOUSE_URL: must start with chdb://"),
    ],
)
def test_an_invalid_setting_is_one_line_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, line: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(data_dir=tmp_path)
    message = str(caught.value)
    assert message.startswith(line)
    assert "\n" not in message
    assert "pydantic" not in message
    assert "pw" not in message  # a URL's password is never echoed


def test_several_invalid_settings_are_all_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SERAMBI_PARTITIONS", "0")
    monkeypatch.setenv("SERAMBI_SLA_HOURS", "0")
    with pytest.raises(SettingsError, match=r"SERAMBI_PARTITIONS: .*; SERAMBI_SLA_HOURS: "):
        load_settings(data_dir=tmp_path)


@pytest.mark.parametrize("url", ["", "chdb:///tmp/x", "http://h:8123/db", "HTTPS://u:p@h:8443"])
def test_the_clickhouse_urls_the_client_serves_are_accepted(url: str, tmp_path: Path) -> None:
    assert load_settings(data_dir=tmp_path, clickhouse_url=url).clickhouse_url.get_secret_value() == url


def test_event_bounds_come_from_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SERAMBI_EARLIEST_EVENT", "2015-03-01")
    monkeypatch.setenv("SERAMBI_MAX_FUTURE_HOURS", "1.5")
    bounds = load_settings(data_dir=tmp_path).event_bounds
    assert bounds.earliest == datetime(2015, 3, 1, tzinfo=UTC)
    assert bounds.max_future == timedelta(hours=1.5)


def test_reading_settings_creates_neither_data_dir_nor_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SERAMBI_PSEUDONYM_KEY", raising=False)
    data_dir = tmp_path / "absent"
    settings = read_settings(data_dir=data_dir)
    assert not data_dir.exists()
    assert settings.pseudonym_key.get_secret_value() == ""


def test_reading_settings_uses_the_key_of_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SERAMBI_PSEUDONYM_KEY", raising=False)
    written = load_settings(data_dir=tmp_path).pseudonym_key.get_secret_value()
    assert (tmp_path / "pseudonym.key").is_file()
    assert read_settings(data_dir=tmp_path).pseudonym_key.get_secret_value() == written
