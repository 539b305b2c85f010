"""The embedded broker's write-ahead spool: what Kafka acknowledged survives a kill of the stack.

The embedded broker (Tansu, memory storage) loses every record when the stack dies. So in embedded mode
every record a connector sends is first appended to a spool file in the data dir, then sent to Kafka:

- a **segment** (``<pid>-<ns>.seg``) holds the frames one writer appended. A frame reaches the file with one
  ``write`` before the record goes to Kafka, so a kill -9 of the writer never loses a record Kafka may have
  acknowledged (a flush also fsyncs, for a crash of the machine);
- a **seal** (``<pid>-<ns>.sealed``) is written once Kafka acknowledged every record of the segment: the
  broker it went to (its *epoch*) and the highest offset per partition;
- the stack deletes a sealed segment of its own broker once the worker has handled those offsets (its rows
  are in ClickHouse), and at start re-publishes every segment left by an earlier run: that run ended without
  draining. The worker's sinks are idempotent, so records stored before the kill are not counted twice.

A writer that dies (e.g. a killed ``serambi import`` on a running stack) leaves its segment unsealed; the
stack re-publishes and seals it on its next collection.

The epoch changes when the stack recreates the topics to free the broker's memory (see
``pipeline.runtime.stack``); it is in the file ``EPOCH``, which writers read when they open and seal a
segment. A segment that spans a change is sealed *stale* and re-published whole: records it sent before
the change may have been dropped with the old topics before they were stored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from connectors.core.publisher import RecordSink

__all__ = [
    "EPOCH_FILE",
    "PAUSE_FILE",
    "SPOOL_DIR",
    "STALE",
    "AckingSink",
    "Replayed",
    "Spool",
    "SpoolWriter",
    "SpooledSink",
    "broker_epoch",
    "read_epoch",
    "read_frames",
]

log = logging.getLogger(__name__)

SPOOL_DIR = "spool"
EPOCH_FILE = "EPOCH"
PAUSE_FILE = "PAUSE"
_PAUSED = "paused-"
_PAUSE_POLL_S = 0.05
_PAUSE_MAX_S = 120.0  # a stack that died while its writers were paused must not hold them for ever
STALE = "stale"
_SEAL_EVERY_S = 5.0  # a flush seals a segment this old: what it holds is collected or re-published soon
_HEADER = struct.Struct("<II")  # body length, crc32 of the body
_BODY = struct.Struct("<iHI")  # partition (-1: none), topic length, key length (0xFFFFFFFF: none)
_NO_KEY = 0xFFFFFFFF
_SEGMENT_BYTES = 32 * 1024 * 1024
Offsets = dict[tuple[str, int], int]
Frame = tuple[str, int | None, bytes | None, bytes]


class AckingSink(RecordSink, Protocol):
    """A record sink that tells the offsets Kafka acknowledged: :class:`connectors.core.kafka.KafkaRecordSink`."""

    def take_acked(self) -> Offsets:
        """The highest acknowledged offset per (topic, partition) since the last call."""


def broker_epoch(bootstrap_servers: str, broker_pid: int | None) -> str | None:
    """The identity of an embedded broker's run (offsets mean something only within it); ``None``: external."""
    return None if broker_pid is None else f"{bootstrap_servers}#{broker_pid}"


def _frame(topic: str, partition: int | None, key: bytes | None, value: bytes) -> bytes:
    name = topic.encode()
    body = (
        _BODY.pack(-1 if partition is None else partition, len(name), _NO_KEY if key is None else len(key))
        + name
        + (key or b"")
        + value
    )
    return _HEADER.pack(len(body), zlib.crc32(body)) + body


def read_frames(path: Path) -> Iterator[Frame]:
    """The whole frames of a segment, in order; a torn or corrupt tail (a write cut by a kill) ends it."""
    data = path.read_bytes()
    at = 0
    while at + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, at)
        body = data[at + _HEADER.size : at + _HEADER.size + length]
        if len(body) < length or zlib.crc32(body) != crc or length < _BODY.size:
            log.warning("spool %s: %d byte(s) of a torn write at its end skipped", path.name, len(data) - at)
            return
        partition, name_len, key_len = _BODY.unpack_from(body)
        at += _HEADER.size + length
        rest = body[_BODY.size :]
        topic = rest[:name_len].decode()
        rest = rest[name_len:]
        key = None if key_len == _NO_KEY else rest[:key_len]
        yield topic, None if partition < 0 else partition, key, rest[0 if key is None else key_len :]


class SpoolWriter:
    """Appends one process's records to its own segments in ``directory`` and seals them.

    Example: ``writer.append("serambi.events", 0, b"k", b"v"); writer.seal({("serambi.events", 0): 7})``.
    """

    def __init__(self, directory: Path, epoch: str, segment_bytes: int = _SEGMENT_BYTES) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._hint = epoch  # until the stack writes the EPOCH file
        self._opened_epoch = epoch
        self._opened_at = 0.0
        self._fd: int | None = None
        self._path: Path | None = None
        self.size = 0
        self.records = 0

    @property
    def age_s(self) -> float:
        """Seconds since the open segment was opened (0 when none is open)."""
        return 0.0 if self._fd is None else time.monotonic() - self._opened_at

    def pause_requested(self) -> bool:
        """Whether the stack asked writers to hold their records (it recreates the topics)."""
        return (self.directory / PAUSE_FILE).exists()

    def paused(self) -> None:
        """Tell the stack that this writer holds nothing in flight, and wait until it resumes writers.

        Call only after Kafka acknowledged everything sent: a record that reaches Tansu while it deletes a
        topic leaves an object behind that makes the recreated topic refuse every later record.
        """
        marker = self.directory / f"{_PAUSED}{self._path.stem if self._path else 'idle'}-{id(self)}"
        marker.touch(mode=0o600)
        try:
            deadline = time.monotonic() + _PAUSE_MAX_S
            while self.pause_requested() and time.monotonic() < deadline:
                time.sleep(_PAUSE_POLL_S)  # waiting for the stack to remove its pause file
        finally:
            marker.unlink(missing_ok=True)

    def current_epoch(self) -> str:
        """The stack's epoch now: its ``EPOCH`` file, else the one this writer was given."""
        return read_epoch(self.directory) or self._hint

    def append(self, topic: str, partition: int | None, key: bytes | None, value: bytes) -> None:
        """Append one record; it is in the file (the OS's) when this returns."""
        if self._fd is None:
            self._open()
        frame = _frame(topic, partition, key, value)
        assert self._fd is not None
        os.write(self._fd, frame)
        self.size += len(frame)
        self.records += 1

    def sync(self) -> None:
        """Flush the open segment to disk (fsync): its records survive a crash of the machine too."""
        if self._fd is not None:
            os.fsync(self._fd)

    def seal(self, acked: Offsets, *, complete: bool = True) -> None:
        """Close the open segment: Kafka acknowledged all of it, up to ``acked``.

        ``complete=False``: Kafka lost some of it; the seal says stale, so the stack re-publishes it whole.
        """
        if self._fd is None or self._path is None:
            return
        os.fsync(self._fd)
        os.close(self._fd)
        epoch = self.current_epoch()
        fresh = complete and epoch == self._opened_epoch
        write_seal(self._path, epoch if fresh else STALE, acked, self.records)
        self._fd, self._path, self.size, self.records = None, None, 0, 0

    def _open(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._opened_epoch = self.current_epoch()
        self._opened_at = time.monotonic()
        pid = os.getpid()
        self._path = self.directory / f"{pid}-{_started(pid)}-{time.time_ns()}.seg"
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)


def read_epoch(directory: Path) -> str | None:
    """The epoch the stack wrote in ``directory``, if any."""
    try:
        return (directory / EPOCH_FILE).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def write_seal(segment: Path, epoch: str, acked: Offsets, records: int) -> None:
    """Write a segment's seal atomically (a reader never sees half of one)."""
    seal = segment.with_suffix(".sealed")
    tmp = segment.with_suffix(".sealing")
    offsets = [[topic, partition, offset] for (topic, partition), offset in sorted(acked.items())]
    text = json.dumps({"epoch": epoch, "records": records, "offsets": offsets})
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(seal)


class SpooledSink:
    """A record sink that spools every record before Kafka sees it (embedded broker only).

    Args:
        kafka: the Kafka sink records go to after the spool.
        writer: this process's segments.
    """

    def __init__(self, kafka: AckingSink, writer: SpoolWriter) -> None:
        self._kafka = kafka
        self._writer = writer
        self._lost = False  # Kafka lost a record of the open segment: seal it stale

    def send(self, topic: str, partition: int | None, key: bytes | None, value: bytes) -> None:
        """Spool the record, then queue it to Kafka; a full segment is sealed once Kafka acknowledged it."""
        if self._writer.pause_requested():
            self._pause()
        if self._writer.size >= self._writer.segment_bytes:
            self._seal()
        self._writer.append(topic, partition, key, value)
        self._kafka.send(topic, partition, key, value)

    def flush(self) -> None:
        """Wait for Kafka's acknowledgement of every record; fsync the spool (seal a segment a few s old)."""
        if self._writer.pause_requested():
            self._pause()
        self._flush_kafka()
        if self._writer.age_s >= _SEAL_EVERY_S:
            self._seal_acked()
        else:
            self._writer.sync()

    def close(self) -> None:
        """Flush, seal the open segment and close the Kafka sink."""
        try:
            self._seal()
        finally:
            self._kafka.close()

    def _seal(self) -> None:
        try:
            self._flush_kafka()
        finally:  # sealed even when Kafka lost records (then stale): the stack re-publishes it whole
            self._seal_acked()

    def _pause(self) -> None:
        # Nothing of ours in flight while the topics are deleted, and the segment sealed in the epoch it was
        # written in: the rotation deletes it if the worker stored it all, else re-publishes it at once
        # (left open, it would be sealed stale after the rotation and re-published whole, stored or not).
        self._seal()
        self._writer.paused()

    def _flush_kafka(self) -> None:
        try:
            self._kafka.flush()
        except Exception:
            self._lost = True
            raise

    def _seal_acked(self) -> None:
        self._writer.seal(self._kafka.take_acked(), complete=not self._lost)
        self._lost = False


@dataclass(frozen=True)
class Replayed:
    """What a replay of spool segments re-published."""

    segments: int
    records: int


class Spool:
    """The stack's side of ``<data_dir>/spool``: re-publish what earlier runs left, delete what is stored.

    Args:
        directory: the spool directory.
        epoch: this stack's broker run.
        sink: makes a Kafka sink to re-publish to (created only when there is something to re-publish).
    """

    def __init__(self, directory: Path, epoch: str, sink: Callable[[], AckingSink]) -> None:
        self.directory = directory
        self.epoch = epoch
        self._make_sink = sink
        self._since_ns = 0

    def set_epoch(self, epoch: str) -> None:
        """Start a new epoch (the topics were recreated) and tell the writers through the ``EPOCH`` file."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.directory / f"{EPOCH_FILE}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(epoch)
        tmp.replace(self.directory / EPOCH_FILE)
        self.epoch = epoch
        self._since_ns = time.time_ns()

    def pause_writers(self, timeout_s: float) -> bool:
        """Ask every writer to hold its records; ``True`` once each writer with an open segment holds.

        A writer without an open segment has nothing in flight (it sealed after Kafka's acknowledgement) and
        pauses at its next record. ``False`` after ``timeout_s``: call :meth:`resume_writers` and try later.
        """
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.directory / PAUSE_FILE).touch(mode=0o600)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            open_live = {p.stem for p in self.segments() if _read_seal(p) is None and _writer_alive(p)}
            holding = {m.name[len(_PAUSED) :].rpartition("-")[0] for m in self.directory.glob(f"{_PAUSED}*")}
            if open_live <= holding:
                return True
            time.sleep(_PAUSE_POLL_S)  # waiting for the writers' markers
        return False

    def resume_writers(self) -> None:
        """Let writers send again."""
        (self.directory / PAUSE_FILE).unlink(missing_ok=True)

    def unsettled(self) -> int:
        """Segments whose records may be on no topic now: re-published soon, so nothing is drained before.

        Those sealed in an earlier epoch, those of dead writers, and open ones begun before this epoch
        (their writer seals them stale).
        """
        count = 0
        for path in self.segments():
            seal = _read_seal(path)
            count += self._stale(path, seal) or (seal is None and _written_at(path)[0] < self._since_ns)
        return count

    def _stale(self, segment: Path, seal: _Seal | None) -> bool:
        """Records possibly gone from the topics, for good: sealed in an earlier epoch, or its writer died."""
        return not _writer_alive(segment) if seal is None else seal.epoch != self.epoch

    def segments(self) -> list[Path]:
        """Every segment, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.seg"), key=_written_at)

    def pending_bytes(self) -> int:
        """Bytes of segments not yet known to be stored."""
        total = 0
        for path in self.segments():
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    def replay_stale(self) -> Replayed:
        """Re-publish what an earlier epoch left: segments sealed in it, and those of writers that died."""
        return self._replay([path for path in self.segments() if self._stale(path, _read_seal(path))])

    def collect(self, handled: Offsets) -> int:
        """Delete sealed segments of this epoch whose records are all handled; re-publish stale ones.

        Returns the number of segments deleted.
        """
        deleted = 0
        orphans = []
        for path in self.segments():
            seal = _read_seal(path)
            if self._stale(path, seal):
                orphans.append(path)
                continue
            if seal is None:
                continue  # its writer is still at it
            if all(handled.get(key, -1) >= offset for key, offset in seal.offsets.items()):
                path.unlink(missing_ok=True)
                path.with_suffix(".sealed").unlink(missing_ok=True)
                deleted += 1
        if orphans:
            replayed = self._replay(orphans)
            log.warning(
                "re-published %d record(s) of %d spool segment(s) of a dead writer or an earlier epoch",
                replayed.records,
                replayed.segments,
            )
        return deleted

    def _replay(self, paths: list[Path]) -> Replayed:
        if not paths:
            return Replayed(0, 0)
        sink = self._make_sink()
        records = 0
        try:
            for path in paths:
                count = 0
                for topic, partition, key, value in read_frames(path):
                    sink.send(topic, partition, key, value)
                    count += 1
                sink.flush()
                write_seal(path, self.epoch, sink.take_acked(), count)
                records += count
        finally:
            sink.close()
        return Replayed(len(paths), records)


def _written_at(path: Path) -> tuple[int, str]:
    stamp = path.stem.rpartition("-")[2]
    return (int(stamp) if stamp.isdigit() else 0, path.name)


@dataclass(frozen=True)
class _Seal:
    epoch: str
    offsets: Offsets


def _read_seal(segment: Path) -> _Seal | None:
    try:
        raw = json.loads(segment.with_suffix(".sealed").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return _Seal(str(raw["epoch"]), {(str(t), int(p)): int(o) for t, p, o in raw["offsets"]})


def _started(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot), so that a reused pid is told apart.

    In a container the stack is often pid 1 on every run: a pid alone would call a dead run's writer alive.
    """
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return "0"


def _writer_alive(segment: Path) -> bool:
    """Whether the process that writes ``segment`` (``<pid>-<started>-<ns>.seg``) still runs."""
    pid_text, _, rest = segment.stem.partition("-")
    started = rest.partition("-")[0]
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid != os.getpid():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # another user's live process
    return _started(pid) == started
