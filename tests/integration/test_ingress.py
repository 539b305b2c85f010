"""The webhook ingress on the real embedded broker and chDB: signed deliveries become exact rows and facts.

Unsigned or badly signed deliveries store nothing; a broker that stops answering gives 503 and the platform's
retry stores exactly one copy; a storm of concurrent (and repeated) deliveries loses and double-counts nothing.
"""

from __future__ import annotations

import copy
import os
import signal
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from connectors.webhooks.signatures import hmac_base64, hmac_hex
from pipeline.runtime.ingest import IngressServer, start_ingress
from pipeline.settings import Settings, load_settings
from schemas.agency import Directory, load_directory
from tests.helpers.live import LiveStack
from tests.helpers.paths import FIXTURES

META_SECRET = "test_app_secret_DO_NOT_USE_0123456789"
X_SECRET = "test_consumer_secret_DO_NOT_USE"
MASTODON_SECRET = "test_webhook_secret_DO_NOT_USE"
VERIFY_TOKEN = "kkm-verify-2024"
PAGE = "104857600012345"
X_AGENCY = "1498765432109876543"


@dataclass
class Ingress:
    live: LiveStack
    server: IngressServer
    directory: Directory

    @property
    def store(self) -> Any:
        return self.live.stack.store

    def url(self, route: str) -> str:
        return f"{self.server.url.rstrip('/')}/webhooks/{route}"

    def count(self, sql: str, **params: Any) -> int:
        return int(self.store.query(sql.replace("{db}", self.store.database), params).rows[0][0])


@pytest.fixture(scope="module")
def ingress(tmp_path_factory: pytest.TempPathFactory, chdb_dir: Path) -> Iterator[Ingress]:
    settings: Settings = load_settings(
        data_dir=tmp_path_factory.mktemp("ingress"),
        clickhouse_url=SecretStr(f"chdb://{chdb_dir}"),
        clickhouse_database=f"ingress_{uuid.uuid4().hex[:8]}",
        partitions=4,
        pseudonym_key=SecretStr("ingress"),
        sink_batch_seconds=0.1,
        agencies_file=FIXTURES / "webhook_agencies.yaml",
        meta_app_secret=SecretStr(META_SECRET),
        meta_verify_token=SecretStr(VERIFY_TOKEN),
        x_consumer_secret=SecretStr(X_SECRET),
        mastodon_webhook_secret=SecretStr(MASTODON_SECRET),
        ingest_port=0,
        ingest_timeout_seconds=3.0,
        board_port=0,
        rollup_refresh_seconds=0,
    )
    directory = load_directory(settings.agencies_file)
    live = LiveStack(settings).start()
    stack = live.stack
    server = start_ingress(settings, stack.bootstrap_servers, directory, stack.metrics, epoch=stack.spool_epoch)
    try:
        yield Ingress(live, server, directory)
    finally:
        server.stop()
        live.stop()


def _request(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _meta(ingress: Ingress, payload: Any, *, secret: str = META_SECRET) -> tuple[int, bytes]:
    body = orjson.dumps(payload)
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": hmac_hex(secret.encode(), body)}
    return _request(ingress.url("meta"), body, headers)


def _feed_batch(tag: str) -> dict[str, Any]:
    """The documented Page feed batch with ids made unique by ``tag`` (each test its own conversation)."""
    batch = orjson.loads((FIXTURES / "payloads/facebook/webhook_feed_batch.json").read_bytes())
    text = orjson.dumps(batch).decode().replace("881234567890123", f"88123456789{tag}")
    return dict(orjson.loads(text))


def test_meta_subscription_check_echoes_the_challenge_only_for_the_token(ingress: Ingress) -> None:
    ok = f"{ingress.url('meta')}?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={VERIFY_TOKEN}"
    assert _request(ok) == (200, b"1158201444")
    bad = f"{ingress.url('meta')}?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guess"
    assert _request(bad)[0] == 403
    assert _request(ingress.url("meta"))[0] == 400


def test_x_crc_answers_the_hmac_of_the_token(ingress: Ingress) -> None:
    status, body = _request(f"{ingress.url('x')}?crc_token=challenge-123")
    assert status == 200
    assert orjson.loads(body) == {"response_token": hmac_base64(X_SECRET.encode(), b"challenge-123")}


def test_a_signed_facebook_batch_becomes_exact_rows_and_a_response_fact(ingress: Ingress) -> None:
    status, body = _meta(ingress, _feed_batch("0001"))
    assert status == 200, body
    assert orjson.loads(body) == {"published": 7, "dead_lettered": 0}
    ingress.live.drain()
    post = f"{PAGE}_881234567890001"
    rows = ingress.store.query(
        f"SELECT message_id, kind, author_role, parent_id, author_id FROM {ingress.store.database}.interactions FINAL "
        "WHERE root_id = {root:String} ORDER BY created_at",
        {"root": post},
    ).rows
    question, answer = "881234567890001_1122334455667788", "881234567890001_1122334455667799"
    assert [r[:4] for r in rows] == [
        (question, "comment", "citizen", post),
        (answer, "reply", "agency", question),
    ]
    assert rows[0][4].startswith("ps1:")
    assert "7012345678901234" not in rows[0][4]
    assert rows[1][4] == PAGE
    facts = ingress.store.query(
        f"SELECT message_id, reply_id, closed_by, response_seconds FROM {ingress.store.database}.response_facts "
        "FINAL WHERE root_id = {root:String}",
        {"root": post},
    ).rows
    assert facts == [(question, answer, "reply", 258.0)]
    assert ingress.count("SELECT count() FROM {db}.posts FINAL WHERE post_id = {p:String}", p=post) == 1
    assert ingress.count("SELECT count() FROM {db}.reactions FINAL WHERE root_id = {p:String}", p=post) == 2
    changes = ingress.store.query(
        f"SELECT op, target_id FROM {ingress.store.database}.changes FINAL WHERE root_id = {{p:String}} ORDER BY op",
        {"p": post},
    ).rows
    assert changes == [("edit", question), ("remove", "881234567890001_1122334455668001")]


def test_a_removed_citizen_comment_leaves_the_backlog_as_removed(ingress: Ingress) -> None:
    batch = _feed_batch("0002")
    changes = batch["entry"][0]["changes"]
    question = changes[1]["value"]
    removal = copy.deepcopy(changes[6])
    removal["value"].update(comment_id=question["comment_id"], created_time=question["created_time"] + 60)
    removal["value"]["from"] = question["from"]
    batch["entry"][0]["changes"] = [changes[0], changes[1], removal]  # no agency reply this time
    assert _meta(ingress, batch)[0] == 200
    ingress.live.drain()
    [(closed_by, answered_at_s)] = ingress.store.query(
        f"SELECT closed_by, toUnixTimestamp(answered_at) FROM {ingress.store.database}.response_facts FINAL "
        "WHERE message_id = {m:String}",
        {"m": question["comment_id"]},
    ).rows
    assert (closed_by, answered_at_s) == ("removal", question["created_time"] + 60)


def test_unsigned_and_badly_signed_deliveries_store_nothing(ingress: Ingress) -> None:
    batch = _feed_batch("0003")
    body = orjson.dumps(batch)
    good = hmac_hex(META_SECRET.encode(), body)
    assert _request(ingress.url("meta"), body, {"Content-Type": "application/json"})[0] == 401
    assert _request(ingress.url("meta"), body, {"X-Hub-Signature-256": good[:-1] + "0"})[0] == 403
    assert _request(ingress.url("meta"), body + b" ", {"X-Hub-Signature-256": good})[0] == 403
    assert _meta(ingress, batch, secret="another app's secret")[0] == 403
    # A later signed delivery is stored: once it is, the refused ones would have been too.
    assert _meta(ingress, _feed_batch("0004"))[0] == 200
    ingress.live.drain()
    post = f"{PAGE}_881234567890003"
    for table in ("posts", "interactions", "reactions", "changes"):
        column = "post_id" if table == "posts" else "root_id"
        assert ingress.count(f"SELECT count() FROM {{db}}.{table} WHERE {column} = {{p:String}}", p=post) == 0
    assert ingress.count("SELECT count() FROM {db}.dead_letters WHERE position(raw, '881234567890003') > 0") == 0
    assert ingress.count("SELECT count() FROM {db}.posts WHERE post_id = {p:String}", p=f"{PAGE}_881234567890004")


def test_a_broker_outage_gives_503_and_the_retry_stores_exactly_one_copy(ingress: Ingress) -> None:
    pid = ingress.live.stack.broker_pid
    assert pid is not None
    batch = _feed_batch("0005")
    os.kill(pid, signal.SIGSTOP)  # the broker stops answering: the ingress must not acknowledge
    try:
        status, _ = _meta(ingress, batch)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert status == 503
    for _ in range(20):  # the platform retries until it gets a 200
        status, _ = _meta(ingress, batch)
        if status == 200:
            break
    assert status == 200
    ingress.live.drain()
    post = f"{PAGE}_881234567890005"
    stored = "SELECT count(), uniqExact(event_id) FROM {db}.interactions WHERE root_id = {p:String}"
    total, unique = ingress.store.query(stored.replace("{db}", ingress.store.database), {"p": post}).rows[0]
    assert unique == 2
    assert ingress.count("SELECT count() FROM {db}.interactions FINAL WHERE root_id = {p:String}", p=post) == 2
    assert total >= unique  # the first attempt may have landed too: an upsert, not a second message
    assert ingress.count("SELECT count() FROM {db}.response_facts FINAL WHERE root_id = {p:String}", p=post) == 1


def _tweet(n: int, tag: str) -> dict[str, Any]:
    return {
        "for_user_id": X_AGENCY,
        "tweet_create_events": [
            {
                "id_str": f"19{tag}{n:08d}",
                "created_at": "Wed May 01 10:03:27 +0000 2024",
                "text": f"@MOHfictional soalan {n}",
                "user": {"id_str": f"7{n:09d}", "screen_name": f"citizen{n}"},
                "entities": {"user_mentions": [{"id_str": X_AGENCY, "screen_name": "MOHfictional"}]},
            }
        ],
    }


def test_a_storm_of_concurrent_and_repeated_deliveries_loses_and_double_counts_nothing(ingress: Ingress) -> None:
    tag = uuid.uuid4().hex[:6].translate(str.maketrans("abcdef", "123456"))
    unique = 1800
    bodies = [orjson.dumps(_tweet(n, tag)) for n in range(unique)]
    bodies += bodies[:200]  # the platform redelivers some: 2,000 deliveries in all

    def deliver(body: bytes) -> int:
        headers = {"x-twitter-webhooks-signature": hmac_base64(X_SECRET.encode(), body)}
        for _ in range(10):  # a 503 (busy, slow broker) is retried, as the platform does
            status, _ = _request(ingress.url("x"), body, headers)
            if status != 503:
                return status
        return status

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(deliver, bodies))
    assert statuses == [200] * len(bodies)
    ingress.live.drain()
    prefix = f"19{tag}"
    stored = ingress.count(
        "SELECT uniqExact(message_id) FROM {db}.interactions WHERE startsWith(message_id, {p:String})", p=prefix
    )
    final = ingress.count(
        "SELECT count() FROM {db}.interactions FINAL WHERE startsWith(message_id, {p:String})", p=prefix
    )
    assert stored == final == unique


def _fixture_deliveries(platform: str) -> dict[str, Any]:
    return dict(orjson.loads((FIXTURES / f"payloads/{platform}").read_bytes())["deliveries"])


def test_x_reply_met_before_its_parent_is_matched_once_the_parent_arrives(ingress: Ingress) -> None:
    deliveries = _fixture_deliveries("x_twitter/account_activity_webhook.json")

    def send(name: str) -> None:
        body = orjson.dumps(deliveries[name])
        headers = {"x-twitter-webhooks-signature": hmac_base64(X_SECRET.encode(), body)}
        assert _request(ingress.url("x"), body, headers)[0] == 200

    # The agency's answer arrives before the citizen's question: its root is a guess until the question comes.
    for name in ("agency_post", "agency_reply", "citizen_reply"):
        send(name)
    ingress.live.drain()
    question = deliveries["citizen_reply"]["tweet_create_events"][0]
    answer = deliveries["agency_reply"]["tweet_create_events"][0]
    facts = ingress.store.query(
        f"SELECT message_id, reply_id, root_id, closed_by FROM {ingress.store.database}.response_facts FINAL "
        "WHERE message_id = {m:String}",
        {"m": question["id_str"]},
    ).rows
    assert facts == [(question["id_str"], answer["id_str"], question["in_reply_to_status_id_str"], "reply")]


def test_mastodon_admin_webhooks_become_rows_and_a_fact(ingress: Ingress) -> None:
    deliveries = _fixture_deliveries("mastodon/admin_webhooks.json")
    for name in ("agency_post", "citizen_reply", "agency_reply"):
        body = orjson.dumps(deliveries[name])
        headers = {"X-Hub-Signature": hmac_hex(MASTODON_SECRET.encode(), body)}
        assert _request(ingress.url("mastodon"), body, headers)[0] == 200
    ingress.live.drain()
    rows = ingress.store.query(
        f"SELECT author_role, kind FROM {ingress.store.database}.interactions FINAL "
        "WHERE platform = 'mastodon' ORDER BY created_at"
    ).rows
    assert rows == [("citizen", "comment"), ("agency", "reply")]
    assert ingress.count("SELECT count() FROM {db}.response_facts FINAL WHERE platform = 'mastodon'") == 1
    assert ingress.count("SELECT count() FROM {db}.posts FINAL WHERE platform = 'mastodon'") == 1
