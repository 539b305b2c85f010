"""The monitoring stack's configs, packaged rules, binary lookup and start-up errors (no real Prometheus here)."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from pipeline.runtime.monitoring import (
    JOB,
    Binaries,
    MonitoringError,
    MonitoringOptions,
    MonitoringStack,
    alertmanager_config,
    find_binaries,
    prometheus_config,
    rules_text,
    write_prometheus_files,
)

ROOT = Path(__file__).resolve().parents[4]
FAST = MonitoringOptions(scrape_interval_s=1, evaluation_interval_s=1.5, group_wait_s=1, group_interval_s=1)


def _executable(path: Path, script: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.write_text(script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_prometheus_scrapes_the_api_metrics_with_the_token_file_and_loads_the_rules(tmp_path: Path) -> None:
    config = prometheus_config(
        "http://127.0.0.1:41234", "127.0.0.1:9093", tmp_path / "rules.yml", FAST, tmp_path / "api.token"
    )
    (job,) = config["scrape_configs"]
    assert job["job_name"] == JOB == "serambi-worker"  # the rules' PipelineStalled matches this job
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"] == [{"targets": ["127.0.0.1:41234"]}]
    assert job["authorization"] == {"type": "Bearer", "credentials_file": str(tmp_path / "api.token")}
    assert config["rule_files"] == [str(tmp_path / "rules.yml")]
    assert config["alerting"]["alertmanagers"] == [{"static_configs": [{"targets": ["127.0.0.1:9093"]}]}]
    assert config["global"] == {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1500ms"}


def test_without_a_token_prometheus_sends_no_authorization(tmp_path: Path) -> None:
    config = prometheus_config("http://127.0.0.1:8765/", "127.0.0.1:9093", tmp_path / "r.yml", MonitoringOptions())
    (job,) = config["scrape_configs"]
    assert "authorization" not in job
    assert job["metrics_path"] == "/metrics"
    assert config["global"]["scrape_interval"] == "5s"


def test_an_api_url_that_is_not_http_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not http"):
        prometheus_config("127.0.0.1:8765", "127.0.0.1:9093", tmp_path / "r.yml", FAST)


def test_alertmanager_notifies_the_webhook_with_resolves_or_nobody() -> None:
    options = MonitoringOptions(group_wait_s=1, group_interval_s=2, repeat_interval_s=60, webhook_url="http://h/a")
    config = alertmanager_config(options)
    route = config["route"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("1s", "2s", "60s")
    assert route["group_by"] == ["alertname", "agency"]
    (receiver,) = config["receivers"]
    assert receiver["name"] == route["receiver"]
    assert receiver["webhook_configs"] == [{"url": "http://h/a", "send_resolved": True}]
    (silent,) = alertmanager_config(MonitoringOptions())["receivers"]
    assert set(silent) == {"name"}  # a receiver that does nothing


def test_intervals_must_be_positive() -> None:
    with pytest.raises(ValueError, match="scrape_interval_s"):
        MonitoringOptions(scrape_interval_s=0)


def test_the_packaged_rules_are_the_deploy_rules_and_ship_in_the_wheel() -> None:
    deploy = ROOT / "deploy" / "prometheus" / "rules" / "serambi.rules.yml"
    assert deploy.is_symlink()
    assert not Path(os.readlink(deploy)).is_absolute()  # a checkout anywhere keeps the link
    assert deploy.read_text(encoding="utf-8") == rules_text()
    assert {rule["alert"] for g in yaml.safe_load(rules_text())["groups"] for rule in g["rules"]} >= {"UnansweredSurge"}
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "alert_rules/*.yml" in package_data["pipeline.runtime"]


def test_binaries_are_found_under_their_debian_or_upstream_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_binaries() is None
    _executable(tmp_path / "prometheus")
    assert find_binaries() is None  # one of the two is not enough
    _executable(tmp_path / "alertmanager")
    assert find_binaries() == Binaries(str(tmp_path / "prometheus"), str(tmp_path / "alertmanager"))
    _executable(tmp_path / "prometheus-alertmanager")
    found = find_binaries()
    assert found is not None
    assert found.alertmanager == str(tmp_path / "prometheus-alertmanager")


def test_a_binary_that_does_not_start_fails_with_its_log(tmp_path: Path) -> None:
    failing = _executable(tmp_path / "alertmanager", "#!/bin/sh\necho 'bad flag' >&2\nexit 3\n")
    binaries = Binaries(str(_executable(tmp_path / "prometheus")), str(failing))
    stack = MonitoringStack(binaries, tmp_path / "monitoring", "http://127.0.0.1:1", options=FAST)
    with pytest.raises(MonitoringError, match=r"Alertmanager .* exited with code 3; see .*alertmanager\.log"):
        stack.start()
    assert "bad flag" in (tmp_path / "monitoring" / "alertmanager.log").read_text()
    assert (tmp_path / "monitoring" / "alertmanager.yml").stat().st_mode & 0o777 == 0o600


def test_the_token_goes_to_a_private_file_never_into_the_config(tmp_path: Path) -> None:
    token = "s3cret-token-value"
    directory = tmp_path / "monitoring"
    config = write_prometheus_files(directory, "http://127.0.0.1:1", "127.0.0.1:2", FAST, SecretStr(token))
    assert (directory / "api.token").read_text() == token
    assert (directory / "api.token").stat().st_mode & 0o777 == 0o600
    assert config.stat().st_mode & 0o777 == 0o600
    assert token not in config.read_text()
    assert yaml.safe_load(config.read_text())["scrape_configs"][0]["authorization"]["credentials_file"] == str(
        directory / "api.token"
    )
    assert (directory / "rules" / "serambi.rules.yml").read_text() == rules_text()
    write_prometheus_files(directory, "http://127.0.0.1:1", "127.0.0.1:2", FAST, SecretStr(""))
    assert "authorization" not in (directory / "prometheus.yml").read_text()
