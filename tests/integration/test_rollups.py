"""Daily rollups keep the figures exact: the catalog's leaderboard equals the raw report at every moment.

The raw report (:func:`pipeline.storage.sql.report.build_report`, every message joined with every fact) is the
definition; the leaderboard reads closed days from ``day_rollup`` and the rest from raw data. They must agree
before the refresher ran, after it, after a late reply to an old message, a redelivery of an old day and a
change of an agency's SLA, and against the batch oracle's facts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.storage.rollup import refresh_rollups
from pipeline.storage.rows import agency_row
from pipeline.storage.sql import fragments
from pipeline.storage.sql.binding import ParamBinding, ViewFilter
from pipeline.storage.sql.catalog import run_view
from pipeline.storage.sql.oracle import store_oracle_facts
from pipeline.storage.sql.report import ALL_DATA, REPORT_FIELDS, ReportWindow, build_report
from pipeline.storage.sql.rollup_sql import covered_until_sql, delete_old_builds_sql, garbage_sql
from schemas.agency import Directory
from schemas.events import AuthorRole, Interaction
from schemas.tables import AGENCIES, AGENCY_COLUMNS
from tests.helpers.catalog_data import LoadedStack, load_simulation
from tests.helpers.events import make_event
from tests.helpers.verdicts import mark_needing_no_reply

NO_WAIT = timedelta(0)  # derive every touched day at once, today too: the stack is drained before each refresh
NO_MARGIN = timedelta(0)  # the stack is drained before each refresh: no insert is in flight


@pytest.fixture(scope="module")
def loaded(
    tmp_path_factory: pytest.TempPathFactory, chdb_dir: Path, sample_directory: Directory
) -> Iterator[LoadedStack]:
    stack = load_simulation(tmp_path_factory.mktemp("rollups"), chdb_dir, sample_directory, days=9)
    mark_needing_no_reply(stack.store)
    yield stack
    stack.stop()


def _windows(now: datetime) -> dict[str, tuple[datetime, datetime]]:
    midnight = datetime.combine((now - timedelta(days=6)).date(), datetime.min.time(), tzinfo=UTC)
    return {
        "all": (ALL_DATA, now),
        "7d": (now - timedelta(days=7), now),
        "24h": (now - timedelta(hours=24), now),
        "from a midnight": (midnight, now),
        "in the past": (now - timedelta(days=8), now - timedelta(days=3, hours=5)),
    }


def _fast(loaded: LoadedStack, since: datetime, until: datetime) -> dict[str, dict[str, Any]]:
    rows = run_view(loaded.store, loaded.database, "leaderboard", ViewFilter(since, until)).dicts()
    return {r["agency_id"]: {k: _rounded(k, r[k]) for k in REPORT_FIELDS} for r in rows}


def _raw(loaded: LoadedStack, since: datetime, until: datetime, facts: str | None = None) -> dict[str, Any]:
    rows = build_report(loaded.store, loaded.database, ReportWindow(since, until), facts)
    return {r["agency_id"]: r for r in rows}


def _rounded(field: str, value: Any) -> Any:
    # build_report rounds its floats (ratios to 6 places, seconds to 3); the view gives them whole.
    if isinstance(value, float):
        return round(value, 6 if field.endswith(("_rate", "_compliance", "_share", "_ratio")) else 3)
    return value


def _covered(loaded: LoadedStack, until: datetime) -> datetime:
    sql = f"SELECT {covered_until_sql(loaded.database, ParamBinding())}"
    [(covered,)] = loaded.store.query(sql, {"until": until, "default_sla_hours": 24.0}).rows
    return datetime.fromisoformat(str(covered)).replace(tzinfo=UTC)


def _assert_all_windows_agree(loaded: LoadedStack, now: datetime) -> None:
    for name, (since, until) in _windows(now).items():
        assert _fast(loaded, since, until) == _raw(loaded, since, until), name


def test_figures_agree_before_and_after_the_rollups_are_derived(loaded: LoadedStack) -> None:
    now = datetime.now(UTC)
    _assert_all_windows_agree(loaded, now)  # nothing derived yet: every day from raw data
    stats = refresh_rollups(loaded.store, quiet=NO_WAIT, margin=NO_MARGIN)
    assert len(stats.days) >= 8
    # The rollups now cover every whole hour before now: the recent days and today by their hours.
    assert _covered(loaded, now) == now.replace(minute=0, second=0, microsecond=0)
    _assert_all_windows_agree(loaded, now)
    assert refresh_rollups(loaded.store, quiet=NO_WAIT, margin=NO_MARGIN).days == ()  # nothing new: nothing to derive
    # The needs-reply figures are not the plain ones: some messages need no reply, and they are not all answered.
    rows = _fast(loaded, ALL_DATA, now).values()
    assert 0 < sum(r["needs_reply_messages"] for r in rows) < sum(r["citizen_messages"] for r in rows)
    assert any(r["needs_reply_rate"] not in (None, r["reply_rate"]) for r in rows)


def test_builds_of_an_older_rollup_format_are_read_raw_until_derived_again(
    loaded: LoadedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An older serambi derived every day without the needs-reply counts: its rows read 0 there.
    monkeypatch.setattr(fragments, "ROLLUP_FORMAT", fragments.ROLLUP_FORMAT - 1)
    assert len(refresh_rollups(loaded.store, quiet=NO_WAIT, margin=NO_MARGIN).days) >= 8
    for table in ("day_rollup", "hour_rollup"):
        loaded.store.command(
            f"ALTER TABLE {loaded.database}.{table} UPDATE needs_reply_messages = 0, needs_reply_answered = 0, "
            "needs_reply_unanswered = 0 WHERE 1 SETTINGS mutations_sync = 2"
        )
    monkeypatch.undo()
    now = datetime.now(UTC)
    assert _covered(loaded, now) <= loaded.since  # every old-format day is stale: read from raw data
    _assert_all_windows_agree(loaded, now)
    assert len(refresh_rollups(loaded.store, quiet=NO_WAIT, margin=NO_MARGIN).days) >= 8
    assert _covered(loaded, now) == now.replace(minute=0, second=0, microsecond=0)
    _assert_all_windows_agree(loaded, now)


def _old_unanswered(loaded: LoadedStack, age: timedelta) -> Interaction:
    # Unanswered by the stored facts: a reply to a later message of the same author answers earlier ones too.
    answered = {
        str(m) for (m,) in loaded.store.query(f"SELECT DISTINCT message_id FROM {loaded.database}.response_facts").rows
    }
    cutoff = loaded.until - age
    return next(
        e
        for e in loaded.events
        if isinstance(e, Interaction)
        and e.author_role is AuthorRole.CITIZEN
        and e.created_at < cutoff
        and e.message_id not in answered
    )


def test_a_late_reply_to_an_old_message_is_counted_at_once_and_derived_later(
    loaded: LoadedStack, sample_directory: Directory
) -> None:
    refresh_rollups(loaded.store, quiet=NO_WAIT, margin=NO_MARGIN)
    now = datetime.now(UTC)
    covered_before = _covered(loaded, now)
    message = _old_unanswered(loaded, timedelta(days=5))
    answered_before = _fast(loaded, ALL_DATA, now)[message.agency_id]["answered"]
    reply = make_event(
        "reply",
        platform=message.platform,
        agency_id=message.agency_id,
        account_id=message.account_id,
        event_id=f"{message.platform}:late-{message.message_id}",
        message_id=f"late-{message.message_id}",
        root_id=message.root_id,
        parent_id=message.message_id,
        parent_author_id=message.author_id,
        author_id=message.account_id,
        created_at=now - timedelta(minutes=30),
    )
    loaded.live.publish(sample_directory, [reply])
    loaded.live.drain()
    now = datetime.now(UTC)
    # Its day is stale: figures fall back to raw data from that day on, and stay exact.
    assert _covered(loaded, now) == datetime.combine(message.created_at.date(), datetime.min.time(), tzinfo=UTC)
    _assert_all_windows_agree(loaded, now)
    before = _fast(loaded, ALL_DATA, now)[message.agency_id]
    assert before["answered"] == answered_before + 1
    stats = refresh_rollups(loaded.store, quiet=NO_WAIT, margin=NO_MARGIN)
    assert message.created_at.date() in stats.days
    assert _covered(loaded, now) >= covered_before
    _assert_all_windows_agree(loaded, now)
    assert _fast(loaded, ALL_DATA, now)[message.agency_id] == before


def test_a_redelivered_old_day_is_not_double_counted(loaded: LoadedStack, sample_directory: Directory) -> None:
    refresh_rollups(loaded.store, quiet=NO_WAIT, margin=NO_MARGIN)
    now = datetime.now(UTC)
    before = _fast(loaded, ALL_DATA, now)
    day = (loaded.since + timedelta(days=2)).date()
    again = [e for e in loaded.events if e.created_at.date() == day]
    assert again
    loaded.live.publish(sample_directory, again)
    loaded.live.drain()
    mark_needing_no_reply(loaded.store)  # the copies get their originals' verdicts, as the worker's classifier would
    _assert_all_windows_agree(loaded, now)
    assert refresh_rollups(loaded.store, quiet=NO_WAIT, margin=NO_MARGIN).days  # the touched day is derived again
    assert _fast(loaded, ALL_DATA, now) == before
    _assert_all_windows_agree(loaded, now)


def test_a_changed_sla_makes_every_day_stale_until_derived_again(loaded: LoadedStack) -> None:
    refresh_rollups(loaded.store, quiet=NO_WAIT, margin=NO_MARGIN)
    now = datetime.now(UTC)
    agency = loaded.live.stack.agencies.known()[0]
    changed = agency.model_copy(update={"sla_hours": agency.sla_hours / 4})
    loaded.store.insert(AGENCIES, AGENCY_COLUMNS, [agency_row(changed)])  # as an edited directory would
    _assert_all_windows_agree(loaded, now)
    assert len(refresh_rollups(loaded.store, quiet=NO_WAIT, margin=NO_MARGIN).days) >= 8
    _assert_all_windows_agree(loaded, now)
    # Every day was rebuilt: the old builds' rows were a large share, so they were deleted.
    [(old, current)] = loaded.store.query(garbage_sql(loaded.database)).rows
    assert (old, current > 0) == (0, True)


def test_the_rolled_up_figures_equal_the_report_on_the_oracles_facts(loaded: LoadedStack) -> None:
    refresh_rollups(loaded.store, quiet=NO_WAIT, margin=NO_MARGIN)
    oracle = store_oracle_facts(loaded.store, loaded.live.stack.agencies)
    now = datetime.now(UTC)
    for name, (since, until) in _windows(now).items():
        assert _fast(loaded, since, until) == _raw(loaded, since, until, oracle), name


def test_deleting_old_builds_keeps_a_newer_build_another_refresher_has_not_recorded_yet(loaded: LoadedStack) -> None:
    refresh_rollups(loaded.store, quiet=NO_WAIT, margin=NO_MARGIN)
    db = loaded.database
    [(day, build)] = loaded.store.query(f"SELECT day, max(build) FROM {db}.rollup_builds GROUP BY day LIMIT 1").rows
    newer = int(build) + 1
    loaded.store.command(
        f"INSERT INTO {db}.day_rollup (build, day, agency_id, account_id, platform) VALUES "
        "({build:UInt64}, {day:Date}, 'agency', 'account', 'x')",
        {"build": newer, "day": day},
    )
    for table in ("day_rollup", "hour_rollup"):
        loaded.store.command(delete_old_builds_sql(db, table))
    rows_of = f"SELECT count() FROM {db}.day_rollup WHERE build = {{b:UInt64}}"
    [(kept,)] = loaded.store.query(rows_of, {"b": newer}).rows
    assert kept == 1
    [(current,)] = loaded.store.query(rows_of, {"b": build}).rows
    assert current > 0
