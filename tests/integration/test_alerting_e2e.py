"""Alerting end to end with the real tools (issue 9, item 6): a surge of unanswered messages pages, then resolves.

``serambi run`` (embedded broker, chDB, worker) is scraped by a real Prometheus (Debian 2.42) with Serambi's alert
rules, which sends to a real Alertmanager (0.25) notifying a webhook run here. ``serambi import`` brings a week of
normal, answered traffic at the same hours (the detector's baseline), then a flood of unanswered mentions: the
webhook must get a firing UnansweredSurge for the agency; then the replies to the flood and normal traffic after
it: the webhook must get it resolved. In CI (``CI`` set) missing tools fail the test instead of skipping it.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from pipeline.runtime.monitoring import (
    Binaries,
    MonitoringOptions,
    MonitoringStack,
    alertmanager_config,
    write_prometheus_files,
)
from schemas.agency import Agency, load_directory
from schemas.events import Event
from schemas.workcalendar import WorkingCalendar
from tests.helpers.monitoring import WebhookReceiver, require_binaries, require_tool, wait_until
from tests.helpers.processes import cli_env, run_cli, start_run
from tests.helpers.surge_events import SurgeTraffic

AGENCY = "jpj"  # federal: its surge alerts are critical pages in production
TOKEN = "e2e-api-token"  # the API needs it for /metrics: Prometheus must send it
HOURS = (time(1, 0), time(4, 0))  # UTC hours with traffic on every day: the detector's baseline of those hours
SURGE_AT = time(2, 10)
SURGE_MESSAGES = 300  # in 10 minutes, against a normal of one a minute
FIRST_FILE_UNTIL = time(2, 40)  # the flood, unanswered, and normal traffic after it
REPLIES_AT = time(2, 41)
TRAFFIC_UNTIL = time(3, 30)  # the backlog must stay drained for 15 event-time minutes before the alert resolves
# Both tools at 1 s: the first scrape and the Alertmanager's discovery take ~5 s after Prometheus is ready.
TIMINGS = MonitoringOptions(
    scrape_interval_s=1,
    evaluation_interval_s=1,
    group_wait_s=1,
    group_interval_s=1,
    repeat_interval_s=3600,
    resolve_timeout_s=60,
)


def _surge_day(agency: Agency, today: date) -> date:
    """The latest working day of the agency at least two days ago whose previous week holds 3 working days."""
    calendar = WorkingCalendar.of(agency)
    day = today - timedelta(days=2)
    while not (
        calendar.is_working_day(day) and sum(calendar.is_working_day(day - timedelta(days=n)) for n in range(1, 8)) >= 3
    ):
        day -= timedelta(days=1)
    return day


def _surge_files(tmp_path: Path, agency: Agency, day: date) -> tuple[Path, Path]:
    """The history, the day until after the flood (file 1); the replies to the flood and what follows (file 2)."""
    traffic = SurgeTraffic(agency)
    for back in range(7, 0, -1):
        traffic.normal(day - timedelta(days=back), *HOURS)
    traffic.normal(day, HOURS[0], TRAFFIC_UNTIL)
    surge_at = datetime.combine(day, SURGE_AT, tzinfo=UTC)
    traffic.flood(surge_at, SURGE_MESSAGES, timedelta(seconds=2), datetime.combine(day, REPLIES_AT, tzinfo=UTC))
    split = datetime.combine(day, FIRST_FILE_UNTIL, tzinfo=UTC)
    return (
        _written(tmp_path / "surge.jsonl", traffic.ordered(split - timedelta(days=8), split)),
        _written(tmp_path / "after.jsonl", traffic.ordered(split, split + timedelta(days=1))),
    )


def _written(path: Path, events: list[Event]) -> Path:
    path.write_text("".join(event.model_dump_json() + "\n" for event in events), encoding="utf-8")
    return path


@pytest.fixture
def binaries() -> Binaries:
    """Prometheus and Alertmanager, before anything starts (skipped, or failed in CI, when missing)."""
    return require_binaries()


@pytest.fixture
def stack_env(binaries: Binaries, tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    """``serambi run`` with an API token and per-second gauges: its environment and API URL; stopped afterwards."""
    env = {**cli_env(tmp_path), "SERAMBI_API_TOKEN": TOKEN, "SERAMBI_METRICS_REFRESH_SECONDS": "1"}
    stack, head = start_run(env)
    try:
        state = json.loads((tmp_path / "data" / "stack.json").read_text(encoding="utf-8"))
        yield env, str(state["api_url"])
    finally:
        stack.send_signal(signal.SIGINT)
        try:
            output, _ = stack.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            stack.kill()
            output, _ = stack.communicate()
    assert stack.returncode == 0, "".join(head) + output


def _surges(hook: WebhookReceiver) -> list[dict[str, Any]]:
    return [alert for alert in hook.alerts() if alert["labels"]["alertname"] == "UnansweredSurge"]


def _is(alert: dict[str, Any], status: str) -> bool:
    """A critical UnansweredSurge of the agency with this status.

    The detector may raise a flood as a warning and update it to critical a minute later, as it grows. Severity
    is part of the alert's identity in Prometheus (the rule keeps it as a label), so Alertmanager may see a
    warning fire first; the gauges are a ladder (the warning series stays 1 while the critical one is), so that
    warning goes on, inhibited, and resolves with the critical one: the critical one is followed.
    """
    wanted = {"alertname": "UnansweredSurge", "agency": AGENCY, "severity": "critical"}
    labels: dict[str, str] = alert["labels"]
    return alert["status"] == status and wanted.items() <= labels.items()


def test_a_surge_of_unanswered_messages_pages_and_resolves_once_answered(
    tmp_path: Path, binaries: Binaries, stack_env: tuple[dict[str, str], str]
) -> None:
    env, api_url = stack_env
    agency = load_directory().get(AGENCY)
    surge, after = _surge_files(tmp_path, agency, _surge_day(agency, datetime.now(UTC).date()))
    with (
        WebhookReceiver() as hook,
        MonitoringStack(
            binaries,
            tmp_path / "monitoring",
            api_url,
            token=SecretStr(TOKEN),
            options=dataclasses.replace(TIMINGS, webhook_url=hook.url),
        ).start() as monitoring,
    ):
        monitoring.wait_scraping(timeout_s=30)
        # The per-agency gauges reach Prometheus through the token-protected /metrics.
        wait_until(
            lambda: monitoring.query(f'serambi_agency_backlog_messages{{agency="{AGENCY}"}}'),
            30,
            "serambi_agency_backlog_messages of the agency in Prometheus",
        )

        run_cli(["import", "jsonl", str(surge)], env)
        firing = hook.wait_for(lambda alert: _is(alert, "firing"), timeout_s=60)
        assert firing["labels"] == {
            "alertname": "UnansweredSurge",
            "agency": AGENCY,
            "tier": "federal",
            "severity": "critical",
            "category": "agency",
        }
        assert firing["annotations"]["runbook_url"] == "deploy/RUNBOOK.md#unansweredsurge"
        assert not any(alert["status"] == "resolved" for alert in _surges(hook))  # no warning resolved on escalation
        assert {alert["labels"]["agency"] for alert in _surges(hook)} == {AGENCY}

        run_cli(["import", "jsonl", str(after)], env)
        resolved = hook.wait_for(lambda alert: _is(alert, "resolved"), timeout_s=60)
        assert resolved["labels"] == firing["labels"]


def test_the_generated_configs_pass_promtool_and_amtool(tmp_path: Path) -> None:
    promtool, amtool = require_tool("promtool"), require_tool("amtool")
    options = MonitoringOptions(webhook_url="http://127.0.0.1:9/alerts")
    config = write_prometheus_files(tmp_path, "http://127.0.0.1:8765", "127.0.0.1:9093", options, SecretStr(TOKEN))
    checked = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 9 rules found" in checked.stdout
    alertmanager = tmp_path / "alertmanager.yml"
    alertmanager.write_text(yaml.safe_dump(alertmanager_config(options)), encoding="utf-8")
    checked = subprocess.run(
        [amtool, "check-config", str(alertmanager)], capture_output=True, text=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
