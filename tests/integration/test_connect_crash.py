"""kill -9 of the whole embedded stack (and of `serambi connect`) in the middle of a backfill, again and again:
the restarted connector resumes from its stored cursor and the stored rows are exactly those of the whole channel.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from pipeline.runtime.statefile import read_state
from pipeline.settings import load_settings
from tests.helpers.fake_platform import Answer, FakePlatform
from tests.helpers.monitoring import wait_until
from tests.helpers.paths import FIXTURES
from tests.helpers.processes import SERAMBI, alive, cli_env, run_cli, start_run

CHANNEL = "UCcrashTestChannel00000AA"
PAGES, PER_PAGE = 12, 25
NOW = datetime.now(UTC).replace(microsecond=0)


def _time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _thread(n: int) -> dict[str, Any]:
    thread_id = f"UgzCrash{n:06d}AaABAg"
    asked = NOW - timedelta(hours=30) - timedelta(minutes=n)  # newest first, as order=time pages them
    comment = {
        "id": thread_id,
        "snippet": {
            "channelId": CHANNEL, "videoId": "vidCrash001", "textOriginal": f"Soalan {n}: bila borang dibuka?",
            "authorChannelId": {"value": f"UCcitizen{n:015d}"}, "publishedAt": _time(asked),
            "updatedAt": _time(asked),
        },
    }  # fmt: skip
    replies = []
    if n % 3 == 0:
        replies.append({
            "id": f"{thread_id}.reply0001",
            "snippet": {
                "channelId": CHANNEL, "videoId": "vidCrash001", "parentId": thread_id, "textOriginal": "Esok.",
                "authorChannelId": {"value": CHANNEL}, "publishedAt": _time(asked + timedelta(minutes=30)),
                "updatedAt": _time(asked + timedelta(minutes=30)),
            },
        })  # fmt: skip
    snippet = {"channelId": CHANNEL, "videoId": "vidCrash001", "topLevelComment": comment,
               "totalReplyCount": len(replies), "isPublic": True, "canReply": True}  # fmt: skip
    return {"kind": "youtube#commentThread", "id": thread_id, "snippet": snippet, "replies": {"comments": replies}}


class Channel:
    """The fake channel: pages by page token; a page can be held (the platform hangs) until released."""

    def __init__(self) -> None:
        self.hold: int | None = None
        self.reached = threading.Event()
        self.go = threading.Event()

    def answer(self, query: dict[str, str]) -> Answer:
        page = int(query.get("pageToken", "P0")[1:])
        if page == self.hold:
            self.reached.set()
            self.go.wait(60)
        items = [_thread(page * PER_PAGE + i) for i in range(PER_PAGE)]
        body: dict[str, Any] = {"kind": "youtube#commentThreadListResponse", "items": items,
                                "pageInfo": {"totalResults": PAGES * PER_PAGE, "resultsPerPage": PER_PAGE}}  # fmt: skip
        if page + 1 < PAGES:
            body["nextPageToken"] = f"P{page + 1}"
        return Answer(200, body)


def _connect(env: dict[str, str]) -> subprocess.Popen[str]:
    since = _time(NOW - timedelta(days=3))
    return subprocess.Popen(
        [SERAMBI, "connect", "youtube", "--backfill-from", since],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _kill_all(stack: subprocess.Popen[str], connect: subprocess.Popen[str], broker_pid: int) -> None:
    for process in (connect, stack):
        process.kill()
        process.wait(timeout=60)
    wait_until(lambda: not alive(broker_pid) or None, 60, "the embedded broker to die with its stack")


def test_kill_9_mid_backfill_again_and_again_then_exactly_the_channel_s_rows(tmp_path: Path) -> None:
    channel = Channel()
    with FakePlatform() as platform:
        platform.respond("/youtube/v3/commentThreads", channel.answer)
        env = {
            **cli_env(tmp_path),
            "SERAMBI_AGENCIES_FILE": str(FIXTURES / "connect_agencies.yaml"),
            "SERAMBI_YOUTUBE_API_KEY": "test-key",
            "SERAMBI_YOUTUBE_API_URL": platform.url("/youtube/v3"),
        }
        settings = load_settings(data_dir=tmp_path / "data", pseudonym_key=env["SERAMBI_PSEUDONYM_KEY"])
        for hold in (3, 7, 10):  # three crashes, each further into the backfill
            channel.hold, channel.reached, channel.go = hold, threading.Event(), threading.Event()
            stack, _ = start_run(env)
            state = read_state(settings.state_file)
            assert state is not None
            assert state.broker_pid is not None
            connect = _connect(env)
            assert channel.reached.wait(120), "the connector never asked for the held page"
            _kill_all(stack, connect, state.broker_pid)
            channel.go.set()
        channel.hold = None
        stack, _ = start_run(env)
        try:
            finished = _connect(env)
            output, _ = finished.communicate(timeout=300)
            assert finished.returncode == 0, output
            assert "resume from their stored cursor" in output
        finally:
            stack.send_signal(signal.SIGINT)
            stack.communicate(timeout=180)
    status = orjson.loads(run_cli(["status", "--format", "json"], env).stdout)
    assert status["agencies"] == {
        "jpm-video": {"citizen_comment": PAGES * PER_PAGE, "agency_reply": PAGES * PER_PAGE // 3}
    }
    [connector] = status["connectors"]
    assert (connector["source"], connector["account"], connector["pages_in_flight"]) == (
        "poll:youtube",
        f"youtube:{CHANNEL}",
        0,
    )
    report = orjson.loads(run_cli(["report", "--format", "json"], env).stdout)["agencies"]
    assert [(r["agency_id"], r["citizen_messages"], r["answered"]) for r in report] == [
        ("jpm-video", PAGES * PER_PAGE, PAGES * PER_PAGE // 3)
    ]


def test_an_account_whose_listing_is_refused_stops_alone_and_the_others_are_read(tmp_path: Path) -> None:
    channel = Channel()

    def answer(query: dict[str, str]) -> Answer:
        if query.get("allThreadsRelatedToChannelId") == "UCrefusedChannel0000000BB":
            error = {"error": {"code": 403, "message": "The caller does not have permission", "errors": [
                {"reason": "forbidden", "domain": "youtube.commentThread", "message": "forbidden"}]}}  # fmt: skip
            return Answer(403, error)
        return channel.answer(query)

    with FakePlatform() as platform:
        platform.respond("/youtube/v3/commentThreads", answer)
        env = {
            **cli_env(tmp_path),
            "SERAMBI_AGENCIES_FILE": str(FIXTURES / "connect_two_channels.yaml"),
            "SERAMBI_YOUTUBE_API_KEY": "test-key",
            "SERAMBI_YOUTUBE_API_URL": platform.url("/youtube/v3"),
        }
        stack, _ = start_run(env)
        try:
            done = _connect(env)
            output, _ = done.communicate(timeout=300)
        finally:
            stack.send_signal(signal.SIGINT)
            stack.communicate(timeout=180)
    assert done.returncode == 1, output
    assert "youtube:UCrefusedChannel0000000BB: stopped: " in output
    assert "fix this account's credentials (the others keep running)" in output
    assert "test-key" not in output  # the key is never printed
    status = orjson.loads(run_cli(["status", "--format", "json"], env).stdout)
    assert status["agencies"] == {
        "jpm-video": {"citizen_comment": PAGES * PER_PAGE, "agency_reply": PAGES * PER_PAGE // 3}
    }
