"""The worker's metrics: declared once with the names the alert rules use, counted by the processor, and the
per-agency gauges set (and dropped) by the refresher. Fresh registries and in-memory fakes only."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from connectors.core.metrics import ConnectorMetrics
from connectors.webhooks.ingress import IngressMetrics
from pipeline.metrics import Metrics
from pipeline.runtime.gauges import GaugeRefresher
from pipeline.storage.query import Parameters, QueryResult
from pipeline.storage.sql.agency_gauges import AgencyInfo, merge_gauges
from pipeline.storage.sql.report import REPORT_FIELDS
from pipeline.stream.decode import Record
from pipeline.stream.processor import Processor
from schemas.agency import Directory
from schemas.events import Event
from schemas.records import encode_batch
from tests.helpers.events import ACCOUNT, T0, EventFactory
from tests.helpers.fakes import DirectoryAgencies, FakeClock, ListHistory, ListInserter

RULES = Path(__file__).resolve().parents[3] / "deploy" / "prometheus" / "rules" / "serambi.rules.yml"
ALICE, BOB = ("ps1:" + c * 32 for c in "ab")
EXPECTED_LABELS = {
    "serambi_agency_backlog_messages": ("agency", "tier"),
    "serambi_agency_oldest_unanswered_seconds": ("agency", "tier"),
    "serambi_agency_sla_seconds": ("agency", "tier"),
    "serambi_agency_reply_rate_24h": ("agency", "tier"),
    "serambi_agency_needs_reply_rate_24h": ("agency", "tier"),
    "serambi_agency_sla_compliance_24h": ("agency", "tier"),
    "serambi_agency_citizen_messages_24h": ("agency", "tier"),
    "serambi_agency_arrivals_per_minute": ("agency", "tier"),
    "serambi_agency_arrivals_baseline_per_minute": ("agency", "tier"),
    "serambi_agency_surge_score": ("agency", "tier"),
    "serambi_agency_surge_active": ("agency", "tier", "severity"),
    "serambi_events": ("kind", "platform"),
    "serambi_dead_letters": ("stage", "error_type"),
    "serambi_alerts_raised": ("severity",),
    "serambi_worker_consumer_lag_records": ("topic", "partition"),
    "serambi_sink_last_success_timestamp_seconds": (),
    "serambi_sink_insert_seconds": (),
    "serambi_matcher_open_conversations": (),
    "serambi_response_seconds": (),
    "serambi_ingress_deliveries": ("route", "outcome"),
}


def _families(metrics: Metrics) -> dict[str, Any]:
    return {family.name: family for family in metrics.registry.collect()}


def _labels_of(metrics: Metrics | IngressMetrics) -> dict[str, tuple[str, ...]]:
    # A family's label names are those of the metric object; read them from the declared collectors.
    names: dict[str, tuple[str, ...]] = {}
    for value in vars(metrics).values():
        if hasattr(value, "_labelnames"):
            names[value._name] = tuple(value._labelnames)
    return names


def test_every_metric_the_rules_use_is_declared_with_its_labels() -> None:
    metrics = Metrics(CollectorRegistry())
    ingress = IngressMetrics(metrics.registry)  # the webhook ingress's, on the stack's registry (or its own /metrics)
    declared = _labels_of(metrics) | _labels_of(ingress)
    for name, labels in EXPECTED_LABELS.items():
        assert declared.get(name) == labels, name
    used = set(re.findall(r"\b(serambi_[a-z0-9_]+)", RULES.read_text()))
    exported = set(declared) | {f"{name}_total" for name in declared}
    assert used <= exported, used - exported


def test_response_histogram_runs_from_one_minute_to_seven_days() -> None:
    metrics = Metrics(CollectorRegistry())
    [family] = [f for f in metrics.registry.collect() if f.name == "serambi_response_seconds"]
    bounds = sorted(float(s.labels["le"]) for s in family.samples if s.name.endswith("_bucket"))
    assert (bounds[0], bounds[-2], bounds[-1]) == (60.0, 7 * 86400.0, float("inf"))


def test_connector_and_worker_count_dead_letters_on_one_counter() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.dead_letters.labels("connector", "invalid").inc()
    metrics.dead_letters.labels("worker", "poison").inc(2)
    assert registry.get_sample_value("serambi_dead_letters_total", {"stage": "worker", "error_type": "poison"}) == 2
    # A second declaration on the same registry is a collision, not a silent second counter.
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        ConnectorMetrics(registry)


def test_consumer_lag_drops_partitions_that_are_gone() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.set_consumer_lag({("events", 0): 5, ("events", 1): 7, ("alerts", 0): 1})
    metrics.set_consumer_lag({("events", 0): 2, ("alerts", 0): 0})
    get = metrics.registry.get_sample_value
    assert get("serambi_worker_consumer_lag_records", {"topic": "events", "partition": "0"}) == 2
    assert get("serambi_worker_consumer_lag_records", {"topic": "alerts", "partition": "0"}) == 0
    assert get("serambi_worker_consumer_lag_records", {"topic": "events", "partition": "1"}) is None


def _processor(directory: Directory, metrics: Metrics) -> Processor:
    clock = FakeClock(T0 + timedelta(days=10))
    return Processor(ListInserter(), metrics, DirectoryAgencies(directory), ListHistory(), clock=clock)


def _record(offset: int, *events: Event) -> Record:
    return Record(0, offset, encode_batch(list(events)))


def test_the_processor_counts_events_responses_conversations_and_the_last_write(
    tiny_directory: Directory, event_factory: EventFactory
) -> None:
    metrics = Metrics(CollectorRegistry())
    processor = _processor(tiny_directory, metrics)
    get = metrics.registry.get_sample_value
    assert get("serambi_sink_last_success_timestamp_seconds") == 0
    question = event_factory("comment", message_id="q1", root_id="r1", parent_id="r1", author_id=ALICE, created_at=T0)
    other = event_factory("comment", message_id="q2", root_id="r2", parent_id="r2", author_id=BOB, created_at=T0)
    answer = event_factory(
        "reply", message_id="a1", root_id="r1", parent_id="q1", author_id=ACCOUNT, created_at=T0 + timedelta(hours=2)
    )
    like = event_factory("reaction", author_id=BOB)
    post = event_factory("post")
    processor.commit(processor.prepare([_record(0, question, other, post, like)]))
    assert get("serambi_matcher_open_conversations") == 2
    assert get("serambi_response_seconds_count") == 0
    processor.commit(processor.prepare([_record(1, answer)]))
    assert get("serambi_events_total", {"kind": "comment", "platform": "x"}) == 2
    assert get("serambi_events_total", {"kind": "reply", "platform": "x"}) == 1
    assert get("serambi_events_total", {"kind": "post", "platform": "x"}) == 1
    assert get("serambi_events_total", {"kind": "reaction", "platform": "x"}) == 1
    assert get("serambi_response_seconds_count") == 1
    assert get("serambi_response_seconds_sum") == 7200
    assert get("serambi_response_seconds_bucket", {"le": "3600.0"}) == 0
    assert get("serambi_response_seconds_bucket", {"le": "7200.0"}) == 1
    assert (get("serambi_sink_last_success_timestamp_seconds") or 0) > 0


def test_a_replayed_answer_is_not_observed_twice(tiny_directory: Directory, event_factory: EventFactory) -> None:
    metrics = Metrics(CollectorRegistry())
    processor = _processor(tiny_directory, metrics)
    question = event_factory("comment", message_id="q1", root_id="r1", parent_id="r1", author_id=ALICE, created_at=T0)
    answer = event_factory(
        "reply", message_id="a1", root_id="r1", parent_id="q1", author_id=ACCOUNT, created_at=T0 + timedelta(hours=1)
    )
    for offset in (0, 1):  # a redelivered chunk (after a crash before its offsets were committed)
        processor.commit(processor.prepare([_record(offset, question, answer)]))
    assert metrics.registry.get_sample_value("serambi_response_seconds_count") == 1


def test_merge_gauges_takes_report_fields_and_zero_for_a_silent_agency() -> None:
    agencies = [AgencyInfo("jpj", "federal", 24.0), AgencyInfo("quiet", "local", 48.0)]
    report = [
        {"agency_id": "jpj", "backlog": 3, "oldest_unanswered_seconds": 90.5, "citizen_messages": 10,
         "reply_rate": 0.5, "needs_reply_rate": 0.8, "sla_compliance": 0.25},
        {"agency_id": "unregistered", "backlog": 9, "oldest_unanswered_seconds": 1.0, "citizen_messages": 9,
         "reply_rate": None, "sla_compliance": None},
    ]  # fmt: skip
    jpj, quiet = merge_gauges(agencies, report)
    assert (jpj.backlog_messages, jpj.oldest_unanswered_seconds, jpj.reply_rate, jpj.sla_seconds) == (
        3, 90.5, 0.5, 86400.0
    )  # fmt: skip
    assert (quiet.backlog_messages, quiet.oldest_unanswered_seconds, quiet.reply_rate, quiet.sla_seconds) == (
        0, 0.0, None, 48 * 3600.0
    )  # fmt: skip
    assert (jpj.needs_reply_rate, quiet.needs_reply_rate) == (0.8, None)


class _CannedEngine:
    """Answers the refresher's queries (agencies, the leaderboard) from canned rows."""

    def __init__(self, agencies: list[tuple[str, str, float]], report: list[dict[str, Any]]) -> None:
        self.agencies, self.report = agencies, report
        self.read_only: list[bool] = []

    def query(self, sql: str, parameters: Parameters | None = None, *, read_only: bool) -> QueryResult:
        self.read_only.append(read_only)
        if "tier, sla_hours" in sql:
            return QueryResult(("agency_id", "tier", "sla_hours"), list(self.agencies))
        if "day_rollup" in sql:  # the leaderboard view
            columns = tuple(self.report[0]) if self.report else ("agency_id",)
            return QueryResult(columns, [tuple(row[c] for c in columns) for row in self.report])
        return QueryResult(("agency_id",), [(a,) for a, _, _ in self.agencies])


def _report_row(agency: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(REPORT_FIELDS)
    counts = {"citizen_messages", "answered", "pending", "overdue", "agency_posts", "agency_replies", "backlog"}
    counts.add("needs_reply_messages")
    row.update(dict.fromkeys(counts, 0), agency_id=agency, **{"class": "mixed"}, **values)
    return row


def test_the_refresher_sets_gauges_and_drops_absent_ratios_and_gone_agencies() -> None:
    metrics = Metrics(CollectorRegistry())
    engine = _CannedEngine(
        [("jpj", "federal", 24.0), ("mbpp", "local", 12.0)],
        [_report_row("jpj", backlog=4, oldest_unanswered_seconds=600.0, citizen_messages=20, reply_rate=0.75,
                     needs_reply_rate=0.9, sla_compliance=0.5),
         _report_row("mbpp", citizen_messages=1)],
    )  # fmt: skip
    refresher = GaugeRefresher(engine, "db", metrics, default_sla_hours=24.0, clock=lambda: T0)
    refresher.refresh()
    get = metrics.registry.get_sample_value
    jpj, mbpp = {"agency": "jpj", "tier": "federal"}, {"agency": "mbpp", "tier": "local"}
    assert get("serambi_agency_backlog_messages", jpj) == 4
    assert get("serambi_agency_oldest_unanswered_seconds", jpj) == 600
    assert get("serambi_agency_sla_seconds", mbpp) == 12 * 3600
    assert get("serambi_agency_reply_rate_24h", jpj) == 0.75
    assert get("serambi_agency_needs_reply_rate_24h", jpj) == 0.9
    assert get("serambi_agency_sla_compliance_24h", jpj) == 0.5
    assert get("serambi_agency_citizen_messages_24h", mbpp) == 1
    assert get("serambi_agency_reply_rate_24h", mbpp) is None  # nothing judged: absent, not 0
    assert get("serambi_agency_needs_reply_rate_24h", mbpp) is None
    assert all(engine.read_only)
    # jpj's reply rate becomes undefined and mbpp leaves the table: their series go.
    engine.agencies = [("jpj", "federal", 24.0)]
    engine.report = [_report_row("jpj", backlog=1, oldest_unanswered_seconds=5.0)]
    refresher.refresh()
    assert get("serambi_agency_reply_rate_24h", jpj) is None
    assert get("serambi_agency_needs_reply_rate_24h", jpj) is None
    assert get("serambi_agency_backlog_messages", jpj) == 1
    assert get("serambi_agency_backlog_messages", mbpp) is None
    assert get("serambi_agency_sla_seconds", mbpp) is None
    assert refresher.refreshed == 2
