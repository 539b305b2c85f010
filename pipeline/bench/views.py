"""``serambi bench views``: how fast the catalog's views and the web board answer over many interactions.

Phases: load (or reuse) the data of :mod:`pipeline.bench.views_data` into chDB (or the configured ClickHouse
server), database :data:`DATABASE`, with the project's migrations; wait for the background merges of the load;
derive the rollups when this build has them (:func:`pipeline.storage.rollup.refresh_rollups`, as the stack's
refresher would, once the load is older than its margin) and wait for their merges; then run every view of
:data:`~pipeline.storage.sql.catalog.CATALOG` for each of :data:`RANGES` (windows ending at the data's "now",
its anchor) ``runs`` times after one warm-up run, timing each :func:`~pipeline.storage.sql.catalog.run_view`
call; then time the board's first render (see :func:`time_board`). The target (:data:`TARGET_P95_MS`) is for the
central office's overview views.

Data kept: a throw-away data dir unless one is given; in a given one, database :data:`DATABASE` stays, and a
later run with the same shape and migrations reuses it (the load's figures are then those of that load); one
with another shape drops it and loads again.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import import_module
from pathlib import Path
from typing import Any

from pipeline.bench.views_data import DataShape, LoadFigures, World, load_views_data
from pipeline.errors import StoreError
from pipeline.settings import Settings
from pipeline.storage.migrations import migration_files
from pipeline.storage.query import QueryEngine
from pipeline.storage.rollup import refresh_rollups
from pipeline.storage.sql.binding import ViewFilter
from pipeline.storage.sql.catalog import CATALOG, run_view
from pipeline.storage.sql.viewspec import Audience
from pipeline.storage.store import Store

__all__ = [
    "DATABASE",
    "FIRST_RENDER",
    "RANGES",
    "TARGET_INTERACTIONS",
    "TARGET_P95_MS",
    "BoardTiming",
    "QueryTiming",
    "ViewsBenchOptions",
    "ViewsBenchResult",
    "percentile",
    "run_views_bench",
    "time_board",
    "time_view",
]

Say = Callable[[str], None]

RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "90d": timedelta(days=90)}
"""The windows every view runs over, ending at the data's anchor."""
TARGET_P95_MS = 150.0
"""Every overview view's p95 at :data:`TARGET_INTERACTIONS` on the 2-core reference machine (issue 10)."""
TARGET_INTERACTIONS = 50_000_000
DATABASE = "views_bench"
"""The benchmark's database: never the stack's own, even in a given data dir."""
FIRST_RENDER = (
    ("/api/meta",),
    (
        "/api/views/leaderboard?window=7d",
        "/api/views/quadrant?window=7d",
        "/api/views/weekly_trends?window=90d",
        "/api/views/active_alerts?window=7d",
    ),
)
"""The board overview's JSON requests before its first render, stage by stage (``board.js`` ``start`` fetches the
meta, then ``overview.js`` ``load`` fetches the views in parallel); a unit test checks them against the scripts."""
_MARKER = "views_bench_load"
_SETTLE_TIMEOUT_S = 900.0


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, interpolated linearly between order statistics (numpy's default)."""
    if not values or not 0 <= q <= 1:
        msg = f"a percentile needs values and 0 <= q <= 1; got {len(values)} values, q={q}"
        raise ValueError(msg)
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class ViewsBenchOptions:
    """What to load and how often to run each view.

    shape (:class:`~pipeline.bench.views_data.DataShape`); runs (20 timed runs per view and range, after one
    warm-up); budget_seconds (60: stop repeating a view and range once its timed runs took this long, so a
    slow view cannot hold the benchmark for hours; its ``runs`` says how many counted); data_dir (None: a
    throw-away one).
    """

    shape: DataShape = field(default_factory=DataShape)
    runs: int = 20
    budget_seconds: float = 60.0
    data_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.runs < 1 or self.budget_seconds <= 0:
            msg = f"runs must be >= 1 and budget_seconds > 0, got {self.runs}, {self.budget_seconds}"
            raise ValueError(msg)


@dataclass(frozen=True)
class QueryTiming:
    """One view over one range: latency percentiles of its timed runs, and the rows of the last.

    ``error`` is the store's message when the view failed (then no figures); ``runs`` the timed runs counted.
    """

    view: str
    range: str
    audience: str
    runs: int
    p50_ms: float | None
    p95_ms: float | None
    rows: int | None
    error: str | None = None

    @property
    def targeted(self) -> bool:
        """An overview view: :data:`TARGET_P95_MS` applies."""
        return self.audience == Audience.CENTRAL.value

    @property
    def target_met(self) -> bool | None:
        """For an overview view: ran, and its p95 is within the target; else None (no target)."""
        if not self.targeted:
            return None
        return self.error is None and self.p95_ms is not None and self.p95_ms <= TARGET_P95_MS

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of this timing."""
        return {**asdict(self), "target_met": self.target_met}


@dataclass(frozen=True)
class BoardTiming:
    """The board's first render: every request of :func:`time_board`, ``runs`` times after a warm-up."""

    url: str
    stages: tuple[tuple[str, ...], ...]
    runs: int
    p50_ms: float | None
    p95_ms: float | None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of this timing."""
        return {**asdict(self), "stages": [list(stage) for stage in self.stages]}


@dataclass(frozen=True)
class ViewsBenchResult:
    """Everything measured; :meth:`as_json` is ``--json-out``, :meth:`table` the report on stdout."""

    interactions: int
    agencies: int
    runs: int
    anchor: datetime
    load: LoadFigures
    reused: bool
    rollups: str
    rollup_seconds: float | None
    sizes: tuple[dict[str, Any], ...]
    queries: tuple[QueryTiming, ...]
    board: BoardTiming | None

    @property
    def target_met(self) -> bool:
        """Every overview view ran with p95 within :data:`TARGET_P95_MS` for every range."""
        return all(q.target_met for q in self.queries if q.targeted)

    def as_dict(self) -> dict[str, Any]:
        """The figures as one JSON object (``interactions``, ``queries``, ``board``, ``load_seconds`` and more)."""
        return {
            "interactions": self.interactions,
            "agencies": self.agencies,
            "runs": self.runs,
            "windows_end": self.anchor.isoformat(),
            "load_seconds": round(self.load.seconds, 3),
            "load": {**asdict(self.load), "reused": self.reused},
            "rollups": {"status": self.rollups, "seconds": self.rollup_seconds},
            "sizes": list(self.sizes),
            "queries": [q.as_dict() for q in self.queries],
            "board": None if self.board is None else self.board.as_dict(),
            "target": {
                "p95_ms": TARGET_P95_MS,
                "at_interactions": TARGET_INTERACTIONS,
                "views": sorted({q.view for q in self.queries if q.targeted}),
                "met": self.target_met,
            },
        }

    def as_json(self) -> str:
        """:meth:`as_dict` as indented JSON."""
        return json.dumps(self.as_dict(), indent=2, default=str)

    def table(self) -> list[str]:
        """The report: data, load, one line per view and range, the board and the target's verdict."""
        lines = [
            f"views benchmark: {self.interactions:,} interactions, {self.agencies} agencies, windows ending "
            f"{self.anchor.isoformat(timespec='minutes')}, {self.runs} timed runs each (after one warm-up)",
            _load_line(self.load, self.reused),
            f"rollups: {self.rollups}" + (f" ({self.rollup_seconds:.1f} s)" if self.rollup_seconds is not None else ""),
        ]
        lines += [_size_line(size) for size in self.sizes]
        lines.append(f"{'view':<24} {'range':>5} {'p50 ms':>9} {'p95 ms':>9} {'rows':>8} {'runs':>5}  target")
        lines += [_query_line(q) for q in self.queries]
        lines.append(_board_line(self.board))
        lines.append(self._verdict())
        return lines

    def _verdict(self) -> str:
        missed = [f"{q.view} {q.range}" for q in self.queries if q.targeted and not q.target_met]
        verdict = "met" if not missed else f"missed ({', '.join(missed)})"
        scale = "" if self.interactions == TARGET_INTERACTIONS else f"; the target is set at {TARGET_INTERACTIONS:,}"
        return f"target: overview views p95 <= {TARGET_P95_MS:g} ms: {verdict}{scale}"


def _load_line(load: LoadFigures, reused: bool) -> str:
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in load.phases.items())
    how = "reused the load of an earlier run, which took" if reused else "loaded in"
    return (
        f"data: {how} {load.seconds:.1f} s ({phases}): {load.interactions:,} interactions, {load.facts:,} "
        f"response facts, {load.posts:,} posts, {load.agencies} agencies"
    )


def _size_line(size: dict[str, Any]) -> str:
    return (
        f"  {size['table']:<28} {size['rows']:>13,} rows {size['compressed_bytes'] / 2**20:>10.1f} MiB compressed "
        f"{size['parts']:>5} parts"
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _query_line(q: QueryTiming) -> str:
    mark = "" if q.target_met is None else ("met" if q.target_met else "MISSED")
    head = f"{q.view:<24} {q.range:>5} "
    if q.error is not None:
        return f"{head}failed: {q.error}  {mark}".rstrip()
    rows = "-" if q.rows is None else f"{q.rows:,}"
    return f"{head}{_ms(q.p50_ms):>9} {_ms(q.p95_ms):>9} {rows:>8} {q.runs:>5}  {mark}".rstrip()


def _board_line(board: BoardTiming | None) -> str:
    if board is None:
        return "board: not available in this build"
    if board.error is not None:
        return f"board: {board.url} failed: {board.error}"
    requests = sum(len(stage) for stage in board.stages)
    return (
        f"board: first render of {board.url} ({requests} requests in {len(board.stages)} stages): "
        f"p50 {_ms(board.p50_ms)} ms, p95 {_ms(board.p95_ms)} ms over {board.runs} runs"
    )


def time_view(
    engine: QueryEngine, database: str, name: str, wanted: ViewFilter, options: ViewsBenchOptions
) -> tuple[list[float], int]:
    """Milliseconds of each timed run of view ``name`` (after one warm-up run), and the rows of the last run.

    ``options.runs`` timed runs, fewer once they took ``options.budget_seconds`` (at least one counts).
    Raises the store's error.
    """
    result = run_view(engine, database, name, wanted)  # warm-up: caches, parsed SQL, marks in memory
    timings: list[float] = []
    while len(timings) < options.runs and sum(timings) < options.budget_seconds * 1000:
        started = time.perf_counter()
        result = run_view(engine, database, name, wanted)
        timings.append((time.perf_counter() - started) * 1000)
    return timings, len(result.rows)


def time_board(
    url: str, runs: int, budget_s: float, json_stages: Sequence[Sequence[str]] = FIRST_RENDER
) -> BoardTiming:
    """Time the board's first render at ``url`` as a browser would load it, without a browser.

    One render is: ``GET /``; then every ``/static/`` file the page names (stylesheets, scripts), in parallel;
    then each stage of ``json_stages`` (its requests in parallel). Its time is the sum of the stages' wall
    times; rendering and script execution are not included. ``runs`` renders are timed after a warm-up one
    (stopping early once they took ``budget_s``). Every answer must be 200, else the timing carries the error.
    """
    base = url.rstrip("/")
    try:
        page = _get(base + "/")
        assets = tuple(dict.fromkeys(re.findall(r'(?:href|src)="(/static/[^"]+)"', page.decode("utf-8"))))
        stages = (("/",), assets, *(tuple(stage) for stage in json_stages))
        with ThreadPoolExecutor(max_workers=max(len(stage) for stage in stages)) as pool:
            _render(pool, base, stages)  # warm-up
            timings: list[float] = []
            while len(timings) < runs and sum(timings) < budget_s * 1000:
                timings.append(_render(pool, base, stages))
    except OSError as exc:  # urllib's URLError and HTTPError are OSErrors
        return BoardTiming(url, (), 0, None, None, f"{type(exc).__name__}: {exc}")
    return BoardTiming(url, stages, len(timings), percentile(timings, 0.5), percentile(timings, 0.95))


def _render(pool: ThreadPoolExecutor, base: str, stages: Sequence[Sequence[str]]) -> float:
    total = 0.0
    for stage in stages:
        started = time.perf_counter()
        list(pool.map(lambda path: _get(base + path), stage))
        total += (time.perf_counter() - started) * 1000
    return total


def _get(url: str) -> bytes:
    # Loopback only (the board's own address); a non-200 answer raises HTTPError.
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 - an http:// URL of our own server
        body: bytes = response.read()
        return body


def run_views_bench(settings: Settings, options: ViewsBenchOptions, say: Say) -> ViewsBenchResult:
    """Load (or reuse) the data, then time every view and the board; progress lines go to ``say``."""
    with ExitStack() as cleanup:
        store = _open_store(settings, options.data_dir, cleanup)
        anchor, load, loaded_at = _prepare(store, options.shape, say)
        _settle(store, say)
        rollups, rollup_seconds = _refresh_rollups(store, anchor, say)
        _settle(store, say)
        sizes = _sizes(store)
        queries = _time_views(store, anchor, options, say)
        board = _time_board_of(store, anchor, options, say)
    return ViewsBenchResult(
        interactions=load.interactions,
        agencies=load.agencies,
        runs=options.runs,
        anchor=anchor,
        load=load,
        reused=loaded_at is None,
        rollups=rollups,
        rollup_seconds=rollup_seconds,
        sizes=sizes,
        queries=queries,
        board=board,
    )


def _open_store(settings: Settings, data_dir: Path | None, cleanup: ExitStack) -> Store:
    if data_dir is None:
        data_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="serambi-views-")))
    # A ClickHouse server stays the one configured; chDB goes to the benchmark's data dir.
    url = settings.clickhouse_url if not settings.uses_chdb else type(settings.clickhouse_url)("")
    bench = settings.model_copy(update={"data_dir": data_dir, "clickhouse_url": url, "clickhouse_database": DATABASE})
    store = Store(bench)
    cleanup.callback(store.close)
    return store


def _prepare(store: Store, shape: DataShape, say: Say) -> tuple[datetime, LoadFigures, float | None]:
    """The data's anchor, the load's figures, and when the load ended (``time.monotonic()``; None: reused)."""
    # The same shape loaded with the same migrations is the same data: reuse it (a 50 M load takes minutes).
    key = f"{shape.key()} migrations={','.join(entry.name for _, entry in migration_files())}"
    previous = _previous_load(store, key)
    if previous is not None:
        say(f"data: reusing the load of {previous[0].isoformat(timespec='minutes')} in database {store.database}")
        store.migrate()
        return previous[0], previous[1], None
    store.command(f"DROP DATABASE IF EXISTS {store.database} SYNC")
    store.migrate()
    anchor = datetime.now(UTC).replace(second=0, microsecond=0)
    say(f"data: generating {shape.interactions:,} interactions over {shape.agencies} agencies, {shape.days} days")
    load = load_views_data(store, World.build(shape, anchor), say)
    store.command(
        f"CREATE TABLE {store.database}.{_MARKER} (key String, anchor DateTime64(3, 'UTC'), figures String) "
        "ENGINE = MergeTree ORDER BY key"
    )
    loaded_at = time.monotonic()
    store.insert(_MARKER, ("key", "anchor", "figures"), [(key, anchor, json.dumps(asdict(load)))])
    return anchor, load, loaded_at


def _previous_load(store: Store, key: str) -> tuple[datetime, LoadFigures] | None:
    found = store.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {name:String}",
        {"db": store.database, "name": _MARKER},
    ).rows[0][0]
    if not found:
        return None
    rows = store.query(
        f"SELECT anchor, figures FROM {store.database}.{_MARKER} WHERE key = {{key:String}}", {"key": key}
    ).rows
    if not rows:
        return None
    anchor = rows[0][0] if rows[0][0].tzinfo else rows[0][0].replace(tzinfo=UTC)
    return anchor, LoadFigures(**json.loads(rows[0][1]))


def _optional(module: str) -> Any:
    """The module, or None when this build does not have it (an error inside an existing module is raised)."""
    try:
        return import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None


def _refresh_rollups(store: Store, anchor: datetime, say: Say) -> tuple[str, float | None]:
    # The benchmark owns its database and nothing writes while it refreshes: no margin is needed for inserts in
    # flight (the stack's refresher keeps BUILT_AT_MARGIN).
    started = time.perf_counter()
    stats = refresh_rollups(store, quiet=timedelta(0), margin=timedelta(0), progress=say)
    seconds = time.perf_counter() - started
    say(f"rollups: derived {len(stats.days)} days in {seconds:.1f} s")
    return "refreshed", seconds


def _settle(store: Store, say: Say, timeout_s: float = _SETTLE_TIMEOUT_S) -> None:
    # Background merges (and the rollups' deletes) would compete with the timed queries: wait until they end.
    deadline = time.monotonic() + timeout_s
    sql = (
        "SELECT (SELECT count() FROM system.merges WHERE database = {db:String}) "
        "+ (SELECT count() FROM system.mutations WHERE database = {db:String} AND NOT is_done)"
    )
    told = False
    while (running := int(store.query(sql, {"db": store.database}).rows[0][0])) > 0:
        if time.monotonic() > deadline:
            say(f"settling: {running} merges or mutations still running after {timeout_s:.0f} s; measuring anyway")
            return
        if not told:
            say(f"settling: waiting for {running} background merges or mutations")
            told = True
        time.sleep(0.5)  # polling system.merges, bounded by the deadline


def _sizes(store: Store) -> tuple[dict[str, Any], ...]:
    rows = store.query(
        "SELECT table, sum(rows), sum(data_compressed_bytes), sum(data_uncompressed_bytes), count() "
        "FROM system.parts WHERE database = {db:String} AND active AND table != {marker:String} "
        "GROUP BY table ORDER BY table",
        {"db": store.database, "marker": _MARKER},
    ).rows
    keys = ("table", "rows", "compressed_bytes", "uncompressed_bytes", "parts")
    return tuple({k: (v if k == "table" else int(v)) for k, v in zip(keys, row, strict=True)} for row in rows)


def _time_views(store: Store, anchor: datetime, options: ViewsBenchOptions, say: Say) -> tuple[QueryTiming, ...]:
    say(f"views: {len(CATALOG)} views x {len(RANGES)} ranges, {options.runs} timed runs each")
    timings = []
    for name, spec in CATALOG.items():
        for label, span in RANGES.items():
            wanted = ViewFilter(anchor - span, anchor)
            try:
                runs, rows = time_view(store, store.database, name, wanted, options)
            except StoreError as exc:
                timing = QueryTiming(name, label, spec.audience.value, 0, None, None, None, str(exc))
            else:
                p50, p95 = percentile(runs, 0.5), percentile(runs, 0.95)
                timing = QueryTiming(name, label, spec.audience.value, len(runs), p50, p95, rows)
            say(f"    {_query_line(timing)}")
            timings.append(timing)
    return tuple(timings)


def _time_board_of(store: Store, anchor: datetime, options: ViewsBenchOptions, say: Say) -> BoardTiming | None:
    try:
        server = _start_board(store, anchor)
    except Exception as exc:  # the views' figures, measured by now, must survive a board that cannot start
        say(f"board: cannot start: {exc}")
        return BoardTiming("", (), 0, None, None, f"cannot start: {type(exc).__name__}: {exc}")
    if server is None:
        say("board: not available in this build")
        return None
    try:
        timing = time_board(server.url, options.runs, options.budget_seconds)
    finally:
        server.stop()
    say(_board_line(timing))
    return timing


def _start_board(store: Store, anchor: datetime) -> Any:
    """The board over ``store`` on a free loopback port, started; None when this build has no board."""
    board = _optional("pipeline.web.board")
    # The server lives in its own module, or (earlier) beside the application.
    server_module = _optional("pipeline.web.board_server") or board
    if board is None or not hasattr(board, "board_app") or not hasattr(server_module, "BoardServer"):
        return None
    # The board's windows end at the data's anchor, like the views above.
    app = board.board_app(store, store.database, clock=lambda: anchor)
    return server_module.BoardServer(app, "127.0.0.1", 0).start()
