"""Count batches on the wire: a backfill's drain is split into records the broker accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.domain.surge import CountRecord
from pipeline.domain.tally import CountDrain
from pipeline.stream.surge_agents import COUNTS_PER_RECORD, count_batches
from schemas.counts import CountBatch, MinuteCount

T0 = datetime(2026, 11, 2, tzinfo=UTC)
BROKER_LIMIT = 1024 * 1024  # the producers' default max_request_size


def _drain(n: int, watermark: datetime | None) -> CountDrain:
    records = [
        CountRecord(
            agency=f"agency-{i % 200:03d}",
            platform="facebook",
            source="worker-1",
            minute=T0 + timedelta(minutes=i),
            arrivals=3,
            answered=1,
            backlog=40,
            oldest_unanswered_at=T0,
            example_ids=("psm1:" + "a" * 32, "psm1:" + "b" * 32, "psm1:" + "c" * 32),
        )
        for i in range(n)
    ]
    return CountDrain(records, watermark)


def _batches(drain: CountDrain, previous_watermark: datetime | None) -> list[CountBatch]:
    return [CountBatch.model_validate_json(v) for v in count_batches("worker-1", drain, T0, previous_watermark)]


def test_the_wire_value_is_what_the_validated_model_writes() -> None:
    drain = _drain(3, T0 + timedelta(minutes=7, microseconds=250))
    late = CountRecord("agency-9", "x", "worker-1", T0, arrivals=1)  # no backlog, no examples, no oldest
    drain = CountDrain([*drain.records, late], drain.watermark)
    [value] = count_batches("worker-1", drain, T0 + timedelta(seconds=1.5), previous_watermark=None)
    model = CountBatch(
        source="worker-1",
        watermark=drain.watermark,
        sent_at=T0 + timedelta(seconds=1.5),
        counts=tuple(
            MinuteCount(
                agency=r.agency,
                platform=r.platform,
                minute=r.minute,
                arrivals=r.arrivals,
                answered=r.answered,
                backlog=r.backlog,
                oldest_unanswered_at=r.oldest_unanswered_at,
                example_ids=r.example_ids,
            )
            for r in drain.records
        ),
    )
    assert value == model.model_dump_json().encode()


def test_a_small_drain_is_one_record_with_the_new_watermark() -> None:
    new = T0 + timedelta(hours=1)
    [batch] = _batches(_drain(10, new), previous_watermark=T0)
    assert batch.watermark == new
    assert len(batch.counts) == 10


def test_an_empty_drain_still_sends_its_progress() -> None:
    [batch] = _batches(_drain(0, T0), previous_watermark=None)
    assert batch.watermark == T0
    assert batch.counts == ()


def test_a_backfill_is_split_under_the_broker_limit_and_only_the_last_record_moves_the_watermark() -> None:
    new = T0 + timedelta(days=90)
    n = 90 * 24 * 60 // 10  # a long import's minutes
    values = count_batches("worker-1", _drain(n, new), T0, previous_watermark=T0)
    batches = [CountBatch.model_validate_json(v) for v in values]
    assert len(batches) == -(-n // COUNTS_PER_RECORD)
    assert sum(len(b.counts) for b in batches) == n
    assert [b.watermark for b in batches] == [T0] * (len(batches) - 1) + [new]
    assert max(len(v) for v in values) < BROKER_LIMIT
    assert [c.minute for b in batches for c in b.counts] == [T0 + timedelta(minutes=i) for i in range(n)]
