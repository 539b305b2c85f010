"""``serambi bench chaos``: SIGKILL the worker at random points of a replay; every figure must still match.

Phases (issue 7, reliability):
1. replay: a seeded simulation goes once through the project's :class:`~connectors.core.publisher.Publisher`
   (citizens pseudonymised) into memory; records are cut by size only, so the same seed gives the same bytes.
2. clean: those records, byte for byte, onto a fresh broker; one ``serambi run`` process drains them into
   its own data dir and is stopped with SIGTERM.
3. chaos: the same records onto a second fresh broker, which outlives every worker (an external Kafka to
   them); ``serambi run`` processes are SIGKILLed at planned points (:func:`plan_kills`), found by polling
   what the worker shows (its data dir lock, its API, rows stored, the group's committed offsets), never by
   sleeping; a last run drains the topics and is stopped with SIGTERM.
4. figures: per data dir, in a child process (chDB allows one engine per process): the report on the
   stream's facts and on the batch oracle's, the facts themselves, stored events and activity counts.
   :func:`compare` lists every figure where chaos, clean run, oracle or the published counts disagree.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from pydantic import SecretStr

from connectors.core.kafka import KafkaRecordSink
from connectors.core.publisher import Publisher
from connectors.core.testing import ListRecordSink, SentRecord
from connectors.simulator.source import Simulation
from pipeline.errors import PipelineError
from pipeline.kafka.admin import ensure_topics, partition_count
from pipeline.kafka.broker import EmbeddedBroker
from pipeline.runtime.client import StackClient
from pipeline.runtime.statefile import read_state
from pipeline.settings import Settings, load_settings
from pipeline.stream.app import WORKER_GROUP
from schemas.agency import Directory, load_directory
from schemas.privacy import Pseudonymizer
from schemas.tables import ACTIVITY_MINUTES, DEAD_LETTERS, RAW_TABLES, RESPONSE_FACTS, TABLE_OF_EVENT
from schemas.timeutil import assume_utc
from schemas.topics import EVENTS, TOPICS

__all__ = [
    "CHAOS_KEY",
    "STAGE_WEIGHTS",
    "ChaosError",
    "ChaosOptions",
    "ChaosResult",
    "KillPoint",
    "Replay",
    "Stage",
    "WorkerRun",
    "build_replay",
    "compare",
    "plan_kills",
    "run_chaos",
    "worker_env",
]

Say = Callable[[str], None]
Stage = Literal["lock", "api", "rows", "commit"]
T = TypeVar("T")
Offsets = dict[tuple[str, int], int]

CHAOS_KEY = "serambi-chaos-key"  # fixed: both runs and the publisher must give a citizen one pseudonym
_START = datetime(2026, 11, 2, tzinfo=UTC)  # fixed: the report's window must not move between runs
_POLL_S = 0.05
_COMMIT_POLL_S = 0.005
_STOP_TIMEOUT_S = 180.0  # `serambi run` drains (at most 120 s) before it stops
_FIGURES_TIMEOUT_S = 600.0
_LOG_TAIL_CHARS = 3000
_JOINED = b"worker joined"  # what the stack prints once Faust has joined (pipeline/runtime/stack.py)
# Kill stages and their odds: start-up (data dir locked while ClickHouse opens and migrates; API up
# before the worker joins), right after a commit moved the group's offsets, after a number of rows.
# Commit kills are few: each lets the group commit a commit interval's worth (~5k events here), so many
# of them would commit the whole replay early and leave the later kills nothing to interrupt.
STAGE_WEIGHTS: tuple[tuple[Stage, float], ...] = (("lock", 0.1), ("api", 0.15), ("commit", 0.1), ("rows", 0.65))
_POSITIONED: frozenset[Stage] = frozenset({"rows", "commit"})


class ChaosError(PipelineError):
    """The chaos run could not go on (a worker died by itself, or never got there): read the log end it carries."""


@dataclass(frozen=True)
class ChaosOptions:
    """What to run: ``kills`` SIGKILLs during a replay of at least ``events`` simulated events (``seed``).

    ``record_events`` caps the events per Kafka record and ``worker_batch_records`` the records per worker
    batch (``SERAMBI_SINK_BATCH_RECORDS``): small records and batches, as live traffic makes them, make a
    replay last many of Faust's commit intervals (2.8 s), so the kills land all along it, not only at its
    start. ``stage_weights``: odds of each kill stage (see :class:`KillPoint`); ``timeout_s`` bounds each
    wait for a worker.
    """

    kills: int = 30
    events: int = 40_000
    seed: int = 1
    record_events: int = 50
    worker_batch_records: int = 4
    stage_weights: tuple[tuple[Stage, float], ...] = STAGE_WEIGHTS
    timeout_s: float = 300.0


@dataclass(frozen=True)
class KillPoint:
    """When a run is killed, by ``stage``.

    - ``lock``: it holds its data dir's lock (opening ClickHouse, applying migrations, rebuilding);
    - ``api``: its API answers, before the worker joins the group;
    - ``rows``: once it stored rows and the replay is stored up to its event ``at``: the events before
      the offsets committed when the run started, plus the rows this run stored (it replays from there);
    - ``commit``: right after the first commit of the group's offsets once the replay is stored up to ``at``.

    ``rows`` and ``commit`` fall back to "once drained" when the run has nothing (left) to do.
    """

    stage: Stage
    at: int = 0

    def __str__(self) -> str:
        return f"{self.stage}@{self.at}" if self.stage in _POSITIONED else self.stage


def plan_kills(
    rng: random.Random, kills: int, events: int, weights: Sequence[tuple[Stage, float]] = STAGE_WEIGHTS
) -> list[KillPoint]:
    """``kills`` kill points, stages drawn by ``weights``; positions uniform in ``[1, events]``, ascending.

    Ascending positions (of ``rows`` and ``commit`` kills) sweep the replay from its start to its end. A run
    that starts past its position (an earlier commit went further) is killed at its first rows, or right
    after its first commit.
    """
    stages = rng.choices([s for s, _ in weights], [w for _, w in weights], k=kills)
    positions = iter(sorted(rng.randint(1, max(events, 1)) for s in stages if s in _POSITIONED))
    return [KillPoint(stage, next(positions) if stage in _POSITIONED else 0) for stage in stages]


@dataclass(frozen=True)
class Replay:
    """The published records of a simulated replay, and how many events each raw table must end with."""

    records: list[SentRecord]
    sizes: list[int]
    published: dict[str, int]
    since: datetime
    until: datetime

    @property
    def events(self) -> int:
        """Events published (the simulator's, every one valid)."""
        return sum(self.published.values())

    def end_offsets(self, partitions: int) -> Offsets:
        """End offsets every topic partition has once the records are produced onto a fresh broker."""
        ends = {(t.name, p): 0 for t in TOPICS for p in range(partition_count(t, partitions))}
        for record in self.records:
            ends[(record.topic, record.partition or 0)] += 1  # no partition: a one-partition topic
        return ends

    def events_before(self, offsets: Mapping[tuple[str, int], int]) -> int:
        """Events in the records before ``offsets`` (per topic partition, the next one to read)."""
        seen: Counter[tuple[str, int]] = Counter()
        total = 0
        for record, size in zip(self.records, self.sizes, strict=True):
            key = (record.topic, record.partition or 0)
            if seen[key] < offsets.get(key, 0):
                total += size
            seen[key] += 1
        return total


def build_replay(  # noqa: PLR0913 - the whole dataset, keyword-only
    directory: Directory, *, key: SecretStr, partitions: int, events: int, seed: int, record_events: int
) -> Replay:
    """At least ``events`` simulated events from :data:`_START`, hour by hour, through the Publisher."""
    simulation = Simulation(directory, seed=seed, start=_START, incident_at=_START + timedelta(hours=9))
    sink = ListRecordSink()
    # A clock that never moves: records are cut by size only, never by linger time, so they are reproducible.
    publisher = Publisher(
        sink,
        pseudonymizer=Pseudonymizer(key),
        partitions=partitions,
        source="chaos",
        directory=directory,
        max_batch=record_events,
        clock=lambda: 0.0,
    )
    published: Counter[str] = Counter()
    until = _START
    while sum(published.values()) < events:
        until += timedelta(hours=1)
        for event in simulation.advance(until):
            if publisher.publish(event):
                published[TABLE_OF_EVENT[event.type]] += 1
    publisher.flush()
    sizes = [len(orjson.loads(r.value)["events"]) if r.topic == EVENTS.name else 0 for r in sink.records]
    return Replay(sink.records, sizes, {table: published[table] for table in RAW_TABLES}, _START, until)


def worker_env(settings: Settings, data_dir: Path, bootstrap: str, options: ChaosOptions) -> dict[str, str]:
    """Environment of a ``serambi run`` of the chaos run: this process's, minus every ``SERAMBI_*`` it had.

    A user's ClickHouse server, API token or config file must not reach the throw-away workers: they use
    chDB in ``data_dir``, the given broker and the fixed :data:`CHAOS_KEY`.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith("SERAMBI_")}
    env.update(
        SERAMBI_DATA_DIR=str(data_dir),
        SERAMBI_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        SERAMBI_PSEUDONYM_KEY=CHAOS_KEY,
        SERAMBI_PARTITIONS=str(settings.partitions),
        SERAMBI_SLA_HOURS=str(settings.sla_hours),
        SERAMBI_SINK_BATCH_RECORDS=str(options.worker_batch_records),
        SERAMBI_BOARD_PORT="0",  # the board of a throw-away worker must not take (or find taken) the default port
    )
    if settings.agencies_file is not None:
        env["SERAMBI_AGENCIES_FILE"] = str(settings.agencies_file)
    return env


@dataclass(frozen=True)
class WorkerRun:
    """One ``serambi run`` of a phase: its kill point (or ``last run``), what was seen then, when, how much.

    ``seconds`` and ``back_at_work_seconds`` count from its start; the latter is when it stored its first
    row (or found nothing left to do), ``None`` when it was killed before. ``position``: how far the replay
    was stored when it was killed (events before the committed offsets it started from, plus its rows);
    ``committed``: events before the group's committed offsets once it was gone (the next run starts
    there); ``drained``: it had stored everything on the topics when it was killed (or stopped).
    """

    point: str
    stage: str
    seen: str
    seconds: float
    rows_stored: int
    position: int
    committed: int
    back_at_work_seconds: float | None
    drained: bool


@dataclass(frozen=True)
class ChaosResult:
    """The figures ``serambi bench chaos`` prints (and writes as JSON); ``equal`` is the verdict.

    ``runs``: the chaos phase's runs, the killed ones then the last. ``*_seconds`` are wall times: the
    clean run, the chaos phase (first start to last stop) and everything. ``clean_first_row_seconds``:
    start to first row stored of the clean run; ``mean/max_recovery_seconds`` the same for the runs
    after a kill that got back to work. ``redelivered_rows``: at least this many rows were stored again
    (replayed after a kill from the last commit; reads use ``FINAL``): counted from each run's rows at the
    last look before its kill. ``differences``: see :func:`compare`.
    """

    kills: int
    runs: list[WorkerRun]
    events: int
    records: int
    partitions: int
    seed: int
    wall_seconds: float
    clean_seconds: float
    chaos_seconds: float
    clean_first_row_seconds: float
    mean_recovery_seconds: float
    max_recovery_seconds: float
    redelivered_rows: int
    stored_events: int
    facts: int
    agencies: int
    equal: bool
    differences: list[str] = field(default_factory=list)

    def as_json(self) -> str:
        """Pretty JSON."""
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2).decode()


def compare(published: Mapping[str, int], clean: Mapping[str, Any], chaos: Mapping[str, Any]) -> list[str]:
    """Every figure where the chaos run, the clean run, the oracle or the published counts disagree.

    ``clean`` and ``chaos`` are figures as :func:`_measure` returns them (JSON-decoded).
    """
    differences = _diff_reports("chaos vs clean", clean["report"], chaos["report"])
    for name, figures in (("chaos", chaos), ("clean", clean)):
        differences += _diff_reports(f"{name} stream vs oracle", figures["oracle_report"], figures["report"])
        differences += _diff_facts(f"{name} stream vs oracle", figures["oracle_facts"], figures["facts"])
        for table, expected in published.items():
            final, distinct = figures["stored"][table]["final"], figures["stored"][table]["distinct"]
            if not final == distinct == expected:
                differences.append(f"{name} {table}: {final} rows, {distinct} event ids, {expected} published")
    differences += _diff_facts("chaos vs clean", clean["facts"], chaos["facts"])
    for key in ("activity", "dead_letters"):
        if clean[key] != chaos[key]:
            differences.append(f"chaos vs clean {key}: {chaos[key]} != {clean[key]}")
    return differences


def _diff_reports(label: str, expected: Sequence[Mapping[str, Any]], actual: Sequence[Mapping[str, Any]]) -> list[str]:
    want = {row["agency_id"]: row for row in expected}
    got = {row["agency_id"]: row for row in actual}
    differences = [f"{label}: agency {a} only in one report" for a in sorted(want.keys() ^ got.keys())]
    for agency in sorted(want.keys() & got.keys()):
        differences += [
            f"{label}: {agency}.{name} {got[agency][name]!r} != {value!r}"
            for name, value in want[agency].items()
            if got[agency].get(name) != value
        ]
    return differences


def _diff_facts(label: str, expected: Sequence[Sequence[Any]], actual: Sequence[Sequence[Any]]) -> list[str]:
    want, got = {tuple(f) for f in expected}, {tuple(f) for f in actual}
    if want == got:
        return []
    missing, extra = sorted(want - got), sorted(got - want)
    return [f"{label}: {len(missing)} fact(s) missing (e.g. {missing[:3]}), {len(extra)} extra (e.g. {extra[:3]})"]


def run_chaos(settings: Settings, options: ChaosOptions, say: Say, work_dir: Path | None = None) -> ChaosResult:
    """Clean run, chaos run with ``options.kills`` SIGKILLs, figures of both; return the comparison.

    ``settings`` give the partitions, SLA and agency directory; ``work_dir`` keeps data dirs and logs
    (default: a temporary directory, removed afterwards).
    """
    started = time.monotonic()
    with contextlib.ExitStack() as resources:
        root = work_dir or Path(resources.enter_context(tempfile.TemporaryDirectory(prefix="serambi-chaos-")))
        say(f"1/4 replay: {options.events:,}+ simulated events (seed {options.seed}) through the Publisher...")
        replay = build_replay(
            load_directory(settings.agencies_file),
            key=SecretStr(CHAOS_KEY),
            partitions=settings.partitions,
            events=options.events,
            seed=options.seed,
            record_events=options.record_events,
        )
        span = f"{replay.since:%F %H:%M} to {replay.until:%F %H:%M} UTC"
        say(f"    {replay.events:,} events in {len(replay.records):,} records, {span}")
        say("2/4 clean run: one `serambi run` drains the replay on a broker of its own...")
        clean = _Phase(settings, options, replay, root / "clean", say).run([])
        rng = random.Random(options.seed)  # noqa: S311 - a reproducible plan, not cryptography
        plan = plan_kills(rng, options.kills, replay.events, options.stage_weights)
        say(f"3/4 chaos run: {options.kills} SIGKILLs, then a last run drains the same records on another broker...")
        chaos = _Phase(settings, options, replay, root / "chaos", say).run(plan)
        say("4/4 figures: report on stream and oracle facts, facts, stored events, activity...")
        figures = clean.figures(), chaos.figures()
    return _result(settings, options, replay, (clean, chaos), figures, time.monotonic() - started)


def _result(  # noqa: PLR0913 - what the figures are made of
    settings: Settings,
    options: ChaosOptions,
    replay: Replay,
    phases: tuple[_Phase, _Phase],
    figures: tuple[dict[str, Any], dict[str, Any]],
    wall_s: float,
) -> ChaosResult:
    (clean, chaos), (clean_figures, chaos_figures) = phases, figures
    differences = compare(replay.published, clean_figures, chaos_figures)
    # Every run after the first follows a kill: how long each took to store again (if it got that far).
    recoveries = [run.back_at_work_seconds for run in chaos.runs[1:] if run.back_at_work_seconds is not None]
    stored = chaos_figures["stored"]
    return ChaosResult(
        kills=len(chaos.runs) - 1,
        runs=chaos.runs,
        events=replay.events,
        records=len(replay.records),
        partitions=settings.partitions,
        seed=options.seed,
        wall_seconds=round(wall_s, 1),
        clean_seconds=round(clean.seconds, 1),
        chaos_seconds=round(chaos.seconds, 1),
        clean_first_row_seconds=clean.runs[0].back_at_work_seconds or 0.0,
        mean_recovery_seconds=round(statistics.fmean(recoveries), 2) if recoveries else 0.0,
        max_recovery_seconds=round(max(recoveries, default=0.0), 2),
        redelivered_rows=max(0, sum(run.rows_stored for run in chaos.runs) - replay.events),
        stored_events=sum(stored[t]["final"] for t in RAW_TABLES),
        facts=len(chaos_figures["facts"]),
        agencies=len(chaos_figures["report"]),
        equal=not differences,
        differences=differences,
    )


class _Phase:
    """A data dir and a fresh broker holding the replay; the worker runs on them, killed or drained."""

    def __init__(self, settings: Settings, options: ChaosOptions, replay: Replay, root: Path, say: Say) -> None:
        self._settings, self._options, self._replay, self._say = settings, options, replay, say
        self.root = root
        self.data_dir = root / "data"
        self.runs: list[WorkerRun] = []
        self.seconds = 0.0
        self._env: dict[str, str] = {}
        self._ends = replay.end_offsets(settings.partitions)

    def run(self, plan: Sequence[KillPoint]) -> _Phase:
        """Load a fresh broker, kill a worker at each point of ``plan``, drain with a last one, stop it."""
        with EmbeddedBroker(log_path=self.root / "broker.log") as broker:
            _load(broker.bootstrap_servers, self._settings.partitions, self._replay)
            self._env = worker_env(self._settings, self.data_dir, broker.bootstrap_servers, self._options)
            with _Committed(broker.bootstrap_servers) as committed:
                started = time.monotonic()
                for number, point in enumerate(plan, 1):
                    self.runs.append(self._killed(number, point, committed))
                    run, events = self.runs[-1], self._replay.events
                    self._say(
                        f"    kill {number}/{len(plan)} at {point}: {run.seen} after {run.seconds:.1f} s; "
                        f"{run.committed:,}/{events:,} events committed"
                    )
                self.runs.append(self._drained(len(plan) + 1, committed))
                self.seconds = time.monotonic() - started
        return self

    def _killed(self, number: int, point: KillPoint, committed: _Committed) -> WorkerRun:
        worker = _Worker(self._env, self.data_dir, self.root / f"run-{number:02d}.log")
        try:
            watch = _KillWatch(worker, point, committed, self._replay, self._ends)
            reached = worker.until(str(point), watch, self._options.timeout_s, lambda: watch.poll_s)
        finally:
            killed = worker.kill()
        if not killed:  # it exited by itself between the last poll and the kill: a crash, not ours
            msg = f"`serambi run` exited with code {worker.process.returncode} by itself; {worker.tail()}"
            raise ChaosError(msg)
        after = self._replay.events_before(committed())
        return worker.outcome(str(point), point.stage, reached, before=watch.base, after=after, drained=watch.drained)

    def _drained(self, number: int, committed: _Committed) -> WorkerRun:
        before = self._replay.events_before(committed())
        worker = _Worker(self._env, self.data_dir, self.root / f"run-{number:02d}.log")
        try:
            # Joined first: the stack handles SIGTERM only from then on (before, it dies of the signal).
            reached = worker.until("joined and drained", worker.joined_and_drained, self._options.timeout_s)
            worker.stop()
        finally:
            worker.kill()
        self._say(f"    last run drained after {time.monotonic() - worker.started:.1f} s and stopped cleanly")
        return worker.outcome("last run", "drain", reached, before=before, after=self._replay.events, drained=True)

    def figures(self) -> dict[str, Any]:
        """The figures of this data dir, computed in a child process (one chDB engine per process)."""
        window = (self._replay.since.isoformat(), self._replay.until.isoformat())
        args = [sys.executable, "-m", "pipeline.bench.chaos", *window]
        result = subprocess.run(  # noqa: S603 - our own interpreter and module
            args, env=self._env, capture_output=True, timeout=_FIGURES_TIMEOUT_S, check=False
        )
        if result.returncode != 0:
            msg = f"computing the figures of {self.data_dir} failed: {result.stderr.decode()[-2000:]}"
            raise ChaosError(msg)
        figures: dict[str, Any] = orjson.loads(result.stdout)
        return figures


def _load(bootstrap: str, partitions: int, replay: Replay) -> None:
    """Produce the replay's records, byte for byte, to their partitions; check the broker holds exactly them."""
    ensure_topics(bootstrap, partitions)
    sink = KafkaRecordSink(bootstrap)
    try:
        for record in replay.records:
            sink.send(record.topic, record.partition, record.key, record.value)
    finally:
        sink.close()
    expected = replay.end_offsets(partitions)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None, enable_auto_commit=False)
    try:
        ends = consumer.end_offsets([TopicPartition(topic, p) for topic, p in expected])
    finally:
        consumer.close()
    if {(tp.topic, tp.partition): int(end) for tp, end in ends.items()} != expected:
        msg = f"the broker at {bootstrap} does not hold exactly the replay's records ({ends} != {expected}); retry"
        raise ChaosError(msg)


class _Committed:
    """The worker group's committed offsets on the external broker, read with one long-lived admin client."""

    def __init__(self, bootstrap: str) -> None:
        self._admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="serambi-chaos")

    def __call__(self) -> Offsets:
        groups = self._admin.list_group_offsets(WORKER_GROUP)
        return {(tp.topic, tp.partition): int(m.offset) for tp, m in groups.get(WORKER_GROUP, {}).items()}

    def __enter__(self) -> _Committed:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._admin.close()


class _Worker:
    """One ``serambi run`` process on the phase's data dir, its log in a file of its own."""

    def __init__(self, env: Mapping[str, str], data_dir: Path, log_path: Path) -> None:
        self.log_path = log_path
        self._state_file = data_dir / "stack.json"
        self._lock_file = str(data_dir / "stack.lock")
        self._client: StackClient | None = None
        self.rows = 0
        self.first_work_s: float | None = None
        self.started = time.monotonic()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pipeline.cli", "run"],
                env=dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def outcome(  # noqa: PLR0913 - one run's whole record, keyword-only
        self, point: str, stage: str, seen: str, *, before: int, after: int, drained: bool
    ) -> WorkerRun:
        """What this run did, for the result; ``before``/``after``: events committed before and after it."""
        seconds, back = round(time.monotonic() - self.started, 2), self.first_work_s
        back = None if back is None else round(back, 2)
        return WorkerRun(point, stage, seen, seconds, self.rows, before + self.rows, after, back, drained)

    def until(
        self,
        what: str,
        condition: Callable[[], T | None],
        timeout_s: float,
        poll_s: Callable[[], float] = lambda: _POLL_S,
    ) -> T:
        """Poll ``condition`` every ``poll_s()`` until it gives a value; fail if the worker exits or the time is up."""
        deadline = time.monotonic() + timeout_s
        while (value := condition()) is None:
            if (code := self.process.poll()) is not None:
                msg = f"`serambi run` exited with code {code} while the chaos run waited for {what}; {self.tail()}"
                raise ChaosError(msg)
            if time.monotonic() > deadline:
                msg = f"`serambi run` did not reach {what} within {timeout_s:.0f} s; {self.tail()}"
                raise ChaosError(msg)
            time.sleep(poll_s())  # polling the worker's observable state, not waiting for it to happen
        return value

    def holds_lock(self) -> bool:
        """True once the process has its data dir's lock open: it is starting ClickHouse (or beyond).

        Read from ``/proc`` (Linux), without touching the lock: taking it, even shared, could refuse the start.
        """
        fds = Path(f"/proc/{self.process.pid}/fd")
        with contextlib.suppress(OSError):
            return any(_link(fd) == self._lock_file for fd in fds.iterdir())
        return False

    def client(self) -> StackClient | None:
        """A client of this process's API, once its state file names it and the API answers."""
        if self._client is None:
            state = read_state(self._state_file)
            if state is not None and state.pid == self.process.pid:
                self._client = StackClient(state.api_url, timeout_s=10.0)
        return self._client

    def stored(self) -> int | None:
        """Rows this process stored so far (``None`` before its API answers); notes when work started."""
        client = self.client()
        if client is None:
            return None
        with contextlib.suppress(PipelineError):  # busy or going down: the caller polls again
            self.rows = int(client.health()["rows_stored"])
        if self.rows and self.first_work_s is None:
            self.first_work_s = time.monotonic() - self.started
        return self.rows

    def drained(self) -> bool:
        """True when everything on the topics is stored (this run's handled offsets or committed ones)."""
        client = self.client()
        if client is None:
            return False
        self.stored()
        try:
            drained = bool(client.drained()["drained"])
        except PipelineError:
            return False
        if drained and self.first_work_s is None:
            self.first_work_s = time.monotonic() - self.started  # nothing left to do: back at work all the same
        return drained

    def joined_and_drained(self) -> str | None:
        """``"drained"`` once the stack said its worker joined (its progress line) and the topics are drained."""
        return "drained" if _JOINED in self.log_path.read_bytes() and self.drained() else None

    def kill(self) -> bool:
        """SIGKILL and reap; ``False`` when it had exited already (nothing to kill)."""
        alive = self.process.poll() is None
        if alive:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        return alive

    def stop(self) -> None:
        """SIGTERM: the stack drains, stops every piece and exits 0, else this raises."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        if code != 0:
            msg = f"`serambi run` stopped by SIGTERM exited with {code}, not 0; {self.tail()}"
            raise ChaosError(msg)

    def tail(self) -> str:
        """The end of its log, for an error (a temporary work dir is gone by the time anyone reads it)."""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return f"the end of its log ({self.log_path}):\n{text[-_LOG_TAIL_CHARS:]}"


def _link(fd: Path) -> str:
    try:
        return os.readlink(fd)
    except OSError:  # closed meanwhile
        return ""


class _KillWatch:
    """Polled until the kill of one run is due; then says what was seen (see :class:`KillPoint`).

    ``ends``: the replay's end offsets, to tell when everything is committed (no commit will come).
    """

    def __init__(self, worker: _Worker, point: KillPoint, committed: _Committed, replay: Replay, ends: Offsets) -> None:
        self._worker, self._point, self._committed, self._ends = worker, point, committed, ends
        self.base = replay.events_before(committed())  # the runs before committed these: this one replays from here
        self._armed: Offsets | None = None  # the committed offsets when the watch for a commit began
        self._polls = 0
        self._last_rows = -1
        self.drained = False

    @property
    def poll_s(self) -> float:
        """How long to wait between two polls."""
        # A commit is watched every few ms (on the broker, not the worker): the kill must land while the
        # batch in flight at the commit is still being stored, or a commit of unstored records would go unseen.
        return _COMMIT_POLL_S if self._armed is not None else _POLL_S

    def __call__(self) -> str | None:
        worker, point = self._worker, self._point
        if point.stage == "lock":
            return "data dir locked" if worker.holds_lock() else None
        if point.stage == "api":
            return "API up, not joined" if worker.client() is not None else None
        if self._armed is not None:
            return self._commit_seen()
        rows = worker.stored()
        return None if rows is None else self._working(rows)

    def _commit_seen(self) -> str | None:
        if self._committed() != self._armed:
            return f"commit seen; {self._worker.rows:,} rows stored at the last look"
        self._polls += 1
        if self._polls % round(_POLL_S / _COMMIT_POLL_S) == 0:
            self._worker.stored()  # for the record (rows stored), at the pace of the other stages
        return None

    def _working(self, rows: int) -> str | None:
        point, reached = self._point, rows > 0 and self.base + rows >= self._point.at
        if point.stage == "rows" and reached:
            return f"stored up to event {self.base + rows:,} ({rows:,} rows in this run)"
        if point.stage == "commit" and reached:
            now = self._committed()
            if not _covers(now, self._ends):  # else the last commit came before we looked: drained, below
                self._armed = now
                return None
        # Only an idle worker (no new rows since the last poll) can have drained: ask only then.
        idle, self._last_rows = rows == self._last_rows, rows
        self.drained = idle and self._worker.drained()
        return f"drained first, {rows:,} rows stored" if self.drained else None


def _covers(committed: Offsets, ends: Offsets) -> bool:
    return all(committed.get(key, 0) >= end for key, end in ends.items() if end)


def _measure(settings: Settings, since: datetime, until: datetime) -> dict[str, Any]:
    """The figures of a stopped data dir: reports (stream, oracle), facts, stored events, activity."""
    from pipeline.storage.agencies import AgencyRegistry  # noqa: PLC0415 - the child process's only work
    from pipeline.storage.sql.oracle import oracle_facts, store_oracle_facts  # noqa: PLC0415
    from pipeline.storage.sql.report import ReportWindow, build_report  # noqa: PLC0415
    from pipeline.storage.store import Store  # noqa: PLC0415

    store = Store(settings)
    try:
        store.migrate()
        db = store.database
        registry = AgencyRegistry(store, load_directory(settings.agencies_file))
        window = ReportWindow(since=since, until=until, default_sla_hours=settings.sla_hours)
        oracle = store_oracle_facts(store, registry)
        facts = store.query(
            f"SELECT message_id, answered_at, reply_id, response_seconds, business_seconds "
            f"FROM {db}.{RESPONSE_FACTS} FINAL"
        ).rows
        return {
            "report": build_report(store, db, window),
            "oracle_report": build_report(store, db, window, oracle),
            "facts": sorted(_fact(*row) for row in facts),
            "oracle_facts": sorted(
                _fact(f.message_id, f.answered_at, f.reply_id, f.response_seconds, f.business_seconds)
                for f in oracle_facts(store, registry)
            ),
            "stored": {table: _stored(store, table) for table in RAW_TABLES},
            "dead_letters": store.query(f"SELECT count() FROM {db}.{DEAD_LETTERS} FINAL").rows[0][0],
            "activity": dict(
                store.query(f"SELECT metric, uniqExactMerge(events) FROM {db}.{ACTIVITY_MINUTES} GROUP BY metric").rows
            ),
        }
    finally:
        store.close()


def _fact(message_id: str, answered_at: datetime, reply_id: str, wall_s: float, business_s: float) -> list[Any]:
    return [message_id, assume_utc(answered_at).isoformat(), reply_id, round(wall_s, 3), round(business_s, 3)]


def _stored(store: Any, table: str) -> dict[str, int]:
    db = store.database
    [(final, distinct)] = store.query(f"SELECT count(), uniqExact(event_id) FROM {db}.{table} FINAL").rows
    return {"final": int(final), "distinct": int(distinct)}


def _main(argv: Sequence[str]) -> None:
    """``python -m pipeline.bench.chaos SINCE UNTIL``: the figures of ``SERAMBI_DATA_DIR`` as JSON on stdout."""
    since, until = (datetime.fromisoformat(arg) for arg in argv)
    sys.stdout.buffer.write(orjson.dumps(_measure(load_settings(), since, until)))


if __name__ == "__main__":
    _main(sys.argv[1:])
