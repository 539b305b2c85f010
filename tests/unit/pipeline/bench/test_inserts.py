"""`serambi bench inserts`: what counts as a faithful replay, and the figures it prints."""

from __future__ import annotations

from pipeline.bench.inserts import InsertCost, unexpected_counts


def test_a_raw_table_must_hold_every_row_inserted_and_no_table_more() -> None:
    inserted = {"interactions": 100, "posts": 10, "response_facts": 30}
    assert unexpected_counts(dict(inserted), inserted) == []
    # A later row of a message improves its fact: a merge may have replaced rows of the facts table.
    assert unexpected_counts({"interactions": 100, "posts": 10, "response_facts": 28}, inserted) == []
    assert unexpected_counts({"interactions": 99, "posts": 10, "response_facts": 30}, inserted) == [
        "interactions holds 99 rows of 100 inserted"
    ]
    assert unexpected_counts({"interactions": 100, "posts": 10, "response_facts": 31}, inserted) == [
        "response_facts holds 31 rows of 30 inserted"
    ]
    assert unexpected_counts({"interactions": 100, "response_facts": 30}, inserted) == [
        "posts holds 0 rows of 10 inserted"
    ]


def test_the_figures_add_up_and_say_what_75000_events_per_second_would_take() -> None:
    cost = InsertCost(
        events=200_000,
        inserts=55,
        insert_us_per_event=20.0,
        merges_us_per_event=2.0,
        tables_us_per_event={"interactions": 12.5, "posts": 7.5},
        rows={"interactions": 150_000, "posts": 50_000},
        one_row_insert_ms={"interactions": 30.0, "posts": 20.0},
    )
    assert cost.total_us_per_event == 22.0
    assert cost.cores_at(75_000) == 1.65
    lines = cost.lines()
    assert lines[0] == (
        "200,000 events in 55 inserts: 20.00 us CPU/event inserting, 2.00 merging; 22.00 in all "
        "(at 75,000 events/s: 1.65 cores for chDB alone)"
    )
    assert lines[2].split() == ["interactions", "150,000", "12.50", "30.0"]
    assert lines[3].split() == ["posts", "50,000", "7.50", "20.0"]
