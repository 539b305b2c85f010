"""Alert rules and Alertmanager config checked by the real tools: promtool 2.42 and amtool 0.25 (issue 9, item 5).

The tools come from Debian's ``prometheus`` and ``prometheus-alertmanager`` packages. In CI (``CI`` set) a missing
tool fails the test: a skipped rule test would let a broken rule ship.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "rules" / "serambi.rules.yml"
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
ALERTMANAGER = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
RUNBOOK = ROOT / "deploy" / "RUNBOOK.md"

# The metrics the worker exports for these rules (issue 9, item 4): a rule on any other name never fires.
WORKER_METRICS = {
    "serambi_agency_backlog_messages",
    "serambi_agency_oldest_unanswered_seconds",
    "serambi_agency_sla_seconds",
    "serambi_agency_arrivals_per_minute",
    "serambi_agency_arrivals_baseline_per_minute",
    "serambi_agency_surge_score",
    "serambi_agency_surge_active",
    "serambi_agency_reply_rate_24h",
    "serambi_agency_sla_compliance_24h",
    "serambi_agency_citizen_messages_24h",
    "serambi_events_total",
    "serambi_dead_letters_total",
    "serambi_alerts_raised_total",
    "serambi_worker_consumer_lag_records",
    "serambi_sink_last_success_timestamp_seconds",
    "serambi_sink_insert_seconds",
    "serambi_matcher_open_conversations",
    "serambi_ingress_deliveries_total",
}
ALERTS = {
    "UnansweredSurge",
    "BacklogTooOld",
    "ReplyRateDropped",
    "PipelineStalled",
    "ConsumerLagHigh",
    "DeadLetterGrowing",
    "WebhooksNotAcknowledged",
    "WebhookSignaturesRejected",
}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        why = f"{name} not installed (apt-get install prometheus prometheus-alertmanager)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, check=False)


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _duration_seconds(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", text))


def test_promtool_check_rules() -> None:
    result = _run(_tool("promtool"), "check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 9 rules found" in result.stdout


def test_promtool_check_example_config() -> None:
    result = _run(_tool("promtool"), "check", "config", PROMETHEUS_DIR / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests_pass() -> None:
    result = _run(_tool("promtool"), "test", "rules", *RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS)


def test_rules_cover_the_alerts_with_runbook_sections_and_only_worker_metrics() -> None:
    rules = _rules()
    assert {rule["alert"] for rule in rules} == ALERTS
    anchors = {
        "#" + re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
        for h in re.findall(r"^## (.+)$", RUNBOOK.read_text(), re.M)
    }
    for rule in rules:
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook_url"} <= set(annotations), rule["alert"]
        assert annotations["runbook_url"] == f"deploy/RUNBOOK.md#{rule['alert'].lower()}"
        assert "#" + rule["alert"].lower() in anchors, f"no RUNBOOK section for {rule['alert']}"
        used = set(re.findall(r"serambi_[a-z0-9_]+", rule["expr"] + str(annotations)))
        assert used <= WORKER_METRICS, used - WORKER_METRICS
        assert rule["labels"]["category"] in {"agency", "pipeline"}


def _boundary_mutations() -> list[tuple[int, str, int]]:
    mutations = []
    for index, rule in enumerate(_rules()):
        seconds = _duration_seconds(rule.get("for", "0s"))
        mutations.append((index, rule["alert"], seconds + 60))
        if seconds:
            mutations.append((index, rule["alert"], seconds - 60))
    return mutations


@pytest.mark.parametrize(("index", "alert", "for_seconds"), _boundary_mutations())
def test_rule_tests_catch_a_for_moved_by_one_evaluation(
    tmp_path: Path, index: int, alert: str, for_seconds: int
) -> None:
    """Each ``for:`` is probed at T-1m (silent) and T (fires): moving it by one minute must fail the tests."""
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS_DIR, copy)
    document = yaml.safe_load(RULES.read_text())
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    rules[index]["for"] = f"{for_seconds}s"
    (copy / "rules" / "serambi.rules.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    # Only the test files that probe this alert: the week-long ReplyRateDropped series make the others slow.
    probing = [f for f in sorted((copy / "tests").glob("*.yml")) if f"alertname: {alert}" in f.read_text()]
    assert probing, f"no promtool test probes {alert}"
    result = _run(_tool("promtool"), "test", "rules", *probing)
    assert result.returncode != 0, f"the tests did not notice {alert} with for: {for_seconds}s"
    assert f"alertname: {alert}" in result.stdout + result.stderr


def test_amtool_check_config_committed_and_rendered(tmp_path: Path) -> None:
    amtool = _tool("amtool")
    committed = _run(amtool, "check-config", ALERTMANAGER)
    assert committed.returncode == 0, committed.stdout + committed.stderr
    # What deploy/RUNBOOK.md's render step produces from the secret file must be valid too.
    rendered = tmp_path / "alertmanager.yml"
    rendered.write_text(ALERTMANAGER.read_text().replace("@TELEGRAM_BOT_TOKEN@", "123456:ABC-test-token"))
    result = _run(amtool, "check-config", rendered)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_config_reads_secrets_from_files_only() -> None:
    config = yaml.safe_load(ALERTMANAGER.read_text())
    assert config["global"]["smtp_auth_password_file"].startswith("/etc/alertmanager/secrets/")
    assert "smtp_auth_password" not in config["global"]
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            assert hook["http_config"]["authorization"]["credentials_file"].startswith("/etc/alertmanager/secrets/")
        for telegram in receiver.get("telegram_configs", []):
            assert telegram["bot_token"] == "@TELEGRAM_BOT_TOKEN@"


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (
            {"alertname": "UnansweredSurge", "category": "agency", "severity": "critical", "tier": "federal"},
            "office-page",
        ),
        (
            {"alertname": "UnansweredSurge", "category": "agency", "severity": "critical", "tier": "state"},
            "office-page",
        ),
        (
            {"alertname": "UnansweredSurge", "category": "agency", "severity": "critical", "tier": "local"},
            "office-email",
        ),
        (
            {"alertname": "UnansweredSurge", "category": "agency", "severity": "warning", "tier": "federal"},
            "office-email",
        ),
        (
            {"alertname": "BacklogTooOld", "category": "agency", "severity": "warning", "tier": "local"},
            "office-webhook",
        ),
        ({"alertname": "PipelineStalled", "category": "pipeline", "severity": "critical"}, "platform-page"),
        ({"alertname": "DeadLetterGrowing", "category": "pipeline", "severity": "warning"}, "platform-email"),
    ],
)
def test_alertmanager_routes_by_severity_and_tier(labels: dict[str, str], receiver: str) -> None:
    pairs = [f"{k}={v}" for k, v in {"agency": "bnpb", **labels}.items()]
    result = _run(
        _tool("amtool"),
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER}",
        f"--verify.receivers={receiver}",
        *pairs,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_groups_by_agency_and_inhibits_agency_alerts_while_stalled() -> None:
    config = yaml.safe_load(ALERTMANAGER.read_text())
    assert config["route"]["group_by"] == ["agency"]
    stalled = [r for r in config["inhibit_rules"] if r["source_matchers"] == ['alertname="PipelineStalled"']]
    assert {'category="agency"'} in [set(r["target_matchers"]) for r in stalled]
