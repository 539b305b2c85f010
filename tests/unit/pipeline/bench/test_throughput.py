"""`serambi bench` writes and prints facts, open conversations, memory, CPU per event and the stage table."""

from __future__ import annotations

import json

from click.testing import CliRunner

from pipeline.bench.hotpath import HotPath
from pipeline.bench.throughput import BenchOptions, BenchResult, WorkerRun
from pipeline.cli.bench import bench

_HOT_STAGES = {"decode": 3.0, "reload": 0.0, "match": 1.5, "evict": 0.25, "encode": 1.0, "insert": 0.0}
_END_STAGES = {**_HOT_STAGES, "insert": 6.0, "event_loop": 1.25, "kafka_threads": 0.5, "processor_threads": 4.0}


def _result() -> BenchResult:
    hot = HotPath(2000, 7.5, {**_HOT_STAGES, "gc": 0.5, "other": 1.75}, 300, 120, 412.0)
    worker = WorkerRun(50_000.0, 150_000, 150_321, 40_000, 19.5, {**_END_STAGES, "gc": 0.75, "other": 6.5})
    options = BenchOptions(events=1_000_000, fresh_rate=5000, hot_path_events=2000, span_days=10.0)
    return BenchResult.of(options, hot, worker, (250_000.0, 700_000.0), [0.2, 0.4, 0.5], (380.0, 1200.0, 400.0))


def test_the_json_carries_the_state_cpu_and_stage_figures() -> None:
    figures = json.loads(_result().as_json())
    assert figures["facts"] == 150_000
    assert figures["fact_rows"] == 150_321
    assert figures["open_conversations"] == 40_000
    assert figures["bytes_per_conversation"] == 380.0
    assert figures["hot_path_bytes_per_conversation"] == 412.0
    assert figures["worker_cpu_us_per_event"] == 19.5
    assert figures["stages_us_per_event"]["insert"] == 6.0
    assert figures["stages_us_per_event"]["event_loop"] == 1.25
    assert figures["hot_path_stages_us_per_event"]["decode"] == 3.0
    assert figures["hot_path_facts"] == 300
    assert figures["span_days"] == 10.0
    assert figures["surge_detection"] is True
    assert figures["worker_events_per_s"] == 50_000.0
    assert figures["ratio_to_bare"] == 50_000.0 / 700_000.0
    assert figures["freshness_p50_s"] == 0.4
    assert (figures["peak_rss_worker_mb"], figures["peak_rss_broker_mb"]) == (1200.0, 400.0)


def test_the_table_gives_each_stage_for_both_runs() -> None:
    lines = _result().table()
    rows = {line[:44].strip(): line[44:].split() for line in lines[1:-1]}
    assert rows["decode"] == ["3.00", "3.00"]
    assert rows["insert (ClickHouse, overlapped)"] == ["0.00", "6.00"]
    assert rows["CPU: event loop (Faust agents, surge det.)"] == ["-", "1.25"]  # the hot path has no event loop
    assert rows["CPU: Kafka fetch thread, other Py threads"] == ["-", "0.50"]
    assert rows["CPU: processor's threads (and chDB calls)"] == ["-", "4.00"]
    assert rows["CPU: the rest (e2e: ClickHouse's threads)"] == ["1.75", "6.50"]
    assert rows["of which gc (inside the stages)"] == ["0.50", "0.75"]
    assert rows["CPU of the process"] == ["7.50", "19.50"]
    assert "facts 150,000 (150,321 rows inserted; 300 in the hot path)" in lines[-1]
    assert "open conversations 40,000" in lines[-1]
    assert "380 on the matcher's realistic mix, 412 on this data" in lines[-1]


def test_the_span_of_event_time_is_an_option() -> None:
    result = CliRunner().invoke(bench, ["--help"])
    assert result.exit_code == 0
    assert "--span-days" in result.output
    refused = CliRunner().invoke(bench, ["--span-days", "0"])
    assert refused.exit_code == 2
