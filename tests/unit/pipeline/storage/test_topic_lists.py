"""The stored topic lists' pure parts: the spans, the rising order, the rows of one computation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.domain.topics import Topic
from pipeline.storage.sql.topics import TopicTexts
from pipeline.storage.topic_lists import COLUMNS, Ranked, list_rows, rank_texts, rising, topic_span

END = datetime(2026, 11, 20, tzinfo=UTC)
DAY = timedelta(days=1)


def _topic(term: str, score: float, rise: int) -> Topic:
    return Topic(term, score, 5, 5, 5 - rise, rise, (f"about {term}",))


def test_a_span_is_the_window_the_one_before_and_four_before_that() -> None:
    span = topic_span(END, DAY, "jpj")
    assert (span.since, span.previous, span.history, span.until) == (END - DAY, END - 2 * DAY, END - 5 * DAY, END)
    assert span.agency == "jpj"


def test_rising_keeps_what_rose_by_rise_then_score_then_term() -> None:
    ranked = Ranked(
        9, 7, [_topic("jalan", 3.0, 0), _topic("banjir", 2.0, 4), _topic("bot", 2.5, 4), _topic("air", 2.5, 4)]
    )
    assert [t.term for t in rising(ranked).topics] == ["air", "bot", "banjir"]
    assert [t.term for t in rising(ranked, top=1).topics] == ["air"]
    assert (rising(ranked).messages, rising(ranked).unanswered) == (9, 7)


def test_unanswered_ranks_only_the_open_messages_of_the_window() -> None:
    texts = TopicTexts(window=[("Banjir di Klang", True)] * 3 + [("Jalan rosak", False)] * 3, history=["Lesen"] * 5)
    assert [t.term for t in rank_texts(texts, unanswered=True).topics] == ["banjir", "klang"]
    every = rank_texts(texts, min_score=0.0)
    assert (every.messages, every.unanswered) == (6, 3)
    assert "jalan rosak" in {t.term for t in every.topics}  # the answered messages count too


def test_a_computation_is_its_totals_at_rank_zero_then_its_topics() -> None:
    rows = list_rows("jpj", END, {"week": Ranked(9, 7, [_topic("banjir", 2.0, 4)]), "rising": Ranked(0, 0)})
    named = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
    assert [(r["list"], r["rank"], r["term"], r["count"]) for r in named] == [
        ("week", 0, "", 9),
        ("week", 1, "banjir", 5),
        ("rising", 0, "", 0),
    ]
    assert named[1]["examples"] == ["about banjir"]
    assert named[0]["unanswered"] == 7
