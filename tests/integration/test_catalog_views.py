"""The agency and operations views of the catalog (drilldown, live) on a stack loaded with simulator data.

Every view runs with bound parameters (``run_view``) and with the Grafana plugin's macros expanded, for all
agencies, one, two of which one has a quote in its id, a platform and a tier, and returns exactly its
columns. Figures are held to a computation in Python from the published events (the matching rule written
out again), after every raw row was stored four times and every fact twice plus a worse, older version of it,
with merges stopped: a view that counted a repeat or read a stale fact would differ.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.domain.windows import MessageStatus
from pipeline.storage.query import QueryResult
from pipeline.storage.sql import drilldown, live
from pipeline.storage.sql.alerts import store_alerts
from pipeline.storage.sql.binding import GRAFANA_VARIABLES, MacroBinding, ViewFilter
from pipeline.storage.sql.catalog import run_view, view
from pipeline.storage.sql.links import permalink_sql
from schemas.agency import Directory, load_directory
from schemas.alerts import AlertEvent
from schemas.events import AuthorRole, Change, ChangeOp, Event, Interaction, InteractionKind, Platform, Post
from schemas.tables import COLUMNS, FACT_COLUMNS, INTERACTIONS, POSTS, RESPONSE_FACTS
from tests.helpers.catalog_data import LoadedStack, load_simulation

VIEWS = [v.name for v in (*drilldown.VIEWS, *live.VIEWS)]
AGENCY = "metmy"  # the flood incident's agency: many unanswered messages, an active alert
QUOTED = "o'brien"  # no directory id has a quote: only the binding's quoting stands between it and the SQL
BASELINE_AGENCY = "zz-baseline"  # synthetic hourly arrivals, long before the simulation (see _baseline_rows)
Key = tuple[str, str, str, str]  # agency, account, platform, message id


@dataclass
class Loaded:
    """The loaded stack, the directory and the hour of the baseline scenario."""

    stack: LoadedStack
    directory: Directory
    baseline_hour: datetime
    truth: Truth = field(init=False)

    def __post_init__(self) -> None:
        self.truth = Truth.of(self.stack.events, self.stack.until)

    def run(self, name: str, **filters: Any) -> QueryResult:
        wanted = ViewFilter(filters.pop("since", self.stack.since), filters.pop("until", self.stack.until), **filters)
        return run_view(self.stack.store, self.stack.database, name, wanted)

    def rows(self, name: str, **filters: Any) -> list[dict[str, Any]]:
        result = self.run(name, **filters)
        if result.rows:  # an empty result has no column names (chDB)
            assert result.columns == view(name).column_names
        return result.dicts()


@dataclass
class Truth:
    """What the views must say, from the published events: citizen messages, first answers, output."""

    citizens: list[Interaction]
    answered_at: dict[Key, datetime]
    posts: list[Post]
    replies: list[Interaction]
    removed: set[Key]

    @classmethod
    def of(cls, events: Sequence[Event], until: datetime) -> Truth:
        interactions = [e for e in events if isinstance(e, Interaction)]
        citizens = [e for e in interactions if e.author_role is AuthorRole.CITIZEN]
        replies = [e for e in interactions if e.author_role is AuthorRole.AGENCY and e.parent_id is not None]
        # The matching rule: a reply to a citizen's message answers it and that citizen's earlier messages in
        # the conversation; a message's first answer is its earliest such reply.
        by_author: dict[tuple[str, str, str, str], list[Interaction]] = defaultdict(list)
        for m in citizens:
            by_author[(m.platform, m.account_id, m.root_id, m.author_id)].append(m)
        by_id = {(m.platform, m.account_id, m.root_id, m.message_id): m for m in citizens}
        # A message's first closure decides: its earliest answer, or its removal (which wins a tie).
        closure: dict[Key, tuple[datetime, int]] = {}
        for x in events:
            if isinstance(x, Change) and x.op is ChangeOp.REMOVE:
                target = by_id.get((x.platform, x.account_id, x.root_id, x.target_id))
                if target is not None:
                    k = key(target)
                    closure[k] = min(closure.get(k, (x.created_at, 0)), (x.created_at, 0))
        for r in replies:
            parent = by_id.get((r.platform, r.account_id, r.root_id, str(r.parent_id)))
            if parent is None:
                continue
            for m in by_author[(parent.platform, parent.account_id, parent.root_id, parent.author_id)]:
                if m is parent or m.created_at < parent.created_at:
                    k = key(m)
                    closure[k] = min(closure.get(k, (r.created_at, 1)), (r.created_at, 1))
        answered_at = {k: at for k, (at, by_reply) in closure.items() if at < until and by_reply}
        removed = {k for k, (at, by_reply) in closure.items() if at < until and not by_reply}
        posts = [e for e in events if isinstance(e, Post)]
        return cls(citizens, answered_at, posts, replies, removed)


def key(m: Interaction) -> Key:
    return (m.agency_id, m.account_id, str(m.platform), m.message_id)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, chdb_dir: Path) -> Iterator[Loaded]:
    directory = load_directory()
    stack = load_simulation(tmp_path_factory.mktemp("views"), chdb_dir, directory)
    try:
        _redeliver(stack)
        alerts = _alerts(stack.since, stack.until)
        store_alerts(stack.store, [*alerts, alerts[0]])  # a replayed transition changes nothing
        hour = (stack.since - timedelta(days=400)).replace(minute=0, second=0, microsecond=0)
        _insert_events(stack, INTERACTIONS, _baseline_rows(hour))
        yield Loaded(stack, directory, hour)
    finally:
        stack.stop()


def _redeliver(stack: LoadedStack) -> None:
    """Merges stopped, store every raw row four times, every fact twice and a worse, older version of it."""
    db, store = stack.database, stack.store
    for table in (INTERACTIONS, POSTS, RESPONSE_FACTS):
        store.command(f"SYSTEM STOP MERGES {db}.{table}")
    for table in (INTERACTIONS, POSTS):
        columns = ", ".join(COLUMNS[table])
        for _ in range(2):
            store.command(f"INSERT INTO {db}.{table} ({columns}) SELECT {columns} FROM {db}.{table}")
    stale = ", ".join(
        {
            "answered_at": "answered_at + INTERVAL 2 HOUR",
            "response_seconds": "response_seconds + 7200",
            "business_seconds": "business_seconds + 7200",
            "version": "version - 7200000",
        }.get(c, c)
        for c in FACT_COLUMNS
    )
    facts = ", ".join(FACT_COLUMNS)
    store.command(f"INSERT INTO {db}.{RESPONSE_FACTS} ({facts}) SELECT {facts} FROM {db}.{RESPONSE_FACTS}")
    store.command(f"INSERT INTO {db}.{RESPONSE_FACTS} ({facts}) SELECT {stale} FROM {db}.{RESPONSE_FACTS}")


def _insert_events(stack: LoadedStack, table: str, events: Sequence[Event]) -> None:
    rows = [tuple(e.model_dump(mode="json")[c] for c in COLUMNS[table]) for e in events]
    stack.store.insert(table, COLUMNS[table], rows)


def _baseline_rows(hour: datetime) -> list[Interaction]:
    """Citizen messages of one agency: 3 in ``hour``, and 4, 2, 0, 2 in the same hour 1-4 weeks before (one
    more a week before the next hour, one 5 weeks before), two of them stored twice."""
    at_offsets = {0: 3, 1: 4, 2: 2, 3: 0, 4: 2, 5: 1}
    messages = []
    for weeks, count in at_offsets.items():
        for n in range(count):
            messages.append(hour - timedelta(weeks=weeks) + timedelta(minutes=7 * n + 1))
    messages.append(hour - timedelta(weeks=1) + timedelta(hours=1, minutes=30))
    events = [
        Interaction(
            event_id=f"x:base{i}",
            platform=Platform.X,
            agency_id=BASELINE_AGENCY,
            account_id="900900",
            kind=InteractionKind.MENTION,
            message_id=f"base{i}",
            root_id=f"base{i}",
            author_id=f"citizen{i}",
            author_role=AuthorRole.CITIZEN,
            created_at=at,
        )
        for i, at in enumerate(messages)
    ]
    return [*events, events[0], events[4]]


def _alerts(since: datetime, until: datetime) -> list[AlertEvent]:
    """An active alert (raised, then updated), one resolved in the window, one resolved before it, one of a
    state agency, one active at the window's end but resolved after it."""

    def alert(alert_id: str, agency: str, platform: str, started: datetime, **changes: Any) -> AlertEvent:
        values: dict[str, Any] = {
            "transition": "raise",
            "alert_id": alert_id,
            "agency": agency,
            "platform": platform,
            "severity": "warning",
            "started_at": started,
            "updated_at": started,
            "backlog": 40,
            "oldest_unanswered_seconds": 600.0,
            "arrivals_per_minute": 3.0,
            "baseline_per_minute": 0.5,
            "window_minutes": 15,
            "score": 9.0,
        }
        return AlertEvent.model_validate(values | changes)

    h = timedelta(hours=1)
    return [
        alert("test-active", AGENCY, "all", until - 2 * h),
        alert("test-active", AGENCY, "all", until - 2 * h, transition="update", updated_at=until - h,
              severity="critical", backlog=90),
        alert("test-resolved", "kerjaraya", "x", since + h),
        alert("test-resolved", "kerjaraya", "x", since + h, transition="resolve", updated_at=since + 3 * h,
              resolved_at=since + 3 * h),
        alert("test-before", "jpj", "facebook", since - 5 * h, transition="resolve", updated_at=since - h,
              resolved_at=since - h),
        alert("test-state", "selangor-air", "facebook", since + 10 * h),
        alert("test-after", "kesihatan", "facebook", until - h / 2, transition="resolve",
              updated_at=until + h / 6, resolved_at=until + h / 6),
    ]  # fmt: skip


# --- every view, every filter ------------------------------------------------------------------------


FILTERS: dict[str, dict[str, Any]] = {
    "all": {},
    "one": {"agencies": (AGENCY,)},
    "quoted": {"agencies": (AGENCY, QUOTED)},
    "platform": {"platforms": ("youtube",)},
    "tier": {"tiers": ("state",)},
}


@pytest.mark.parametrize("name", VIEWS)
def test_every_view_returns_its_columns_for_every_filter(loaded: Loaded, name: str) -> None:
    results = {label: loaded.run(name, **filters) for label, filters in FILTERS.items()}
    for label, result in results.items():
        assert result.rows, f"{name} has no rows for {label}"
        assert result.columns == view(name).column_names, label
    chosen = {"one": {AGENCY}, "quoted": {AGENCY}, "tier": _tier(loaded.directory, "state")}
    for label, agencies in chosen.items():
        if "agency_id" in results[label].columns:
            assert {r["agency_id"] for r in results[label].dicts()} <= agencies, label
    # Views without an agency column: the quoted id adds nothing to the real agency's figures.
    assert results["quoted"].rows == results["one"].rows
    if "platform" in results["platform"].columns:
        assert {r["platform"] for r in results["platform"].dicts()} <= {"youtube", "all"}


def test_an_agency_that_does_not_exist_has_no_rows(loaded: Loaded) -> None:
    for name in ("agency_accounts", "unanswered", "backlog_now", "active_alerts", "alert_timeline"):
        assert not loaded.run(name, agencies=(QUOTED,)).rows, name


@pytest.mark.parametrize("name", VIEWS)
@pytest.mark.parametrize("label", FILTERS)
def test_grafana_macros_give_the_rows_of_bound_parameters(loaded: Loaded, name: str, label: str) -> None:
    filters = FILTERS[label]
    sql = expand_macros(view(name).sql(loaded.stack.database, MacroBinding()), loaded.stack, filters)
    assert not re.search(r"\$(__|\{|[a-z])", sql), "a macro or variable left"  # the links' regexes end in $'
    expanded = loaded.stack.store.query(sql, read_only=True)
    assert expanded.rows == loaded.run(name, **filters).rows


def expand_macros(sql: str, stack: LoadedStack, filters: dict[str, Sequence[str]]) -> str:
    """What grafana-clickhouse-datasource v4 sends: ``$__conditionalAll``, then variables, then time macros."""
    chosen = {variable: list(filters.get(kind, ())) for kind, variable in GRAFANA_VARIABLES.items()}
    out, rest = [], sql
    while (start := rest.find("$__conditionalAll(")) >= 0:
        out.append(rest[:start])
        depth, end = 1, start + len("$__conditionalAll(")
        while depth:
            depth += {"(": 1, ")": -1}.get(rest[end], 0)
            end += 1
        condition, variable = rest[start + len("$__conditionalAll(") : end - 1].rsplit(",", 1)
        out.append(condition if chosen[variable.strip().lstrip("$")] else "1=1")
        rest = rest[end:]
    sql = "".join([*out, rest])

    def quoted(match: re.Match[str]) -> str:  # Grafana's `singlequote` format
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in chosen[match[1]])

    sql = re.sub(r"\$\{(\w+):singlequote\}", quoted, sql)
    for macro, instant in (("$__fromTime", stack.since), ("$__toTime", stack.until)):
        sql = sql.replace(macro, f"toDateTime({int(instant.timestamp())})")
    return sql


# --- figures against the events -------------------------------------------------------------------


def test_the_raw_tables_really_hold_duplicates(loaded: Loaded) -> None:
    db = loaded.stack.database
    for table in (INTERACTIONS, POSTS, RESPONSE_FACTS):
        ((raw, final),) = loaded.stack.store.query(
            f"SELECT (SELECT count() FROM {db}.{table}), (SELECT count() FROM {db}.{table} FINAL)", read_only=True
        ).rows
        assert raw >= 2 * final > 0, table


def test_arrivals_heatmap_counts_each_message_once(loaded: Loaded) -> None:
    for filters, keep in (({}, lambda m: True), ({"agencies": (AGENCY,)}, lambda m: m.agency_id == AGENCY),
                          ({"platforms": ("youtube",)}, lambda m: m.platform == "youtube")):  # fmt: skip
        want = Counter(
            (m.created_at.isoweekday(), m.created_at.hour) for m in _in_window(loaded, loaded.truth.citizens) if keep(m)
        )
        rows = loaded.rows("arrivals_heatmap", **filters)
        assert [(r["weekday"], r["hour"]) for r in rows] == [(d, h) for d in range(1, 8) for h in range(24)]
        assert {(r["weekday"], r["hour"]): r["citizen_messages"] for r in rows} == {
            (d, h): want[(d, h)] for d in range(1, 8) for h in range(24)
        }


def test_response_views_count_the_answered_messages_of_the_window(loaded: Loaded) -> None:
    answered = _answered(loaded, AGENCY)
    seconds = [max((at - m.created_at).total_seconds(), 0.0) for m, at in answered]
    bands = [1 + sum(s > upper for _, upper in drilldown.BANDS if upper is not None) for s in seconds]
    rows = loaded.rows("response_distribution", agencies=(AGENCY,))
    assert [(r["bucket"], r["upper_seconds"]) for r in rows] == list(drilldown.BANDS)
    assert [r["answered"] for r in rows] == [bands.count(b) for b in range(1, len(drilldown.BANDS) + 1)]
    leaderboard = {r["agency_id"]: r for r in loaded.rows("leaderboard")}
    assert sum(r["answered"] for r in rows) == leaderboard[AGENCY]["answered"] == len(answered) > 0
    everyone = loaded.rows("response_distribution")
    assert sum(r["answered"] for r in everyone) == sum(r["answered"] for r in leaderboard.values())

    cells: dict[tuple[int, int], list[float]] = defaultdict(list)
    for (m, _), s in zip(answered, seconds, strict=True):
        cells[(m.created_at.isoweekday(), m.created_at.hour)].append(s)
    heat = {(r["weekday"], r["hour"]): r for r in loaded.rows("response_heatmap", agencies=(AGENCY,))}
    assert len(heat) == 7 * 24
    for cell, row in heat.items():
        assert row["answered"] == len(cells[cell])
        median = statistics.median(cells[cell]) if cells[cell] else None
        assert row["median_response_seconds"] == pytest.approx(median, abs=1e-3)


def test_unanswered_lists_the_oldest_first_with_their_status(loaded: Loaded) -> None:
    until, sla = loaded.stack.until, timedelta(hours=loaded.directory.get(AGENCY).sla_hours)
    pending = sorted(
        (m for m in _unanswered(loaded) if m.agency_id == AGENCY),
        key=lambda m: (m.created_at, m.agency_id, m.account_id, m.message_id),
    )
    assert len(pending) > 10
    for limit in (7, 100):
        rows = loaded.rows("unanswered", agencies=(AGENCY,), limit=limit)
        want = pending[:limit]
        assert [r["message_id"] for r in rows] == [m.message_id for m in want]
        assert [_utc(r["asked_at"]) for r in rows] == [m.created_at for m in want]
        assert [r["age_seconds"] for r in rows] == [(until - m.created_at).total_seconds() for m in want]
        statuses = [MessageStatus.PENDING if until - m.created_at <= sla else MessageStatus.OVERDUE for m in want]
        assert [r["status"] for r in rows] == [s.value for s in statuses]
    assert {r["status"] for r in loaded.rows("unanswered", agencies=(AGENCY,), limit=1000)} == {"pending", "overdue"}
    assert all(r["link"] is None for r in rows)  # the simulator's ids make no link


def test_backlog_now_is_the_leaderboards_backlog(loaded: Loaded) -> None:
    until = loaded.stack.until
    backlog = {r["agency_id"]: r for r in loaded.rows("backlog_now")}
    leaderboard = {r["agency_id"]: r for r in loaded.rows("leaderboard")}
    unanswered: dict[str, list[Interaction]] = defaultdict(list)
    for m in _unanswered(loaded):
        unanswered[m.agency_id].append(m)
    assert unanswered[AGENCY]
    assert list(backlog) == sorted(backlog, key=lambda a: (-backlog[a]["backlog"], a))
    for agency in loaded.directory.agencies:
        row = backlog.get(agency.id, {"backlog": 0, "overdue": 0})
        mine = unanswered[agency.id]
        assert row["backlog"] == leaderboard[agency.id]["backlog"] == len(mine), agency.id
        sla = timedelta(hours=agency.sla_hours)
        assert row["overdue"] == sum(until - m.created_at > sla for m in mine), agency.id
        # All the simulation is inside the window: the leaderboard's overdue messages are all there are.
        assert row["overdue"] == leaderboard[agency.id]["overdue"], agency.id
        if mine:
            oldest = max((until - m.created_at).total_seconds() for m in mine)
            assert row["oldest_unanswered_seconds"] == pytest.approx(oldest, abs=1e-3), agency.id
    assert backlog[BASELINE_AGENCY]["backlog"] == len(_baseline_rows(loaded.baseline_hour)) - 2  # whatever its age


def test_agency_accounts_add_up_to_the_leaderboard(loaded: Loaded) -> None:
    accounts = loaded.rows("agency_accounts")
    leaderboard = {r["agency_id"]: r for r in loaded.rows("leaderboard")}
    for column in ("citizen_messages", "answered", "backlog", "needs_reply_messages"):
        per_agency: Counter[str] = Counter()
        for row in accounts:
            per_agency[row["agency_id"]] += row[column]
        for agency in (a.id for a in loaded.directory.agencies):
            assert per_agency[agency] == leaderboard[agency][column], (agency, column)
    owners = {(str(a.platform), a.account_id): ag.id for ag in loaded.directory.agencies for a in ag.accounts}
    simulated = [r for r in accounts if r["agency_id"] != BASELINE_AGENCY]  # its backlog is from long ago
    assert all(owners[(r["platform"], r["account_id"])] == r["agency_id"] for r in simulated)


def test_strategy_mix_counts_posts_and_replies_per_day(loaded: Loaded) -> None:
    domains = {a.id: [d.lower() for d in a.official_domains] for a in loaded.directory.agencies}

    def pull(post: Post) -> bool:
        hosts = [re.sub(r"^https?://([^/:]+).*$", r"\1", link).lower() for link in post.links]
        return any(h == d or h.endswith("." + d) for h in hosts for d in domains[post.agency_id])

    want: dict[datetime, Counter[str]] = defaultdict(Counter)
    for post in _in_window(loaded, loaded.truth.posts):
        want[_day(post.created_at)]["pull_posts" if pull(post) else "push_posts"] += 1
    for reply in _in_window(loaded, loaded.truth.replies):
        want[_day(reply.created_at)]["agency_replies"] += 1
    rows = loaded.rows("strategy_mix")
    days = [_day(loaded.stack.since)]
    while days[-1] + timedelta(days=1) < loaded.stack.until:
        days.append(days[-1] + timedelta(days=1))
    assert [_utc(r["time"]) for r in rows] == days
    for row in rows:
        counts = want[_utc(row["time"])]
        assert {c: row[c] for c in ("push_posts", "pull_posts", "agency_replies")} == {
            c: counts[c] for c in ("push_posts", "pull_posts", "agency_replies")
        }
    assert sum(r["pull_posts"] for r in rows) > 0


def test_arrivals_vs_baseline_is_the_mean_of_the_same_hour_in_the_weeks_before(loaded: Loaded) -> None:
    hour = loaded.baseline_hour
    want = [
        (hour, BASELINE_AGENCY, 3, (4 + 2 + 0 + 2) / 4),
        (hour + timedelta(hours=1), BASELINE_AGENCY, 0, 1 / 4),
        (hour + timedelta(hours=2), BASELINE_AGENCY, 0, 0.0),
    ]
    # Whole hours: a window starting after the hour's 3 messages still shows them in its first hour.
    for since in (hour, hour + timedelta(minutes=30)):
        rows = loaded.rows(
            "arrivals_vs_baseline", since=since, until=hour + timedelta(hours=3), agencies=(BASELINE_AGENCY,)
        )
        assert [(_utc(r["time"]), r["agency_id"], r["arrivals"], r["baseline"]) for r in rows] == want
    simulated = loaded.rows("arrivals_vs_baseline", agencies=(AGENCY,))
    per_hour = Counter(m.created_at.replace(minute=0, second=0, microsecond=0)
                       for m in _in_window(loaded, loaded.truth.citizens) if m.agency_id == AGENCY)  # fmt: skip
    hours = [loaded.stack.since.replace(minute=0, second=0, microsecond=0)]
    while hours[-1] + timedelta(hours=1) < loaded.stack.until:
        hours.append(hours[-1] + timedelta(hours=1))
    assert [(_utc(r["time"]), r["arrivals"]) for r in simulated] == [(h, per_hour[h]) for h in hours]
    assert sum(per_hour.values()) > 0


def test_alert_views_show_the_latest_state_of_each_alert(loaded: Loaded) -> None:
    until = loaded.stack.until
    active = [r for r in loaded.rows("active_alerts") if r["alert_id"].startswith("test-")]
    assert [(r["alert_id"], r["severity"], r["backlog"]) for r in active] == [
        ("test-active", "critical", 90),
        ("test-state", "warning", 40),
        ("test-after", "warning", 40),
    ]
    timeline = {r["alert_id"]: r for r in loaded.rows("alert_timeline") if r["alert_id"].startswith("test-")}
    assert sorted(timeline) == ["test-active", "test-after", "test-resolved", "test-state"]
    assert _utc(timeline["test-active"]["end_time"]) == until
    assert _utc(timeline["test-after"]["end_time"]) == until  # resolved after the window: open at its end
    assert _utc(timeline["test-resolved"]["end_time"]) == loaded.stack.since + timedelta(hours=3)
    x_only = {r["alert_id"] for r in loaded.rows("alert_timeline", platforms=("x",))}
    assert {"test-active", "test-resolved"} <= x_only  # an agency-wide alert passes a platform filter
    assert "test-after" not in x_only


@pytest.mark.parametrize(
    ("platform", "message_id", "root_id", "link"),
    [
        ("x", "1458392012345670101", "1458392012345670101", "https://x.com/i/web/status/1458392012345670101"),
        ("x", "119237", "119237", None),  # the twcs export's re-numbered ids
        ("x", "sim5m1n1", "sim5m1n1", None),
        ("youtube", "UgyQ9w8e7r6t5y4u3i2o1pAaABAg", "dQ4wKpL9xYz",
         "https://www.youtube.com/watch?v=dQ4wKpL9xYz&lc=UgyQ9w8e7r6t5y4u3i2o1pAaABAg"),
        ("bluesky", "at://did:plc:abc123/app.bsky.feed.post/3kq2abcd", "at://did:plc:abc123/app.bsky.feed.post/3kq2",
         "https://bsky.app/profile/did:plc:abc123/post/3kq2abcd"),
        ("mastodon", "https://mastodon.example/users/aisyah/statuses/112345692300000000", "1",
         "https://mastodon.example/@aisyah/112345692300000000"),
        ("mastodon", "javascript:alert(1)//users/a/statuses/1", "1", None),
        ("facebook", "881234567890123_1122334455667788", "104857600012345_881234567890123",
         "https://www.facebook.com/104857600012345/posts/881234567890123?comment_id=1122334455667788"),
        ("facebook", "104857600012345_881234567890123", "104857600012345_881234567890123",
         "https://www.facebook.com/104857600012345/posts/881234567890123"),
        ("facebook", "999_1122334455667788", "104857600012345_881234567890123", None),  # not on that post
        ("instagram", "17841400123456701", "18012345678901234", None),
    ],
)  # fmt: skip
def test_links_only_when_the_ids_make_one(
    loaded: Loaded, platform: str, message_id: str, root_id: str, link: str | None
) -> None:
    sql = f"SELECT {permalink_sql('{p:String}', '{m:String}', '{r:String}')}"
    result = loaded.stack.store.query(sql, {"p": platform, "m": message_id, "r": root_id}, read_only=True)
    assert result.rows == [(link,)]


# --- helpers --------------------------------------------------------------------------------------


def _in_window(loaded: Loaded, events: Sequence[Any]) -> list[Any]:
    return [e for e in events if loaded.stack.since <= e.created_at < loaded.stack.until]


def _answered(loaded: Loaded, agency: str) -> list[tuple[Interaction, datetime]]:
    truth = loaded.truth
    return [
        (m, truth.answered_at[key(m)])
        for m in _in_window(loaded, truth.citizens)
        if m.agency_id == agency and key(m) in truth.answered_at
    ]


def _unanswered(loaded: Loaded) -> list[Interaction]:
    since = loaded.stack.until - timedelta(days=90)
    return [
        m
        for m in loaded.truth.citizens
        if since <= m.created_at < loaded.stack.until
        and key(m) not in loaded.truth.answered_at
        and key(m) not in loaded.truth.removed
    ]


def _tier(directory: Directory, tier: str) -> set[str]:
    return {a.id for a in directory.agencies if a.tier == tier}


def _day(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def _utc(value: datetime) -> datetime:
    """An instant from a result: chDB returns UTC wall time without a zone."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
