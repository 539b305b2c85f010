"""The role commands as an operator runs them: ``serambi worker`` and ``serambi web`` (issue 13, item 1).

Each starts from settings alone, answers its probes, stops on SIGTERM, and refuses to start with one line saying
what to do when its Kafka or ClickHouse is unreachable or its schema is behind.
"""

from __future__ import annotations

import re
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.kafka.broker import EmbeddedBroker
from tests.helpers.monitoring import wait_until
from tests.helpers.processes import SERAMBI, cli_env, run_cli
from tests.helpers.workers import GROUP_TIMEOUT_S, WorkerProcess, get_json


def _fails(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([SERAMBI, *args], env=env, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode != 0, result.stdout + result.stderr
    return result


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as running:
        yield running


def test_worker_refuses_the_embedded_default_and_an_unreachable_kafka(tmp_path: Path) -> None:
    embedded = _fails(["worker"], cli_env(tmp_path))
    assert "SERAMBI_KAFKA_BOOTSTRAP_SERVERS" in embedded.stderr
    assert "serambi run" in embedded.stderr
    nowhere = _fails(["worker"], {**cli_env(tmp_path), "SERAMBI_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    assert "cannot reach Kafka at 127.0.0.1:1" in nowhere.stderr
    assert "Traceback" not in nowhere.stderr


def test_worker_refuses_a_schema_behind_and_an_unreachable_clickhouse(tmp_path: Path, broker: EmbeddedBroker) -> None:
    env = {**cli_env(tmp_path), "SERAMBI_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers}
    behind = _fails(["worker"], env)
    assert "run `serambi db migrate`" in behind.stderr
    assert "Traceback" not in behind.stderr
    unreachable = _fails(["worker"], {**env, "SERAMBI_CLICKHOUSE_URL": "http://default@127.0.0.1:1/"})
    assert "cannot reach ClickHouse at http://127.0.0.1:1" in unreachable.stderr


def test_worker_joins_answers_its_probes_and_stops_on_sigterm(tmp_path: Path, broker: EmbeddedBroker) -> None:
    env = {
        **cli_env(tmp_path),
        "SERAMBI_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "SERAMBI_PARTITIONS": "3",
        "SERAMBI_WORKER_METRICS_PORT": "0",
    }
    run_cli(["db", "migrate"], env)
    worker = WorkerProcess("solo", env)
    try:
        assert worker.probe("/health")[0] == 200
        wait_until(
            lambda: worker.partitions() == {0, 1, 2}, GROUP_TIMEOUT_S, "the worker to join and own every partition"
        )
        status, ready = worker.probe("/ready")
        assert (status, ready["leader"]) == (200, True)  # it consumes partition 0: it derives the rollups
        with urllib.request.urlopen(worker.url + "/metrics", timeout=10) as answer:
            assert b"serambi_sink_batches_total" in answer.read()
    finally:
        code = worker.stop()
    assert code == 0, worker.output()
    assert "stopping: finishing the batch in hand" in worker.output()


def test_web_serves_the_board_and_its_probes_then_stops_on_sigterm(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    run_cli(["db", "migrate"], env)
    web = subprocess.Popen([SERAMBI, "web"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert web.stdout is not None
        lines: list[str] = []
        for line in web.stdout:
            lines.append(line)
            if found := re.search(r"(http://127\.0\.0\.1:\d+)", line):
                url = found.group(1)
                break
        else:
            pytest.fail("serambi web did not say where the board is:\n" + "".join(lines))
        assert get_json(url + "/health") == (200, {"status": "ok"})
        assert get_json(url + "/ready") == (200, {"status": "ready"})
        with urllib.request.urlopen(url + "/metrics", timeout=10) as metrics:
            assert b'serambi_board_requests_total{route="/ready",status="2xx"} 1.0' in metrics.read()
        with urllib.request.urlopen(url + "/", timeout=10) as page:
            assert b"<html" in page.read().lower()
    finally:
        web.send_signal(signal.SIGTERM)
        code = web.wait(timeout=60)
    assert code == 0, "".join(lines)


def test_web_and_ingest_refuse_an_unreachable_clickhouse_or_kafka(tmp_path: Path) -> None:
    web = _fails(["web"], {**cli_env(tmp_path), "SERAMBI_CLICKHOUSE_URL": "http://default@127.0.0.1:1/"})
    assert "cannot reach ClickHouse at http://127.0.0.1:1" in web.stderr
    env = {
        **cli_env(tmp_path),
        "SERAMBI_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "SERAMBI_META_APP_SECRET": "an-app-secret-for-the-test",
    }
    ingest = _fails(["ingest"], env)
    assert "cannot reach Kafka at 127.0.0.1:1" in ingest.stderr
    assert "Traceback" not in web.stderr + ingest.stderr
