"""Topics of a window against its history, on exact small cases: terms, scores, ranks, counts, rise, examples."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from pipeline.domain import needs_reply
from pipeline.domain.topics import Message, Topic, log_odds, rank_topics, stop_words, terms

PSEUDONYM = "@ps1:0123456789abcdef0123456789abcdef"
ROADS = ["jalan rosak teruk", "lampu jalan padam", "lubang jalan bahaya"]


def test_terms_are_normalised_words_and_phrases_within_a_clause_without_stop_words() -> None:
    assert terms("Paras air naik lagi!") == {"paras", "air", "naik", "paras air", "air naik"}
    # Abbreviations expand to stop words (x -> tidak, dah -> sudah); numbers and clause ends break phrases.
    assert terms("Lampu x nyala dah 3 hari. Gelap") == {"lampu", "nyala", "gelap"}
    assert terms("Banjir2 lagi") == {"banjir"}  # reduplication is one word, and no phrase with itself


@pytest.mark.parametrize(
    "text",
    [
        f"{PSEUDONYM} tolong check https://example.gov.my/borang?id=7 www.site.my @jiran_sebelah",
        "Saya nak tanya bila boleh dapat, untuk apa dan di mana?",
        "Can you please tell me what is the status of this one",
    ],
)
def test_stop_words_links_handles_and_pseudonyms_are_never_terms(text: str) -> None:
    found = " ".join(terms(text)).split()
    assert not set(found) & stop_words()
    assert not any(part in word for word in found for part in ("http", "example", "www", "ps1", "jiran", "0123"))


def test_the_maintained_lists_are_used_but_content_words_of_their_malay_list_are_kept() -> None:
    stop = stop_words()
    assert {"yang", "dan", "the", "and", "lah", "nak"} <= stop
    assert stop.isdisjoint({"air", "paras", "jalan", "banjir", "bot"})


def test_log_odds_is_the_informative_dirichlet_z_score() -> None:
    window, history = Counter({"banjir": 3, "jalan": 1}), Counter({"jalan": 6})
    # The prior is both periods' usage (+ 0.01 each): a = {banjir: 3.01, jalan: 7.01}, a0 = 10.02.
    delta = math.log(6.01 / (4 + 10.02 - 6.01)) - math.log(3.01 / (6 + 10.02 - 3.01))
    expected = delta / math.sqrt(1 / 6.01 + 1 / 3.01)
    scores = log_odds(window, history)
    assert scores["banjir"] == pytest.approx(expected)
    assert scores["jalan"] < 0 < scores["banjir"]


def test_a_term_frequent_in_the_window_and_rare_in_history_ranks_first_with_counts_and_rise() -> None:
    window = [
        Message(f"{PSEUDONYM} Banjir di Kampung Baru, tolong hantar bot", unanswered=True),
        Message("banjir teruk, paras air naik https://t.co/x"),
        Message("Banjir lagi!!! paras air cecah lutut", unanswered=True),
        Message("banjir kilat, kereta tenggelam"),
        Message("jalan rosak teruk"),
        Message("lampu jalan padam"),
    ]
    history = [*ROADS * 4, "banjir kilat semalam"]
    previous = ["banjir kilat semalam", "jalan rosak teruk"]
    topics = rank_topics(window, previous, history, min_count=2, min_score=0)
    assert topics[0] == Topic(
        term="banjir",
        score=topics[0].score,
        count=4,
        unanswered=2,
        previous=1,
        rise=3,
        examples=(
            "Banjir di Kampung Baru, tolong hantar bot",
            "Banjir lagi!!! paras air cecah lutut",
            "banjir teruk, paras air naik",
        ),
    )
    assert [topic.term for topic in topics] == ["banjir", "paras air"]  # "paras", "air": the phrase says them
    assert topics[1].rise == topics[1].count == 2
    assert topics[0].score > topics[1].score > 0


def test_terms_as_common_as_before_under_min_count_or_min_score_are_no_topics() -> None:
    window = [Message(text) for text in [*ROADS, "banjir", "banjir"]]
    assert rank_topics(window, [], ROADS * 5, min_count=3) == []
    assert [topic.term for topic in rank_topics(window, [], ROADS * 5, min_count=2)] == ["banjir"]
    assert rank_topics(window, [], ROADS * 5, min_count=2, min_score=10) == []


def test_examples_are_few_distinct_redacted_and_cut() -> None:
    long = "banjir " + "sangat teruk " * 30
    window = [Message(f"{PSEUDONYM} banjir"), Message("banjir @jiran"), Message(long), Message("banjir")]
    [topic] = rank_topics(window, [], ["jalan rosak"], min_count=3, min_score=0, examples=2)
    assert topic.examples == ("banjir", long.strip()[:199] + "…")
    assert topic.count == 4


def test_without_history_the_most_frequent_terms_are_topics_scored_0_and_top_cuts() -> None:
    window = [Message("ombak besar"), Message("ombak"), Message("ribut"), Message("ribut"), Message("ombak")]
    ranked = rank_topics(window, [], [], min_count=1, top=2)
    assert [(topic.term, topic.score, topic.count) for topic in ranked] == [("ombak", 0, 3), ("ribut", 0, 2)]
    tied = rank_topics([Message("ribut"), Message("hujan")], [], [], min_count=1)
    assert [topic.term for topic in tied] == ["hujan", "ribut"]  # equal scores and counts: by term


def test_ranking_keeps_the_classifiers_cache_as_it_was() -> None:
    needs_reply.clear_cache()
    needs_reply.classify("Air tiada di Taman Melati")
    hot = dict(needs_reply._CHUNKS)
    history = [f"Jalan rosak di kampung{n} sejak semalam" for n in range(200)]
    rank_topics([Message("Banjir di Klang")] * 3, history[:20], history)
    assert hot == needs_reply._CHUNKS  # its private cache: history texts must not evict the hot path's chunks


def test_an_email_address_is_no_term_and_no_example() -> None:
    topics = rank_topics([Message("Banjir teruk, emel ali.bin@gmail.com")] * 3, [], [], top=100)
    assert {topic.term for topic in topics} == {"banjir teruk", "emel"}  # the words: subsumed by the phrase
    assert topics[0].examples == ("Banjir teruk, emel",)
    assert terms("emel ali.bin@gmail.com") == {"emel"}
