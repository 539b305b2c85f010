"""`serambi listen topics` as a user runs it, on messages stored by `serambi import` (the real embedded stack).

Two agencies of the packaged sample directory. For four weeks ``kerjaraya`` is asked about roads and street
lights and ``jpj`` about licences; in the last week a flood hits kerjaraya's area: it is asked about ``banjir``,
``paras air`` and ``bot`` (answering a few), on top of its usual road questions. The week before saw two flood
messages already, so the flood's rise is counted against them.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from pipeline.domain.needs_reply import classify
from pipeline.storage.rows import event_json
from tests.helpers.events import make_event
from tests.helpers.processes import SERAMBI, cli_env, run_cli

FLOODED, FLOODED_ACCOUNT = "kerjaraya", "1458392012345670202"
QUIET, QUIET_ACCOUNT = "jpj", "1458392012345670505"
END = datetime(2026, 11, 20, tzinfo=UTC)  # the window is the week before END
PSEUDONYM = "@ps1:0123456789abcdef0123456789abcdef"
ROADS = (
    "Jalan rosak teruk di Taman Melati, bila nak baiki?",
    "Lampu jalan padam sudah 3 hari",
    "Lubang besar tepi jalan, bahaya untuk motosikal",
    "Bila turapan semula jalan ini siap? https://maps.example/abc",
)
LICENCES = ("Lesen memandu saya tamat, boleh renew online?", "Saman ekzos bising, macam mana nak bayar?")
# Twelve flood messages in the window: every one says banjir, eight "paras air", six ask for a bot.
_PLACES = ("Kampung Baru", "Sri Muda", "Klang", "Shah Alam", "Kajang", "Dengkil", "Puchong", "Sepang", "Ampang")
_LEVELS = ("naik", "makin tinggi", "cecah lutut", "cecah pinggang", "melimpah", "naik mendadak", "semakin dalam")
FLOOD = tuple(
    f"{PSEUDONYM} Banjir {where}! "
    + (f"Paras air {(*_LEVELS, 'bahaya')[n]}. " if n < 8 else "Tolong. ")
    + ("Perlu bot." if n < 6 else "")
    for n, where in enumerate((*_PLACES, "Rawang", "Batu Arang", "Kuang"))
)
FLOOD_ANSWERED = 5  # the first five flood messages get a reply; seven stay unanswered
PREVIOUS_FLOOD = 2


def _message(agency: str, account: str, key: str, text: str, at: datetime) -> Any:
    place = {"agency_id": agency, "account_id": account, "root_id": f"p-{agency}", "parent_id": f"p-{agency}"}
    return make_event("comment", message_id=key, event_id=f"x:{key}", text=text, created_at=at, **place)


def _events() -> list[bytes]:
    events = []
    for agency, account, texts in ((FLOODED, FLOODED_ACCOUNT, ROADS), (QUIET, QUIET_ACCOUNT, LICENCES)):
        at = END - timedelta(days=40)
        events.append(
            make_event(
                "post",
                post_id=f"p-{agency}",
                event_id=f"x:p-{agency}",
                agency_id=agency,
                account_id=account,
                created_at=at,
            )
        )
        for day in range(35):  # five weeks of routine questions, three a day
            for n in range(3):
                at = END - timedelta(days=day, hours=2 + 5 * n)
                events.append(_message(agency, account, f"{agency}-{day}-{n}", texts[(day + n) % len(texts)], at))
    for n in range(PREVIOUS_FLOOD):
        at = END - timedelta(days=10, hours=n)
        events.append(_message(FLOODED, FLOODED_ACCOUNT, f"old-flood-{n}", "Banjir kilat di Klang lagi", at))
    for n, text in enumerate(FLOOD):
        asked = END - timedelta(days=2, hours=n)
        question = _message(FLOODED, FLOODED_ACCOUNT, f"flood-{n}", text, asked)
        events.append(question)
        if n < FLOOD_ANSWERED:
            reply = make_event(
                "reply",
                message_id=f"answer-{n}",
                event_id=f"x:answer-{n}",
                parent_id=f"flood-{n}",
                parent_author_id=question.author_id,
                root_id=f"p-{FLOODED}",
                agency_id=FLOODED,
                account_id=FLOODED_ACCOUNT,
                author_id=FLOODED_ACCOUNT,
                text="Pasukan kami dalam perjalanan",
                created_at=asked + timedelta(minutes=20),
            )
            events.append(reply)
    return [event_json(event) for event in events]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("topics")
    env = cli_env(tmp)
    events = tmp / "events.jsonl"
    events.write_bytes(b"\n".join(_events()) + b"\n")
    run_cli(["import", "jsonl", str(events)], env)
    return env


def _topics(env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    until = ["--until", END.isoformat()]
    result = run_cli(["listen", "topics", "--format", "json", *until, *args], env)
    return [orjson.loads(line) for line in result.stdout.splitlines()]


def test_a_flood_in_the_last_week_is_the_top_rising_topic_of_its_agency_with_its_counts(env: dict[str, str]) -> None:
    agencies = _topics(env)
    assert [record["agency"] for record in agencies] == [QUIET, FLOODED]  # one JSON line per agency, sorted
    flooded = agencies[1]
    assert flooded["window"] == "7d"
    assert flooded["until"] == "2026-11-20T00:00:00+00:00"
    assert flooded["messages"] == 7 * 3 + len(FLOOD)
    topics = {topic["term"]: topic for topic in flooded["topics"]}
    assert set(list(topics)[:3]) == {"banjir", "paras air", "bot"}
    banjir = topics["banjir"]
    assert (banjir["count"], banjir["unanswered"], banjir["previous"]) == (12, 12 - FLOOD_ANSWERED, PREVIOUS_FLOOD)
    assert banjir["rise"] == 12 - PREVIOUS_FLOOD
    assert (topics["paras air"]["count"], topics["paras air"]["unanswered"], topics["paras air"]["rise"]) == (8, 3, 8)
    assert (topics["bot"]["count"], topics["bot"]["unanswered"]) == (6, 1)
    assert 1 <= len(banjir["examples"]) <= 3
    for example in banjir["examples"]:
        assert "Banjir" in example
        assert "ps1:" not in example
        assert "@" not in example
    # Routine road questions are no topic of the window: they are as common as before.
    assert "jalan" not in topics
    assert "banjir" not in {topic["term"] for topic in agencies[0]["topics"]}


def test_terms_hold_no_stop_words_links_or_pseudonyms(env: dict[str, str]) -> None:
    terms = {
        word
        for record in _topics(env, "--min-count", "1", "--top", "100")
        for topic in record["topics"]
        for word in topic["term"].split()
    }
    assert terms
    assert terms.isdisjoint({"di", "bila", "nak", "untuk", "sudah", "saya", "ini", "perlu", "tolong"})
    assert not any(part in word for word in terms for part in ("http", "maps", "example", "ps1", "0123456789abcdef"))


def test_one_agency_unanswered_only_and_the_table(env: dict[str, str]) -> None:
    [record] = _topics(env, "--agency", FLOODED, "--unanswered")
    assert record["agency"] == FLOODED
    # Pain points only: unanswered messages that need a reply (every road question does; not every flood one).
    assert all(classify(text).needs_reply for text in ROADS)
    pains = sum(classify(text).needs_reply for text in FLOOD[FLOOD_ANSWERED:])
    assert pains < len(FLOOD) - FLOOD_ANSWERED
    assert record["unanswered"] == record["messages"] == 7 * 3 + pains
    banjir = next(topic for topic in record["topics"] if topic["term"] == "banjir")
    assert banjir["count"] == banjir["unanswered"] == pains
    # Against the earlier weeks' pain points: the two old flood messages were statements, so all of it rose.
    assert not classify("Banjir kilat di Klang lagi").needs_reply
    assert (banjir["previous"], banjir["rise"]) == (0, pains)
    table = run_cli(["listen", "topics", "--agency", FLOODED, "--until", "latest"], env).stdout
    assert table.startswith(f"{FLOODED}: ")
    assert "banjir" in table
    assert table.splitlines()[1].split() == ["term", "score", "count", "open", "prev", "rise", "example"]


def test_an_unknown_agency_is_a_usage_error_naming_close_ones(env: dict[str, str]) -> None:
    result = subprocess.run(
        [SERAMBI, "listen", "topics", "--agency", "kerjaray"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "did you mean kerjaraya" in result.stderr
    assert "Traceback" not in result.stderr
