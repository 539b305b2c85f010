"""The embedded broker's spool: frames survive torn writes; segments go only once their records are stored."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.core.errors import PublishError
from pipeline.runtime.spool import PAUSE_FILE, Spool, SpooledSink, SpoolWriter, read_frames

EVENTS = "serambi.events.v1"
EPOCH = "127.0.0.1:9092#100"


@dataclass
class FakeKafka:
    """Acknowledges every record at the next offset of its partition, as a broker does."""

    sent: list[tuple[str, int | None, bytes | None, bytes]] = field(default_factory=list)
    ends: dict[tuple[str, int], int] = field(default_factory=dict)
    acked: dict[tuple[str, int], int] = field(default_factory=dict)
    closed: bool = False

    def send(self, topic: str, partition: int | None, key: bytes | None, value: bytes) -> None:
        self.sent.append((topic, partition, key, value))
        where = (topic, partition or 0)
        self.acked[where] = self.ends.get(where, 0)
        self.ends[where] = self.acked[where] + 1

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def take_acked(self) -> dict[tuple[str, int], int]:
        acked, self.acked = self.acked, {}
        return acked


frames = st.tuples(
    st.sampled_from([EVENTS, "serambi.deadletter.v1"]),
    st.none() | st.integers(0, 1023),
    st.none() | st.binary(max_size=40),
    st.binary(max_size=200),
)


@given(st.lists(frames, max_size=20))
def test_frames_come_back_as_written(
    tmp_path_factory: pytest.TempPathFactory, records: list[tuple[str, int | None, bytes | None, bytes]]
) -> None:
    directory = tmp_path_factory.mktemp("spool")
    writer = SpoolWriter(directory, EPOCH)
    for record in records:
        writer.append(*record)
    segments = list(directory.glob("*.seg"))
    assert [tuple(frame) for path in segments for frame in read_frames(path)] == records


def test_a_torn_write_at_the_end_loses_only_that_record(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, EPOCH)
    writer.append(EVENTS, 0, b"k", b"first")
    writer.append(EVENTS, 1, None, b"second")
    (segment,) = tmp_path.glob("*.seg")
    whole = segment.read_bytes()
    segment.write_bytes(whole[:-3])  # the kill cut the last write short
    assert [frame[3] for frame in read_frames(segment)] == [b"first"]
    segment.write_bytes(whole[:-1] + bytes([whole[-1] ^ 0xFF]))  # or left garbage: the checksum catches it
    assert [frame[3] for frame in read_frames(segment)] == [b"first"]


def test_a_sealed_segment_is_deleted_once_the_worker_handled_every_offset_in_it(tmp_path: Path) -> None:
    kafka = FakeKafka()
    sink = SpooledSink(kafka, SpoolWriter(tmp_path, EPOCH))
    for number in range(3):
        sink.send(EVENTS, number % 2, b"k", b"%d" % number)
    sink.close()
    spool = Spool(tmp_path, EPOCH, FakeKafka)
    assert len(spool.segments()) == 1
    assert spool.collect({(EVENTS, 0): 1, (EVENTS, 1): -1}) == 0  # partition 1's record is not stored yet
    assert spool.collect({(EVENTS, 0): 0, (EVENTS, 1): 0}) == 0  # partition 0 holds two records: 0 and 1
    assert spool.collect({(EVENTS, 0): 1, (EVENTS, 1): 0}) == 1
    assert not list(tmp_path.iterdir())


def test_a_full_segment_is_sealed_and_a_new_one_begins(tmp_path: Path) -> None:
    kafka = FakeKafka()
    sink = SpooledSink(kafka, SpoolWriter(tmp_path, EPOCH, segment_bytes=64))
    for number in range(6):
        sink.send(EVENTS, 0, None, b"x" * 40 + b"%d" % number)
    spool = Spool(tmp_path, EPOCH, FakeKafka)
    assert len(spool.segments()) == 6
    assert spool.collect({(EVENTS, 0): 4}) == 5  # the open sixth segment is not sealed yet
    sink.close()
    assert spool.collect({(EVENTS, 0): 5}) == 1


def test_a_new_broker_run_republishes_what_the_last_one_left(tmp_path: Path) -> None:
    old = SpooledSink(FakeKafka(), SpoolWriter(tmp_path, "127.0.0.1:9092#1"))
    old.send(EVENTS, 0, b"k", b"sealed")
    old.close()
    unsealed = SpoolWriter(tmp_path / "killed", EPOCH)
    unsealed.append(EVENTS, 2, b"k", b"never sealed")
    (segment,) = (tmp_path / "killed").glob("*.seg")
    pid, started, written = segment.stem.split("-")
    segment.rename(tmp_path / f"{pid}-{int(started) - 1}-{written}.seg")  # its writer was killed
    republished: list[FakeKafka] = []

    def kafka() -> FakeKafka:
        republished.append(FakeKafka())
        return republished[-1]

    spool = Spool(tmp_path, EPOCH, kafka)
    replayed = spool.replay_stale()
    assert (replayed.segments, replayed.records) == (2, 2)
    assert sorted(value for _, _, _, value in republished[0].sent) == [b"never sealed", b"sealed"]
    assert republished[0].closed
    assert spool.replay_stale().records == 0  # sealed for this run now: not re-published again
    assert spool.collect({(EVENTS, 0): 0, (EVENTS, 2): 0}) == 2


def test_the_segment_of_a_writer_that_died_is_republished_by_the_running_stack(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from pipeline.runtime.spool import SpoolWriter;"
        f"SpoolWriter(Path({str(tmp_path)!r}), 'e').append({EVENTS!r}, 1, None, b'orphan')"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)  # the writer exits without sealing
    mine = SpoolWriter(tmp_path, EPOCH)
    mine.append(EVENTS, 0, None, b"still being written")  # this process is alive: left alone
    republished = FakeKafka()
    spool = Spool(tmp_path, EPOCH, lambda: republished)
    assert spool.collect({}) == 0
    assert republished.sent == [(EVENTS, 1, None, b"orphan")]
    assert spool.collect({(EVENTS, 1): 0}) == 1
    assert [path.name.partition("-")[0] for path in spool.segments()] == [str(os.getpid())]


def test_a_segment_of_an_earlier_process_with_the_same_pid_is_not_taken_for_a_live_writer(tmp_path: Path) -> None:
    # In a container the stack is pid 1 on every run: the pid alone would call the dead run's writer alive.
    SpoolWriter(tmp_path, EPOCH).append(EVENTS, 0, None, b"from the last run")
    (segment,) = tmp_path.glob("*.seg")
    pid, started, written = segment.stem.split("-")
    segment.rename(tmp_path / f"{pid}-{int(started) - 1}-{written}.seg")
    republished = FakeKafka()
    Spool(tmp_path, EPOCH, lambda: republished).collect({})
    assert republished.sent == [(EVENTS, 0, None, b"from the last run")]


def test_a_segment_that_spans_a_new_epoch_is_sealed_stale_and_republished(tmp_path: Path) -> None:
    # The topics were recreated while it was open: what it sent before may be gone with the old topics.
    spool = Spool(tmp_path, EPOCH, FakeKafka)
    spool.set_epoch(EPOCH)
    sink = SpooledSink(FakeKafka(), SpoolWriter(tmp_path, EPOCH))
    sink.send(EVENTS, 0, None, b"before the rotation")
    spool.set_epoch(EPOCH + "#1")
    assert spool.unsettled() == 1  # open, begun before this epoch: no drain can be claimed until it is back
    sink.close()
    republished = FakeKafka()
    spool = Spool(tmp_path, EPOCH + "#1", lambda: republished)
    assert spool.collect({}) == 0
    assert republished.sent == [(EVENTS, 0, None, b"before the rotation")]
    assert spool.collect({(EVENTS, 0): 0}) == 1


@dataclass
class LosingKafka(FakeKafka):
    """Kafka that loses the records of its first flush (the producer gave up on them)."""

    failed: bool = False

    def flush(self) -> None:
        if not self.failed:
            self.failed = True
            self.acked.clear()
            msg = "1 record(s) not acknowledged by Kafka; retry"
            raise PublishError(msg, failed=1)


def test_a_segment_kafka_lost_records_of_is_republished_whole(tmp_path: Path) -> None:
    sink = SpooledSink(LosingKafka(), SpoolWriter(tmp_path, EPOCH))
    sink.send(EVENTS, 0, None, b"lost by Kafka")
    with pytest.raises(PublishError):
        sink.close()
    republished = FakeKafka()
    spool = Spool(tmp_path, EPOCH, lambda: republished)
    assert spool.unsettled() == 1
    spool.collect({})
    assert republished.sent == [(EVENTS, 0, None, b"lost by Kafka")]


def test_writers_hold_their_records_while_the_stack_recreates_the_topics(tmp_path: Path) -> None:
    kafka = FakeKafka()
    sink = SpooledSink(kafka, SpoolWriter(tmp_path, EPOCH))
    sink.send(EVENTS, 0, None, b"before")  # an open segment: the stack must wait for this writer
    spool = Spool(tmp_path, EPOCH, FakeKafka)
    assert not spool.pause_writers(timeout_s=0.2)  # the writer has not held yet: no rotation
    sent_during_pause = threading.Thread(target=sink.send, args=(EVENTS, 0, None, b"after"))
    sent_during_pause.start()  # sees the pause file: flushes, says it holds, waits
    assert spool.pause_writers(timeout_s=30)
    assert [value for *_, value in kafka.sent] == [b"before"]
    spool.resume_writers()
    sent_during_pause.join(timeout=30)
    assert [value for *_, value in kafka.sent] == [b"before", b"after"]


def test_a_paused_writer_seals_its_segment_in_the_epoch_it_was_written_in(tmp_path: Path) -> None:
    # So the rotation deletes it when stored and re-publishes it at once when not: left open, it would be
    # sealed stale after the rotation and re-published whole, stored or not.
    spool = Spool(tmp_path, EPOCH, FakeKafka)
    spool.set_epoch(EPOCH)
    sink = SpooledSink(FakeKafka(), SpoolWriter(tmp_path, EPOCH))
    sink.send(EVENTS, 0, None, b"before")
    (tmp_path / PAUSE_FILE).touch()  # the pause is asked for before the writer's next record
    sent_during_pause = threading.Thread(target=sink.send, args=(EVENTS, 0, None, b"after"))
    sent_during_pause.start()
    assert spool.pause_writers(timeout_s=30)
    assert spool.collect({(EVENTS, 0): 0}) == 1  # stored: gone before the topics are recreated
    spool.set_epoch(EPOCH + "#1")
    spool.resume_writers()
    sent_during_pause.join(timeout=30)
    assert spool.replay_stale().records == 0
