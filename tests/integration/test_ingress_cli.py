"""``serambi run`` starts the webhook ingress when a secret is set; ``serambi ingest`` serves it alone."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import orjson

from connectors.webhooks.signatures import hmac_base64
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.broker import EmbeddedBroker
from schemas.topics import EVENTS
from tests.helpers.kafka import read_topic
from tests.helpers.paths import FIXTURES
from tests.helpers.processes import SERAMBI, cli_env, run_cli, start_run
from tests.integration.test_ingress import X_SECRET, _request

_URL = re.compile(r"webhook ingress: (http://127\.0\.0\.1:\d+)/webhooks/x")


def _mention() -> bytes:
    deliveries = orjson.loads((FIXTURES / "payloads/x_twitter/account_activity_webhook.json").read_bytes())
    return orjson.dumps(deliveries["deliveries"]["citizen_reply"])


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **cli_env(tmp_path),
        "SERAMBI_AGENCIES_FILE": str(FIXTURES / "webhook_agencies.yaml"),
        "SERAMBI_X_CONSUMER_SECRET": X_SECRET,
    }


def test_run_starts_the_ingress_when_a_secret_is_set_and_stores_its_deliveries(tmp_path: Path) -> None:
    env = _env(tmp_path)
    stack, head = start_run(env)
    try:
        found = [m.group(1) for line in head if (m := _URL.search(line))]
        assert found, "".join(head)
        base = found[0]
        assert _request(f"{base}/webhooks/x?crc_token=abc")[0] == 200
        body = _mention()
        headers = {"x-twitter-webhooks-signature": hmac_base64(X_SECRET.encode(), body)}
        assert _request(f"{base}/webhooks/x", body, headers)[0] == 200
        assert _request(f"{base}/webhooks/meta", body, headers)[0] == 404  # no Meta secret: no Meta route
    finally:
        stack.send_signal(signal.SIGINT)
        output, _ = stack.communicate(timeout=180)
    assert stack.returncode == 0, output
    assert X_SECRET not in "".join(head) + output  # secrets are never printed
    status = run_cli(["status", "--format", "json"], env)
    assert status.returncode == 0, status.stderr
    assert orjson.loads(status.stdout)["agencies"] == {"moh": {"citizen_comment": 1}}


def _fails(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SERAMBI, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_ingest_refuses_the_embedded_default_and_a_missing_secret(tmp_path: Path) -> None:
    embedded = _fails(["ingest"], _env(tmp_path))
    assert embedded.returncode == 1
    assert "SERAMBI_KAFKA_BOOTSTRAP_SERVERS" in embedded.stderr
    assert "serambi run" in embedded.stderr
    external = {**cli_env(tmp_path), "SERAMBI_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    unconfigured = _fails(["ingest"], external)
    assert unconfigured.returncode == 1
    assert "SERAMBI_X_CONSUMER_SECRET" in unconfigured.stderr


def test_ingest_alone_publishes_signed_deliveries_to_an_external_kafka_and_stops_on_sigterm(tmp_path: Path) -> None:
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        ensure_topics(broker.bootstrap_servers, 2)
        env = {**_env(tmp_path), "SERAMBI_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers, "SERAMBI_PARTITIONS": "2"}
        ingest = subprocess.Popen(
            [SERAMBI, "ingest"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert ingest.stdout is not None
        head: list[str] = []
        for line in ingest.stdout:
            head.append(line)
            if _URL.search(line):
                break
        found = [m.group(1) for line in head if (m := _URL.search(line))]
        try:
            assert found, "".join(head)
            body = _mention()
            headers = {"x-twitter-webhooks-signature": hmac_base64(X_SECRET.encode(), body)}
            assert _request(f"{found[0]}/webhooks/x", body, headers)[0] == 200
            metrics = _request(f"{found[0]}/metrics")[1].decode()
            assert 'serambi_ingress_deliveries_total{outcome="accepted",route="x"} 1.0' in metrics
        finally:
            ingest.send_signal(signal.SIGTERM)
            rest, _ = ingest.communicate(timeout=60)
        assert ingest.returncode == 0, "".join(head) + rest
        assert "ingress stopped" in rest
        records = read_topic(broker.bootstrap_servers, EVENTS.name, 2)
    events = [e for r in records for e in orjson.loads(r.value)["events"]]
    assert [(e["type"], e["kind"], e["author_role"]) for e in events] == [("interaction", "comment", "citizen")]
    assert events[0]["author_id"].startswith("ps1:")
