"""The stored topic lists' pure parts: the spans, the rising order, the rows of one computation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.domain.topics import Topic
from pipeline.storage.sql.topics import Text, TopicTexts
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


def test_pain_points_rank_only_the_open_messages_that_need_a_reply() -> None:
    window = [Text("Banjir di Klang", True)] * 3 + [Text("Jalan rosak", False)] * 3
    window += [Text("Terima kasih bomba Klang", True, needs_reply=False)] * 3  # open, but no pain point
    texts = TopicTexts(window=window, history=[Text("Lesen", True)] * 5)
    pains = rank_texts(texts, pain_points=True)
    assert [t.term for t in pains.topics] == ["banjir", "klang"]
    assert (pains.messages, pains.unanswered, pains.topics[1].count) == (3, 3, 3)
    every = rank_texts(texts, min_score=0.0)
    assert (every.messages, every.unanswered) == (9, 6)
    assert "jalan rosak" in {t.term for t in every.topics}  # the answered messages count too


def test_rising_pain_points_compare_unanswered_with_unanswered_before() -> None:
    # The day before, eight flood messages, all answered in time; today five, unanswered: a rising pain point,
    # though fewer flood messages came than the day before (compared with every message, its rise was -3).
    answered = [Text("Banjir di Klang, bila surut?", False)] * 8
    texts = TopicTexts(
        window=[Text("Banjir di Klang, tolong!", True)] * 5 + [Text("Jalan rosak, bila baiki?", True)] * 3,
        previous=answered + [Text("Jalan rosak, bila baiki?", True)] * 3,
        history=answered + [Text("Jalan rosak, bila baiki?", True)] * 12,
    )
    top = rising(rank_texts(texts, pain_points=True, top=100)).topics
    assert [t.term for t in top][:1] == ["banjir"]
    assert (top[0].count, top[0].previous, top[0].rise) == (5, 0, 5)
    assert "jalan" not in {t.term for t in top}  # as many unanswered road questions as the day before
    # Every message against every message (the week list's way) hides it: fewer flood messages than before.
    assert "banjir" not in {t.term for t in rising(rank_texts(texts, top=100, min_score=0.0)).topics}


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
