"""The embedded stack in one process: broker child, ClickHouse, local API, Faust worker, connectors."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import faust

from connectors.core.kafka import KafkaRecordSink
from pipeline.errors import StackBusyError
from pipeline.kafka.admin import ensure_topics, recreate_topics, replication_factor
from pipeline.kafka.broker import EmbeddedBroker, free_port
from pipeline.metrics import Metrics
from pipeline.runtime.gauges import GaugeRefresher, refreshing
from pipeline.runtime.gctune import tune_gc
from pipeline.runtime.listening import ListeningJob, listening
from pipeline.runtime.procstat import memory_mb, tune_malloc
from pipeline.runtime.rollups import RollupRefresher, deriving
from pipeline.runtime.spool import SPOOL_DIR, Spool, broker_epoch
from pipeline.runtime.statefile import StackState, clear_state, read_state, write_private, write_state
from pipeline.runtime.surge import seed_baselines, surge_context
from pipeline.settings import Settings, ensure_private_dir
from pipeline.storage.agencies import AgencyRegistry
from pipeline.storage.history import InteractionHistory
from pipeline.storage.migrations import require_current_schema
from pipeline.storage.sql.views import ensure_views
from pipeline.storage.store import Store
from pipeline.stream.app import WORKER_GROUP, build_app
from pipeline.stream.offsets import DrainState, HandledOffsets, OffsetReader
from pipeline.stream.processor import Processor
from pipeline.stream.retry import Failing
from pipeline.stream.surge_agents import SurgeContext
from pipeline.web.api import ApiServer, StackView
from schemas.agency import load_directory
from schemas.privacy import Pseudonymizer
from schemas.topics import ALERTS, COUNTS, DEAD_LETTER

__all__ = ["RunningStack", "open_stack"]

log = logging.getLogger(__name__)
# Every shutdown step is bounded: one stuck step (a worker that does not stop, a task that ignores its
# cancellation) is logged and left behind instead of holding the process until a second signal.
_WORKER_STOP_TIMEOUT_S = 30.0
_TASKS_CANCEL_TIMEOUT_S = 10.0
_API_STOP_TIMEOUT_S = 10.0
_SPOOL_COLLECT_EVERY_S = 1.0
_MIN_ROTATION_GAP_S = 30.0
_PAUSE_TIMEOUT_S = 10.0


class _QuietWorker(faust.Worker):
    # The stack owns SIGINT/SIGTERM so that shutdown drains and stops children in order.
    def install_signal_handlers(self) -> None:
        return None


@dataclass
class RunningStack:
    """Handles of a started stack, for commands that run on it (demo, import, bench)."""

    settings: Settings
    bootstrap_servers: str
    store: Store
    processor: Processor
    metrics: Metrics
    api: ApiServer
    handled: HandledOffsets
    offsets: OffsetReader
    agencies: AgencyRegistry
    failing: Failing
    spool: Spool | None = None
    broker_pid: int | None = None
    worker: _WorkerHandle | None = None
    gauges: GaugeRefresher | None = None
    """Sets the per-agency gauges of ``/metrics`` every 15 s while the stack runs."""
    rollups: RollupRefresher | None = None
    """Derives the closed days new data touched every ``SERAMBI_ROLLUP_REFRESH_SECONDS`` while the stack runs."""
    generation: int = 0
    rotating: bool = False
    rotation_requested: bool = False
    """Set (from any thread) to recreate the embedded broker's topics at the next collection, memory or not."""
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    failed: bool = False
    stuck: list[str] = field(default_factory=list)
    surge: SurgeContext | None = None
    """The surge detector's tally, watch and alert store (``None`` with ``SERAMBI_SURGE_DETECTION=false``)."""
    replicas: int = 1
    """Copies of the topics created on this Kafka (Faust's own too)."""

    @property
    def spool_epoch(self) -> str | None:
        """The embedded broker's run, for publishers in this process; ``None`` with an external Kafka."""
        return None if self.spool is None else self.spool.epoch

    def leads(self) -> bool:
        """True when this worker does the group's singleton chores (rollups, per-agency gauges).

        The one that consumes events partition 0 (or every partition, alone): the leader follows the consumer
        group's assignment, so a crashed leader's chores move with its partitions, and no election is needed.
        """
        owned = self.processor.owned
        if owned is None:  # no assignment yet: only the embedded stack's single worker leads without one
            return self.settings.embedded_broker
        return 0 in owned

    def fail(self) -> None:
        """The worker could not handle a batch: stop everything; nothing after it counts as stored.

        Its offsets are not committed (see :func:`pipeline.stream.app.commit_only_handled`): the next start
        replays the batch and rebuilds the matcher from ClickHouse.
        """
        self.failed = True
        self.stop_requested.set()

    def outcome(self) -> str:
        """One line on how the stack stopped, for the user and the log."""
        how = "after a worker failure (the failed batch stays uncommitted)" if self.failed else "on request"
        if self.stuck:
            return f"stopped: {how}; gave up waiting for: {', '.join(self.stuck)}"
        return f"stopped: {how}; every step finished"

    def drain_state_now(self) -> DrainState:
        """How many records on the topics are not yet handled by the worker (blocking: Kafka calls)."""
        # The spool first: a segment re-published in between can only make us report lag, never drained.
        unsettled = 0 if self.spool is None else self.spool.unsettled()
        state = self.offsets.drain_state(self.handled)
        if self.rotating or unsettled:
            state = DrainState(state.lag, unsettled + self.rotating, state.partitions)
        self.metrics.set_consumer_lag(state.partitions)
        return state

    async def drain_state(self) -> DrainState:
        """:meth:`drain_state_now` off the event loop."""
        return await asyncio.to_thread(self.drain_state_now)

    async def wait_drained(self, timeout_s: float, poll_s: float = 0.25, *, interruptible: bool = False) -> DrainState:
        """Wait until every record produced so far is stored, or the timeout passes.

        ``interruptible``: also give up when a stop was requested (Ctrl-C during an import). Shutdown
        itself waits regardless: Ctrl-C on ``demo``/``run`` drains before stopping.
        """
        deadline = asyncio.get_running_loop().time() + timeout_s
        state = await self.drain_state()
        while (
            not state.drained
            and not self.failed
            and asyncio.get_running_loop().time() < deadline
            and not (interruptible and self.stop_requested.is_set())
        ):
            await asyncio.sleep(poll_s)
            state = await self.drain_state()
        return state


@contextlib.asynccontextmanager
async def open_stack(
    settings: Settings,
    metrics: Metrics,
    say: Callable[[str], None],
    prepare: Callable[[RunningStack], None] | None = None,
    *,
    migrate: bool = True,
) -> AsyncIterator[RunningStack]:
    """Start broker (unless configured), topics, ClickHouse, API and worker; stop all on exit.

    ``prepare`` runs after ClickHouse is ready and before the worker consumes anything. ``migrate``: apply the
    ClickHouse migrations and views (one machine: ``serambi run``); ``False`` (``serambi worker``, one of many):
    refuse to start unless ``serambi db migrate`` brought the schema up to date, as migrations run once per cluster.
    """
    if (other := read_state(settings.state_file)) is not None:
        msg = f"a Serambi stack (pid {other.pid}) already runs on {settings.data_dir}; use it or stop it"
        raise StackBusyError(msg)
    running: RunningStack | None = None
    stop = asyncio.Event()
    tune_gc()
    tune_malloc()  # before the stack's threads start: each thread allocating earlier keeps a heap of its own
    try:
        with contextlib.ExitStack() as resources, contextlib.ExitStack() as signals:
            # From the first step: a SIGTERM during start-up stops the stack cleanly once it is up. Removed
            # once the caller is done, so that a second signal during the stop ends the process.
            signals.enter_context(_signals(stop))
            _own_data_dir(settings, resources)
            bootstrap, broker_pid = _start_broker(settings, resources, say)
            replicas = replication_factor(bootstrap, settings.kafka_replication_factor)
            created = ensure_topics(bootstrap, settings.partitions, replicas)
            say(f"topics ready ({', '.join(created) or 'already there'})")
            store = _open_store(settings, resources, say, migrate=migrate)
            running = _running(settings, bootstrap, store, metrics)
            running.replicas = replicas
            running.stop_requested = stop
            resources.callback(running.offsets.close)
            running.spool = await _replay_spool(settings, bootstrap, broker_pid, say)
            running.broker_pid = broker_pid
            await _warm_up(running, say)
            if running.surge is not None:
                say(await asyncio.to_thread(_start_detector, running.surge, store))
                _at_stop(resources, running.surge)
            resources.callback(_bounded_call, running.api.stop, _API_STOP_TIMEOUT_S, "local API stop", running.stuck)
            _publish_state(settings, running, broker_pid, resources)
            if prepare is not None:
                prepare(running)
            # Each background job queries in a session of its own: a report, a derivation or a week of texts must
            # never hold the sessions of the worker's inserts and hot-path reads (freshness).
            # (The store closes them last: a job's thread may still be in a query when its task is cancelled.)
            reports, derivations, texts = (store.open_session(writable=w) for w in (False, True, False))
            gauges = GaugeRefresher(
                reports, store.database, metrics, settings.sla_hours, lag=running.drain_state_now, leader=running.leads
            )
            running.gauges = gauges
            rollups = RollupRefresher(
                derivations, settings.sla_hours, timedelta(seconds=settings.rollup_quiet_seconds), leader=running.leads
            )
            running.rollups = rollups
            topics = ListeningJob(
                store, timedelta(seconds=settings.listening_interval_seconds), leader=running.leads, reader=texts
            )
            async with (
                _collecting(running, say),
                _worker(running),
                refreshing(gauges, settings.metrics_refresh_seconds),
                deriving(rollups, settings.rollup_refresh_seconds),
                listening(topics),
            ):
                say(f"worker joined; API on {running.api.url}")
                try:
                    yield running
                finally:
                    signals.close()
    finally:
        if running is not None:  # after every step, the API and broker included
            say(running.outcome())


def _open_store(
    settings: Settings, resources: contextlib.ExitStack, say: Callable[[str], None], *, migrate: bool
) -> Store:
    store = Store(settings)
    resources.callback(store.close)
    if migrate:
        applied = store.migrate()
        ensure_views(store, default_sla_hours=settings.sla_hours)
        done = f"migrations applied: {len(applied)}"
    else:
        require_current_schema(store)
        done = "schema up to date"
    say(f"ClickHouse ready ({'chDB' if settings.uses_chdb else 'server'}; {done})")
    return store


async def _warm_up(running: RunningStack, say: Callable[[str], None]) -> None:
    if running.settings.embedded_broker:  # the only consumer: every partition is this worker's
        rebuilt = await asyncio.to_thread(running.processor.rebuild)
        say(
            f"matcher state rebuilt from {rebuilt:,} stored interactions "
            f"({len(running.processor.matcher):,} open conversations)"
        )
    else:  # one of a group: warm up exactly the partitions the group assigns, at each assignment
        say("matcher state: warmed up from ClickHouse for the partitions the consumer group assigns")


def _at_stop(resources: contextlib.ExitStack, surge: SurgeContext) -> None:
    # Run after the worker stopped (the async with in open_stack). Its terms session closes with the store.
    if surge.checkpoint is not None:
        resources.callback(surge.checkpoint)


def _start_detector(surge: SurgeContext, store: Store) -> str:
    detector = surge.watch.detector
    if detector.known_keys():  # restored from the previous run's state: its baselines are there, and more
        active = len(detector.active_severities())
        return f"surge detector state restored: {detector.known_keys()} agencies, {active} active alert(s)"
    seeded = seed_baselines(detector, store)
    return f"surge baselines: {seeded:,} agency hours of history loaded from ClickHouse"


def _own_data_dir(settings: Settings, resources: contextlib.ExitStack) -> None:
    """Make the data dir private and hold its lock until the stack is stopped.

    Without the lock, a second stack (or an import) starting while the first starts or stops, before
    or after its state file exists, would reach chDB and fail with its raw "Error initializing
    EmbeddedServer". The lock dies with the process: a crash leaves nothing to clean up.
    """
    ensure_private_dir(settings.data_dir)
    fd = os.open(settings.data_dir / "stack.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        msg = (
            f"another Serambi stack is starting or stopping on {settings.data_dir}; wait until `serambi status` "
            "answers (then commands use it) or it has stopped, and try again"
        )
        raise StackBusyError(msg) from None
    resources.callback(os.close, fd)  # closing the descriptor releases the lock


def _start_broker(
    settings: Settings, resources: contextlib.ExitStack, say: Callable[[str], None]
) -> tuple[str, int | None]:
    if not settings.embedded_broker:
        return settings.kafka_bootstrap_servers, None
    broker = EmbeddedBroker(log_path=settings.data_dir / "logs" / "broker.log")
    resources.enter_context(broker)
    say(f"embedded broker (tansu, pid {broker.pid}) on {broker.bootstrap_servers}")
    return broker.bootstrap_servers, broker.pid


async def _replay_spool(
    settings: Settings, bootstrap: str, broker_pid: int | None, say: Callable[[str], None]
) -> Spool | None:
    """The embedded broker's spool, after re-publishing what a run that ended without draining left."""
    epoch = broker_epoch(bootstrap, broker_pid)
    if epoch is None:
        return None  # an external Kafka keeps what it acknowledged; nothing is spooled
    spool = Spool(settings.data_dir / SPOOL_DIR, f"{epoch}#0", lambda: KafkaRecordSink(bootstrap))
    spool.set_epoch(spool.epoch)
    replayed = await asyncio.to_thread(spool.replay_stale)
    if replayed.records:
        say(
            f"the previous run ended without draining: re-published {replayed.records:,} spooled record(s) of "
            f"{replayed.segments} segment(s); sinks are idempotent, so nothing already stored counts twice"
        )
    return spool


@contextlib.asynccontextmanager
async def _collecting(running: RunningStack, say: Callable[[str], None]) -> AsyncIterator[None]:
    """Delete spooled input once stored, while the stack runs and after the worker stopped."""
    spool = running.spool
    if spool is None:
        yield
        return

    async def collect() -> None:
        await asyncio.to_thread(spool.collect, running.handled.snapshot())
        running.metrics.spool_bytes.set(await asyncio.to_thread(spool.pending_bytes))

    limit_mb = running.settings.broker_memory_mb
    last_rotation = asyncio.get_running_loop().time()

    def due(rss_mb: float) -> bool:
        if running.worker is None or running.stop_requested.is_set():
            return False
        if running.rotation_requested:
            return True
        # A gap between rotations: a limit below what the broker needs when empty must not keep the worker
        # stopping and starting without storing anything.
        gap = asyncio.get_running_loop().time() - last_rotation >= _MIN_ROTATION_GAP_S
        return bool(limit_mb) and rss_mb >= limit_mb and gap

    async def loop() -> None:
        nonlocal last_rotation
        while True:
            try:
                await collect()
                rss_mb = memory_mb(running.broker_pid) or 0.0
                if due(rss_mb):
                    await _rotate(running, rss_mb, say)
                    last_rotation = asyncio.get_running_loop().time()
            except Exception:  # a full disk must not stop the worker; the spool only grows meanwhile
                log.exception("spool collection or broker rotation failed; retrying")
            await asyncio.sleep(_SPOOL_COLLECT_EVERY_S)

    task = asyncio.create_task(loop(), name="spool-collector")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await collect()
        if left := spool.pending_bytes():
            say(f"{left:,} bytes of input are not stored yet: the next start re-publishes them from the spool")


def _admin_token(settings: Settings) -> str:
    # A new token each start: one that leaked with an old data dir copy opens nothing.
    token = secrets.token_urlsafe(32)
    write_private(settings.admin_token_file, token)
    return token


def _running(settings: Settings, bootstrap: str, store: Store, metrics: Metrics) -> RunningStack:
    api_token = settings.api_token.get_secret_value()
    handled = HandledOffsets()
    registry = AgencyRegistry(store, load_directory(settings.agencies_file))
    registry.publish()
    history = InteractionHistory(store)
    lateness = timedelta(hours=settings.lateness_hours)
    processor = Processor(
        store,
        metrics,
        registry,
        history,
        lateness,
        bounds=settings.event_bounds,
        max_conversations=settings.matcher_max_conversations,
    )
    failing = Failing()
    surge = surge_context(settings, store, metrics, registry, handled, failing) if settings.surge_detection else None
    if surge is not None:
        processor.tally = surge.tally

    def health() -> dict[str, Any]:
        # Alive but holding a batch through an outage is not "ok": say what is retried, since when and why.
        retrying = failing.snapshot()
        return {
            "status": "degraded" if retrying else "ok",
            "retrying": retrying,
            "pid": os.getpid(),
            "bootstrap_servers": bootstrap,
            "pseudonym_key_fingerprint": Pseudonymizer(settings.pseudonym_key).fingerprint,
            "database": store.database,
            "rows_stored": processor.rows_total,
        }

    offsets = OffsetReader(bootstrap, settings.partitions, WORKER_GROUP)
    built: list[RunningStack] = []  # the API answers only once the stack below exists

    def drained() -> dict[str, Any]:
        return built[0].drain_state_now().as_dict()

    view = StackView(store, metrics, health, drained, registry, _admin_token(settings), api_token)
    api = ApiServer(view, settings.api_host, settings.api_port).start()
    running = RunningStack(settings, bootstrap, store, processor, metrics, api, handled, offsets, registry, failing)
    running.surge = surge
    built.append(running)
    return running


def _publish_state(
    settings: Settings, running: RunningStack, broker_pid: int | None, resources: contextlib.ExitStack
) -> None:
    state = StackState(
        os.getpid(), running.api.url, running.bootstrap_servers, datetime.now(UTC).isoformat(), broker_pid
    )
    write_state(settings.state_file, state)
    resources.callback(clear_state, settings.state_file, os.getpid())


class _WorkerHandle:
    """The stack's Faust worker: started, stopped, and started again after the topics were recreated."""

    def __init__(self, running: RunningStack) -> None:
        self._running = running
        self._worker: _QuietWorker | None = None
        self._null: Any = None
        self._before: set[asyncio.Task[Any]] = set()
        self._started: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Build a Faust app on the stack's processor and offsets, and start it."""
        running, settings = self._running, self._running.settings
        # A failed batch stops the stack cleanly, whatever the broker: no commit can pass the batch (the app
        # commits only handled offsets).
        app = build_app(
            settings,
            running.bootstrap_servers,
            settings.worker_web_port or free_port(),
            running.processor,
            running.store,
            running.handled,
            running.fail,
            running.failing,
            running.surge,
            running.replicas,
        )
        self._before = asyncio.all_tasks()
        self._null = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - Faust's spinner and banner
        worker = _QuietWorker(
            app,
            loop=asyncio.get_running_loop(),
            quiet=True,
            override_logging=False,
            loglevel=settings.log_level,
            redirect_stdouts=False,
            daemon=False,
            stdout=self._null,
            stderr=self._null,
        )
        await worker.start()
        self._worker = worker
        self._started = asyncio.all_tasks() - self._before

    @property
    def crashed(self) -> bool:
        """True when Faust crashed (e.g. a rebalance callback raised): it consumes nothing any more."""
        worker = self._worker
        return worker is not None and bool(worker.crashed or worker.app.crashed)

    async def stop(self) -> None:
        """Stop the worker (bounded) and cancel what it left running."""
        if self._worker is None:
            return
        worker, self._worker = self._worker, None
        stuck = self._running.stuck
        await _bounded(worker.stop(), _WORKER_STOP_TIMEOUT_S, "worker stop", stuck)
        # Faust's tasks that outlived its stop would otherwise meet asyncio.run's final cancellation, which
        # waits for them without a bound. Only Faust's: the caller's own tasks (a simulator) keep running.
        left = {task for task in asyncio.all_tasks() - self._before if task in self._started or _of_faust(task)}
        await _cancel_left(left, stuck)
        self._null.close()


def _of_faust(task: asyncio.Task[Any]) -> bool:
    code = getattr(task.get_coro(), "cr_code", None)
    filename = getattr(code, "co_filename", "")
    return any(part in filename for part in ("/faust/", "/mode/", "/aiokafka/"))


@contextlib.asynccontextmanager
async def _worker(running: RunningStack) -> AsyncIterator[None]:
    handle = _WorkerHandle(running)
    running.worker = handle
    await handle.start()
    try:
        yield
    finally:
        await handle.stop()


async def _rotate(running: RunningStack, rss_mb: float, say: Callable[[str], None]) -> None:
    """Free the embedded broker's memory: drop its topics once what they hold is stored or spooled.

    The worker stops; publishers pause with nothing in flight (a record reaching Tansu while it deletes a
    topic leaves an object behind that makes the new topic refuse every record); stored segments leave the
    spool; the topics are deleted and created again (Tansu frees nothing else); a new epoch starts and
    publishers go on; the matcher is kept if it holds only stored messages, else forgotten (conversations
    are then reloaded from ClickHouse as they are met, as after a restart); what the spool still holds
    (not stored yet) is re-published; the worker starts again. Dead letters, surge counts and alerts are not
    spooled (the worker makes them), so the rotation waits until they are all consumed (counts are held back
    meanwhile), and a rotation that was asked for and postponed is tried again at the next collection.
    """
    spool, worker = running.spool, running.worker
    assert spool is not None
    assert worker is not None
    requested = running.rotation_requested
    running.rotation_requested = False
    surge = running.surge
    if surge is not None:
        # The counts topic is in no spool: hold the counts back (the tally keeps them) until the detector has
        # consumed what was sent and its alerts are stored, then stop the worker with nothing of them in flight.
        surge.flushing = False
        await _surge_topics_consumed(running, _PAUSE_TIMEOUT_S)
    await worker.stop()
    state = await running.drain_state()
    # What the worker itself produces is in no spool: rotate only once it is all consumed.
    letters_stored = not any(state.lag.get(topic.name, 0) for topic in (DEAD_LETTER, COUNTS, ALERTS))
    paused = letters_stored and await asyncio.to_thread(spool.pause_writers, _PAUSE_TIMEOUT_S)
    if not paused or running.failed:
        spool.resume_writers()
        running.rotation_requested = requested  # asked for: try again at the next collection
        log.info(
            "broker rotation postponed: dead letters, counts or alerts not consumed yet, or a publisher did not pause"
        )
        if surge is not None:
            surge.flushing = True
        if not running.failed:
            await worker.start()
        return
    await asyncio.to_thread(spool.collect, running.handled.snapshot())
    running.rotating = True  # until the spool re-published what the old topics held unstored
    try:
        try:
            await asyncio.to_thread(recreate_topics, running.bootstrap_servers, running.settings.partitions)
            running.generation += 1
            spool.set_epoch(f"{spool.epoch.rpartition('#')[0]}#{running.generation}")
        finally:
            spool.resume_writers()  # publishers go on while the matcher is rebuilt
        running.handled.reset()
        running.offsets.reset()
        if not running.processor.settled:
            # The worker stopped between preparing a chunk and storing it: the matcher holds messages that
            # ClickHouse does not, and the spool re-publishes them. Start afresh; each conversation is
            # reloaded from ClickHouse when it is next met. No rebuild of the whole lateness window: it
            # costs a copy of that window in memory at every rotation, which the allocator keeps.
            running.processor.forget()
        replayed = await asyncio.to_thread(spool.replay_stale)
    finally:
        running.rotating = False
        if surge is not None:
            surge.flushing = True
        if not running.failed:  # whatever failed above (logged by the caller), the worker runs again
            await worker.start()
    after = memory_mb(running.broker_pid) or 0.0
    say(
        f"embedded broker at {rss_mb:,.0f} MB: dropped the records already stored (now {after:,.0f} MB); "
        f"re-published {replayed.records:,} spooled record(s) not stored yet"
    )


async def _surge_topics_consumed(running: RunningStack, timeout_s: float) -> None:
    """Wait (bounded) until the counts and alerts topics have no record the worker has not handled."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        state = await running.drain_state()
        if not state.lag.get(COUNTS.name, 0) and not state.lag.get(ALERTS.name, 0):
            return
        await asyncio.sleep(0.1)  # polling the broker's offsets, bounded by the deadline


async def _bounded(step: Awaitable[object], timeout_s: float, what: str, stuck: list[str]) -> bool:
    """Await ``step`` for at most ``timeout_s``; if it is not done, log, cancel it and move on.

    Not ``asyncio.wait_for``: on timeout it waits for the cancelled step to finish, without a bound, so a
    step that does not honour its cancellation would hang the shutdown all the same.
    """
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if task in done:
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("%s failed: %s: %s", what, type(exc).__name__, exc)
        return True
    log.error("%s did not finish within %.0f s; cancelled and left behind", what, timeout_s)
    stuck.append(what)
    task.cancel()
    return False


async def _cancel_left(tasks: set[asyncio.Task[Any]], stuck: list[str]) -> None:
    """Cancel the worker's tasks still running after its stop; wait a bounded time; log what stays."""
    left = {task for task in tasks if not task.done() and task is not asyncio.current_task()}
    if not left:
        return
    log.warning("cancelling %d worker task(s) left after its stop", len(left))
    for task in left:
        task.cancel()
    _, pending = await asyncio.wait(left, timeout=_TASKS_CANCEL_TIMEOUT_S)
    if pending:
        names = ", ".join(sorted(task.get_name() for task in pending))
        log.error("%d worker task(s) ignored cancellation for %.0f s: %s", len(pending), _TASKS_CANCEL_TIMEOUT_S, names)
        stuck.append(f"{len(pending)} worker task(s)")


def _bounded_call(func: Callable[[], object], timeout_s: float, what: str, stuck: list[str]) -> None:
    """Run blocking ``func`` in a daemon thread for at most ``timeout_s``; log and move on if it hangs."""
    thread = threading.Thread(target=func, name=what, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        log.error("%s did not finish within %.0f s; left behind", what, timeout_s)
        stuck.append(what)


@contextlib.contextmanager
def _signals(stop: asyncio.Event) -> Any:
    loop = asyncio.get_running_loop()
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only; an embedding caller stops us through stop_requested
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
