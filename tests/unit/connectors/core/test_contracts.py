"""The connector contracts: EventSink, publish_all, FileSource, PollingSource.run and WebhookSource."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from pydantic import SecretStr

from connectors.core.contracts import (
    PROGRESS_EVERY,
    EventSink,
    FileSource,
    Page,
    Parsed,
    PollingSource,
    Progress,
    Rejected,
    Retry,
    WebhookResponse,
    WebhookSource,
    publish_all,
)
from connectors.core.errors import PublishError
from connectors.core.publisher import Publisher
from connectors.core.testing import FakeClock, ListEventSink, ListRecordSink, load_payload
from schemas.agency import Directory
from schemas.events import AuthorRole, Event, Interaction, InteractionKind, Platform, make_event_id
from schemas.privacy import Pseudonymizer
from tests.helpers.events import EventFactory, make_event
from tests.helpers.paths import PAYLOADS

META = PAYLOADS / "facebook" / "webhook_verification_and_signed_delivery.json"


def test_publisher_and_list_sink_are_event_sinks(tiny_directory: Directory) -> None:
    publisher = Publisher(ListRecordSink(), pseudonymizer=Pseudonymizer(SecretStr("k")), partitions=2, source="t")
    sinks: list[EventSink] = [publisher, ListEventSink()]  # mypy checks the structural fit
    assert len(sinks) == 2


def test_publish_all_routes_events_and_rejected_and_reports_progress(event_factory: EventFactory) -> None:
    items: list[Parsed] = [event_factory("comment") for _ in range(2 * PROGRESS_EVERY + 1)]
    items.insert(5, Rejected("line 6: not JSON", b"{", "not_json"))
    sink, seen = ListEventSink(), list[int]()
    assert publish_all(sink, items, seen.append) == 2 * PROGRESS_EVERY + 1
    assert seen == [PROGRESS_EVERY - 1, 2 * PROGRESS_EVERY - 1, 2 * PROGRESS_EVERY + 1]
    assert sink.dead_letters == [Rejected("line 6: not JSON", b"{", "not_json")]
    assert sink.flushes == 1


def test_publish_all_counts_what_the_sink_refused(event_factory: EventFactory) -> None:
    sink = ListEventSink()
    bad = {"type": "post", "event_id": "x:1"}
    assert publish_all(sink, [event_factory("post")]) == 1
    assert sink.publish(bad) is False
    assert sink.dead_letters[0].error_type == "schema"


class _Lines(FileSource):
    """A tiny file format: one post id a line."""

    format: ClassVar[str] = "lines"
    description: ClassVar[str] = "post ids, one a line"

    def publish(self, sink: EventSink, progress: Progress | None = None) -> int:
        ids = self.path.read_text(encoding="utf-8").split()
        return publish_all(sink, [make_event("post", post_id=i, event_id=f"x:{i}") for i in ids], progress)


def test_file_source_defaults(tmp_path: Path, tiny_directory: Directory) -> None:
    path = tmp_path / "posts.txt"
    path.write_text("a\nb\n", encoding="utf-8")
    source = _Lines(path)
    assert source.prepare(tiny_directory) is tiny_directory  # brings no agencies
    assert source.summary == f"{path}: post ids, one a line"
    assert source.publish(ListEventSink()) == 2


class _Scripted(PollingSource[int]):
    """Answers from a script of pages and Retry errors, one per call; the cursor is the position in the script."""

    def __init__(self, script: list[Page | Retry], stop: threading.Event) -> None:
        super().__init__(interval_seconds=30)
        self.script = script
        self.stop = stop
        self.position = 0

    def next_page(self) -> Page:
        if self.position >= len(self.script):
            self.stop.set()  # the script is over: end the run
            return Page(())
        answer = self.script[self.position]
        self.position += 1
        if isinstance(answer, Retry):
            raise answer
        return answer

    def snapshot(self) -> int:
        return self.position

    def resume(self, state: int) -> None:
        self.position = state


def test_polling_run_publishes_pages_backs_off_and_checkpoints(event_factory: EventFactory) -> None:
    e1, e2, e3 = (event_factory("comment") for _ in range(3))
    rejected = Rejected("item 2: no id", {"author_id": "7012"}, "schema")
    script: list[Page | Retry] = [
        Page([e1, rejected], more=True),
        Page([e2]),
        Retry(after=900, reason="429 Too Many Requests"),
        Page([e3]),
    ]
    stop = threading.Event()
    clock, sink = FakeClock(), ListEventSink()
    saved: list[tuple[int, int]] = []
    published = _Scripted(script, stop).run(
        sink, stop, clock=clock, checkpoint=lambda cursor: saved.append((cursor, sink.flushes))
    )
    assert published == 3
    assert sink.events == [e1, e2, e3]
    assert sink.dead_letters == [rejected]
    # Every cursor is saved after its page was flushed (the last, empty page ended the script).
    assert saved == [(1, 1), (2, 2), (4, 3), (4, 4)]
    # No wait after a page with more; the interval after the others; the back-off the platform asked for.
    assert clock.sleeps == [30, 900, 30, 30]
    assert clock.now() == clock.start + timedelta(seconds=960)  # the last wait ended at once: stop was set


def test_retry_spells_after_in_seconds() -> None:
    retry = Retry(after=90, reason="503")
    assert (retry.after_seconds, retry.reason, str(retry)) == (90, "503", "503; retry after 90 s")


def test_resume_continues_after_a_snapshot(event_factory: EventFactory) -> None:
    pages: list[Page | Retry] = [Page([event_factory("comment")]) for _ in range(3)]
    first = _Scripted(pages, threading.Event())
    first.next_page()
    second = _Scripted(pages, threading.Event())
    second.resume(first.snapshot())
    sink = ListEventSink()
    assert second.run(sink, second.stop, clock=FakeClock()) == 2
    assert sink.events == [item for page in pages[1:] if isinstance(page, Page) for item in page.items]


def test_a_publish_error_ends_the_run_before_the_checkpoint(event_factory: EventFactory) -> None:
    class Failing(ListEventSink):
        def flush(self) -> None:
            msg = "broker down"
            raise PublishError(msg, failed=1)

    stop = threading.Event()
    cursors: list[int] = []
    source = _Scripted([Page([event_factory("comment")])], stop)
    with pytest.raises(PublishError):
        source.run(Failing(), stop, clock=FakeClock(), checkpoint=cursors.append)
    assert cursors == []  # the page is read again after a restart


class _MetaLike(WebhookSource):
    """A tiny webhook source shaped like Meta's: hub.challenge handshake and X-Hub-Signature-256."""

    source: ClassVar[str] = "fake-meta"

    def __init__(self, app_secret: str, verify_token: str) -> None:
        self._secret = app_secret.encode()
        self._token = verify_token

    def handshake(self, query: Mapping[str, str]) -> WebhookResponse | None:
        if query.get("hub.mode") != "subscribe":
            return None
        if not hmac.compare_digest(query.get("hub.verify_token", ""), self._token):
            return WebhookResponse(403)
        return WebhookResponse(200, query.get("hub.challenge", ""))

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        expected = "sha256=" + hmac.new(self._secret, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(headers.get("x-hub-signature-256", ""), expected)

    def parse(self, payload: Any) -> list[Parsed]:
        items: list[Parsed] = []
        for entry in payload.get("entry", []):
            for change in entry.get("changes", []):
                value = change.get("value", {})
                if value.get("item") == "comment" and value.get("verb") == "add":
                    items.append(_comment(entry["id"], value))
                else:
                    items.append(Rejected(f"unsupported change {value.get('item')}", change, "unsupported"))
        return items


def _comment(page_id: str, value: dict[str, Any]) -> Event:
    return Interaction(
        event_id=make_event_id(Platform.FACEBOOK, value["comment_id"]),
        platform=Platform.FACEBOOK,
        agency_id="kkm",
        account_id=page_id,
        created_at=datetime.fromtimestamp(value["created_time"], UTC),
        source="fake-meta",
        kind=InteractionKind.COMMENT,
        message_id=value["comment_id"],
        root_id=value["post_id"],
        parent_id=value["parent_id"],
        author_id=value["from"]["id"],
        author_role=AuthorRole.CITIZEN,
        text=value["message"],
    )


@pytest.fixture(scope="module")
def meta() -> dict[str, Any]:
    fixture: dict[str, Any] = load_payload(META)
    return fixture


def test_webhook_handshake_answers_the_challenge_only_with_the_token(meta: dict[str, Any]) -> None:
    query = meta["verification"]["request"]["query"]
    ok = meta["verification"]["expected_response_if_token_matches"]
    source = _MetaLike("unused", query["hub.verify_token"])
    assert source.handshake(query) == WebhookResponse(ok["status"], ok["body"], ok["content_type"])
    assert _MetaLike("unused", "other-token").handshake(query) == WebhookResponse(403)
    assert source.handshake({"page": "1"}) is None


def test_webhook_verify_checks_the_signature_of_the_raw_body(meta: dict[str, Any]) -> None:
    delivery = meta["delivery"]
    body = delivery["raw_body"].encode()
    headers = {name.lower(): value for name, value in delivery["headers"].items()}
    source = _MetaLike(delivery["test_app_secret"], "token")
    assert source.verify(headers, body)
    assert not source.verify(headers, body.replace(b"walk-in", b"walk-out"))
    assert not _MetaLike("wrong secret", "token").verify(headers, body)
    assert not source.verify({}, body)


def test_webhook_parse_is_pure_and_routes_what_it_cannot_use(meta: dict[str, Any]) -> None:
    payload = orjson.loads(meta["delivery"]["raw_body"])
    source = _MetaLike("secret", "token")
    items = source.parse(payload)
    assert items == source.parse(payload)
    [comment] = items
    assert isinstance(comment, Interaction)
    assert (comment.message_id, comment.root_id) == (
        "881234567890123_1122334455667788",
        "104857600012345_881234567890123",
    )
    payload["entry"][0]["changes"][0]["value"]["item"] = "reaction"
    [rejected] = source.parse(payload)
    assert isinstance(rejected, Rejected)
    assert rejected.error_type == "unsupported"
    sink = ListEventSink()
    assert publish_all(sink, [*items, rejected]) == 1
    assert len(sink.dead_letters) == 1
