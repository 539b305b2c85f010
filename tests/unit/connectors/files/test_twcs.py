"""The twcs.csv connector on a hand-written file with every quirk, and on the shared documented sample.

tests/fixtures/twcs_quirks.csv (written with Python's csv.writer: CRLF line endings, minimal quoting; a
pandas-style unnamed index column "" first; ids of NaN-holding columns as floats "2.0"; rows not in time order).
All times Wed 1 Nov 2017 UTC. A = AskPetronasX (agency askpetronasx), P = PosMalaysiaX (posmalaysiax).

 idx tweet  author   time   exercises                                                      owner  role / kind
 0   1      700001   08:00  customer tweet answered by the company (by 2)                 A      citizen mention
 1   2      A        08:30  company reply; response/parent ids written as floats          A      agency reply
 2   3      700001   08:40  customer reply to a company tweet, never answered             A      citizen reply
 3   6      A        10:00  company reply to the 2nd of two customer tweets (row before   A      agency reply
                            its parent: file order is not time order)
 4   4      700002   09:00  1st of two customer tweets before one company reply           A      citizen mention
 5   5      700002   09:20  2nd customer tweet (replies to 4); embedded newline in text   A      citizen reply
 6   7      700003   11:00  only @mentions a company, lowercase "@posmalaysiax"           P      citizen mention
 7   8      700004   12:00  answered by P (9, 12:15) and later A (10): earliest reply     P      citizen mention
                            owns it; response_tweet_id "9,10,11"
 8   9      P        12:15  company reply                                                 P      agency reply
 9   10     A        12:20  A replies in P's thread                                       P      other_agency reply
 10  11     700009   12:40  customer-to-customer reply, @mentions P; another author, so   P      citizen reply
                            P's reply 13 (to 700004) does not answer it
 11  12     700004   14:00  customer reply to P's tweet 9, answered by 13                  P      citizen reply
 12  13     P        14:05  company reply                                                 P      agency reply
 13  14     700005   15:00  dangling in_response_to_tweet_id 999.0: root is 14 itself      A      citizen reply
 14  15.0   A        15:45  tweet_id written as a float                                   A      agency reply
 15  16     700006   16:00  no company at all (mentions a customer): skipped              -      -
 16  17     700010   -      created_at "Wed Nov 01 25:00:00 +0000 2017": invalid row       -      -
 17  18     700011   17:00  inbound "maybe": invalid row                                   -      -
 18  ""     700012   17:30  missing tweet_id: invalid row                                  -      -

Expected per company (tests/fixtures/twcs_quirks_expected.json), DOMAIN.md reply matching, wall-clock seconds:
 askpetronasx: citizen_messages 5 (1, 3, 4, 5, 14); answered 4: 1 by 2 = 1800, 4 by 6 = 3600 (6 answers 5 and
               700002's earlier unanswered 4), 5 by 6 = 2400, 14 by 15 = 2700; 3 stays unanswered.
 posmalaysiax: citizen_messages 4 (7, 8, 11, 12); answered 2: 8 by 9 = 900, 12 by 13 = 300; 7 and 11 unanswered;
               10 is inter-agency (other_agency): neither a citizen message nor an answer.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.core.errors import ConnectorError
from connectors.core.publisher import Publisher
from connectors.core.testing import ListEventSink, ListRecordSink
from connectors.files.twcs import TwcsResult, TwcsSource, agency_slug, directory_with, parse_twcs
from pipeline.domain.matching import Matcher
from schemas.agency import Account, Agency, Directory
from schemas.events import AuthorRole, Interaction, InteractionKind, Platform
from schemas.privacy import PREFIX, Pseudonymizer
from schemas.records import decode_batch
from schemas.topics import DEAD_LETTER, EVENTS
from tests.helpers.paths import PAYLOADS

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
QUIRKS = FIXTURES / "twcs_quirks.csv"
EXPECTED = FIXTURES / "twcs_quirks_expected.json"
SAMPLE_DIR = PAYLOADS / "twcs_kaggle"
A, P = "AskPetronasX", "PosMalaysiaX"


@pytest.fixture(scope="module")
def result() -> TwcsResult:
    return TwcsSource(QUIRKS).read()


@pytest.fixture(scope="module")
def by_id(result: TwcsResult) -> dict[str, Interaction]:
    return {e.message_id: e for e in result.events}


def _publisher(sink: ListRecordSink, agencies: dict[str, str]) -> Publisher:
    return Publisher(
        sink,
        pseudonymizer=Pseudonymizer(SecretStr("k")),
        partitions=4,
        source="twcs",
        directory=directory_with(Directory(agencies=()), agencies),
    )


def _figures(events: list[Interaction]) -> dict[str, dict[str, Any]]:
    # Event-time order, as the connector publishes: pipeline.domain.matching.Matcher misses "earlier messages by the
    # same author" when a reply is added before its parent (tweet 6 before 5 in file order loses tweet 4).
    facts = Matcher(business=lambda agency, start, end: 0.0).add(sorted(events, key=lambda e: e.created_at))
    figures: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.author_role is AuthorRole.CITIZEN:
            entry = figures.setdefault(event.agency_id, {"citizen_messages": 0, "answered": 0, "response_seconds": []})
            entry["citizen_messages"] += 1
    for fact in facts:
        figures[fact.agency_id]["answered"] += 1
        figures[fact.agency_id]["response_seconds"].append(int(fact.response_seconds))
    for entry in figures.values():
        entry["response_seconds"].sort()
    return figures


def test_file_has_the_raw_quirks() -> None:
    raw = QUIRKS.read_bytes()
    assert raw.startswith(b",tweet_id,")  # unnamed index column
    assert raw.count(b"\r\n") == 20  # header + 19 rows, CRLF
    assert b'"@AskPetronasX hello?\nanyone there?"' in raw  # bare newline inside quotes


def test_owners_roles_and_kinds(by_id: dict[str, Interaction]) -> None:
    owners = {i: e.account_id for i, e in by_id.items()}
    assert owners == {
        "1": A,
        "2": A,
        "3": A,
        "4": A,
        "5": A,
        "6": A,
        "14": A,
        "15": A,
        "7": P,
        "8": P,
        "9": P,
        "10": P,
        "11": P,
        "12": P,
        "13": P,
    }
    assert {e.agency_id for e in by_id.values() if e.account_id == A} == {"askpetronasx"}
    roles = {i: e.author_role.value for i, e in by_id.items() if e.author_role is not AuthorRole.CITIZEN}
    assert roles == {"2": "agency", "6": "agency", "9": "agency", "13": "agency", "15": "agency", "10": "other_agency"}
    assert by_id["10"].author_id == A
    mentions = {i for i, e in by_id.items() if e.kind is InteractionKind.MENTION}
    assert mentions == {"1", "4", "7", "8"}
    assert all(
        e.platform is Platform.X and e.source == "twcs" and e.event_id == f"x:{e.message_id}" for e in by_id.values()
    )


def test_roots_parents_and_parent_authors(by_id: dict[str, Interaction]) -> None:
    roots = {i: e.root_id for i, e in by_id.items()}
    assert roots == {
        "1": "1",
        "2": "1",
        "3": "1",
        "4": "4",
        "5": "4",
        "6": "4",
        "7": "7",
        "8": "8",
        "9": "8",
        "10": "8",
        "11": "8",
        "12": "8",
        "13": "8",
        "14": "14",
        "15": "14",
    }
    assert by_id["14"].parent_id == "999"  # dangling: kept, but no parent author
    assert by_id["14"].parent_author_id is None
    assert by_id["14"].kind is InteractionKind.REPLY
    assert (by_id["3"].parent_author_id, by_id["6"].parent_author_id, by_id["12"].parent_author_id) == (A, "700002", P)


def test_float_ids_and_text(by_id: dict[str, Interaction]) -> None:
    assert by_id["15"].message_id == "15"
    assert by_id["2"].parent_id == "1"
    assert by_id["5"].text == "@AskPetronasX hello?\nanyone there?"
    assert by_id["1"].created_at.isoformat() == "2017-11-01T08:00:00+00:00"


def test_skipped_invalid_and_agencies(result: TwcsResult) -> None:
    assert result.skipped == 1  # tweet 16
    assert len(result.events) == 15
    assert result.agencies == {A: "askpetronasx", P: "posmalaysiax"}
    reasons = [r.reason for r in result.invalid]
    assert len(reasons) == 3
    assert "created_at of tweet 17" in reasons[0]
    assert "'Wed Nov 01 25:00:00 +0000 2017'" in reasons[0]
    assert "inbound of tweet 18 is 'maybe'" in reasons[1]
    assert "tweet_id is missing" in reasons[2]
    assert [r.raw["author_id"] for r in result.invalid] == ["700010", "700011", "700012"]
    assert {r.error_type for r in result.invalid} == {"invalid_row"}


def test_expected_figures_follow_from_the_events(result: TwcsResult) -> None:
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    assert _figures(result.events) == expected


def test_prepare_adds_the_companies_and_summarises() -> None:
    source = TwcsSource(QUIRKS)
    base = Directory(agencies=())
    directory = source.prepare(base)
    assert [(a.id, a.accounts[0].account_id) for a in directory.agencies] == [("askpetronasx", A), ("posmalaysiax", P)]
    assert source.summary == (
        f"{QUIRKS}: 15 tweets to import, 2 companies, 1 skipped (no company), 3 invalid rows (dead-lettered)"
    )
    assert TwcsSource.format == "twcs"


def test_publish_sends_dead_letters_then_events_oldest_first() -> None:
    sink = ListEventSink()
    assert TwcsSource(QUIRKS).publish(sink) == 15
    created = [e.created_at for e in sink.events]
    assert created == sorted(created)
    assert [d.error_type for d in sink.dead_letters] == ["invalid_row"] * 3
    assert sink.flushes == 1


def test_publish_events_and_dead_letters(result: TwcsResult) -> None:
    sink = ListRecordSink()
    seen: list[int] = []
    publisher = _publisher(sink, result.agencies)
    assert TwcsSource(QUIRKS).publish(publisher, progress=seen.append) == 15
    assert seen == [15]
    events = [e for r in sink.on(EVENTS.name) for e in decode_batch(r.value)[0]]
    assert len(events) == 15
    interactions = [e for e in events if isinstance(e, Interaction)]
    citizens = [e for e in interactions if e.author_role is AuthorRole.CITIZEN]
    assert all(e.author_id.startswith(PREFIX) for e in citizens)
    assert {e.author_id for e in interactions if e.author_role is not AuthorRole.CITIZEN} == {A, P}
    by_id = {e.message_id: e for e in interactions}
    assert by_id["12"].parent_author_id == P  # an agency parent keeps its handle
    assert by_id["13"].parent_author_id == by_id["12"].author_id  # same citizen, same pseudonym
    # Pseudonyms keep the matching intact.
    assert _figures(interactions) == json.loads(EXPECTED.read_text(encoding="utf-8"))
    letters = [r.json() for r in sink.on(DEAD_LETTER.name)]
    assert len(letters) == 3
    assert {letter["error_type"] for letter in letters} == {"invalid_row"}
    assert any("inbound of tweet 18" in letter["reason"] for letter in letters)
    assert all("700010" not in letter["raw"] and "700011" not in letter["raw"] for letter in letters)


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_pandas_index_header_and_nan_ids() -> None:
    rows = _rows(
        "Unnamed: 0,tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
        "0,1,55,TRUE,Tue Oct 31 22:10:47 +0000 2017,@AmazonHelp hi,2.0,NaN\n"
        "1,2.0,AmazonHelp,false,Tue Oct 31 22:11:47 +0000 2017,@55 hello,nan,1.0\n"
    )
    result = parse_twcs(rows)
    assert [(e.message_id, e.parent_id, e.account_id) for e in result.events] == [
        ("1", None, "AmazonHelp"),
        ("2", "1", "AmazonHelp"),
    ]
    assert result.agencies == {"AmazonHelp": "amazonhelp"}
    assert result.invalid == []


def test_duplicate_and_garbled_rows_are_invalid() -> None:
    header = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
    row = "1,55,True,Tue Oct 31 22:10:47 +0000 2017,hi @Co,,\n"
    result = parse_twcs(_rows(header + row + row + "2,55,True,Tue Oct 31 22:10:47 +0000 2017,a,b,,,\n"))
    reasons = [r.reason for r in result.invalid]
    assert reasons[0] == "row 2: duplicate tweet_id 1"
    assert "more fields than the header" in reasons[1]
    assert result.skipped == 1


def test_company_reply_chains_and_cycles_terminate() -> None:
    header = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
    body = "".join(
        f"{i},Co{i % 2},False,Tue Oct 31 22:10:47 +0000 2017,t,,{i - 1 if i > 1 else 3000}\n" for i in range(1, 3001)
    )
    result = parse_twcs(_rows(header + body))  # a 3,000-tweet cycle of company replies
    assert len(result.events) == 3000
    assert len({e.account_id for e in result.events}) == 1


def test_read_rejects_a_file_that_is_not_twcs(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("id,name\n1,x\n", encoding="utf-8")
    with pytest.raises(ConnectorError, match="missing columns"):
        TwcsSource(path).read()


def test_read_says_a_binary_file_is_not_utf8_text(tmp_path: Path) -> None:
    path = tmp_path / "twcs.csv"
    path.write_bytes(b"\x98\xff\x00\x12" * 64)
    with pytest.raises(ConnectorError) as caught:
        TwcsSource(path).read()
    message = str(caught.value)
    assert str(path) in message
    assert "not UTF-8 text" in message
    assert "re-save it as UTF-8 CSV" in message
    assert "codec" not in message


def test_read_says_a_file_with_nul_bytes_is_not_a_twcs_csv(tmp_path: Path) -> None:
    path = tmp_path / "twcs.csv"
    path.write_bytes(b"tweet_id,author_id\x00,inbound\n1,2,True\n")
    with pytest.raises(ConnectorError, match=r"is not a TWCS CSV file .*binary"):
        TwcsSource(path).read()


@pytest.mark.parametrize(("separator", "name"), [(";", "';'"), ("\t", "tab")])
def test_read_hints_at_another_separator(tmp_path: Path, separator: str, name: str) -> None:
    columns = ["tweet_id", "author_id", "inbound", "created_at", "text", "response_tweet_id", "in_response_to_tweet_id"]
    path = tmp_path / "twcs.csv"
    path.write_text(separator.join(columns) + "\n" + separator.join(["1", "2", "True", "x", "t", "", ""]) + "\n")
    with pytest.raises(ConnectorError) as caught:
        TwcsSource(path).read()
    assert f"looks {name}-separated, TWCS files are comma-separated" in str(caught.value)


def test_directory_with_adds_missing_handles_only() -> None:
    known = Agency(
        id="posmalaysiax",
        name="Pos Malaysia",
        tier="federal",
        accounts=(Account(platform=Platform.X, account_id="PosMY"),),
    )
    base = Directory(agencies=(known,))
    directory = directory_with(base, {"PosMY": "posmalaysiax", P: "posmalaysiax", A: "askpetronasx"})
    assert [a.account_id for a in directory.get("posmalaysiax").accounts] == ["PosMY", P]
    added = directory.get("askpetronasx")
    assert (added.name, added.tier, added.timezone, added.accounts[0].account_id) == (A, "federal", "UTC", A)
    assert directory_with(directory, {A: "askpetronasx"}) == directory


def test_parse_uses_directory_agency_ids() -> None:
    known = Agency(id="jpj", name="JPJ", tier="federal", accounts=(Account(platform=Platform.X, account_id=A),))
    with QUIRKS.open(newline="", encoding="utf-8") as handle:
        result = parse_twcs(csv.DictReader(handle), directory=Directory(agencies=(known,)))
    assert result.agencies == {A: "jpj", P: "posmalaysiax"}


@pytest.mark.parametrize(
    ("handle", "slug"), [("AmazonHelp", "amazonhelp"), ("Ask_Petronas-X", "ask_petronas-x"), ("_Hidden", "hidden")]
)
def test_agency_slug(handle: str, slug: str) -> None:
    assert agency_slug(handle) == slug


def test_shared_sample_agrees_with_its_parsed_view() -> None:
    result = TwcsSource(SAMPLE_DIR / "twcs_sample.csv").read()
    parsed = json.loads((SAMPLE_DIR / "twcs_sample_parsed.json").read_text(encoding="utf-8"))["rows"]
    by_id = {e.message_id: e for e in result.events}
    assert result.invalid == []
    assert result.skipped == 0

    def strip(value: str | None) -> str | None:
        return value.removeprefix("twcs:") if value else None

    for row in parsed:
        want = row["canonical"]
        got = by_id[strip(want["event_id"]) or ""]
        # That file's conventions differ in ids ("twcs:" prefix, platform "twcs"); compare what agrees.
        assert got.account_id == want["account_id"]
        assert got.root_id == strip(want["post_id"])
        assert got.parent_id == strip(want["parent_id"])
        assert got.author_id == want["author_id"]
        assert (got.author_role is not AuthorRole.CITIZEN) == want["author_is_agency"]
        assert got.kind.value == want["kind"]
        assert got.created_at.isoformat().replace("+00:00", "Z") == want["created_at"]
        assert got.text == want["text"]


@pytest.mark.parametrize(
    "created_at",
    [
        "Fri Dec 31 23:59:59 -0100 9999",  # overflows when shifted to UTC
        "Mon Jan 01 00:00:00 +0100 0001",  # underflows
        "9999-12-31T23:59:59-01:00",  # the same, as a pandas re-export writes it
        "Tue Oct 31 22:10:47 +0000 1999",  # before any social platform
    ],
)
def test_rows_with_times_out_of_range_are_invalid_not_raised(created_at: str) -> None:
    # Issue 7, item 5: `serambi import twcs` aborted with an OverflowError traceback on such a row.
    header = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
    rows = _rows(
        header + "1,55,True,Tue Oct 31 22:10:47 +0000 2017,@Co hi,3,\n"
        f"2,56,True,{created_at},@Co hello,,\n"
        "3,Co,False,Tue Oct 31 22:11:47 +0000 2017,@55 yes,,1\n"
    )
    result = parse_twcs(rows)
    assert [e.message_id for e in result.events] == ["1", "3"]
    [invalid] = result.invalid
    assert invalid.error_type == "invalid_row"
    assert invalid.reason.startswith("row 2: created_at of tweet 2 ")
    assert "out of range: events must be at or after 2006-01-01" in invalid.reason
