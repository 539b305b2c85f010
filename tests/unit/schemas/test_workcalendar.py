"""The working calendar's table of days gives exactly what counting day by day gives (issue 14, item 1)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import workcalendar
from schemas.agency import Agency, load_directory
from schemas.workcalendar import WorkingCalendar

# --- the reference: the day-by-day implementation this table replaced, verbatim ---------------------------


def reference_seconds(calendar: WorkingCalendar, start: datetime, end: datetime) -> float:
    """Working seconds as WorkingCalendar.seconds counted them before issue 14 (one step per local day)."""
    start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
    if end_utc <= start_utc:
        return 0.0
    day = start_utc.astimezone(calendar.zone).date()
    last_day = end_utc.astimezone(calendar.zone).date()
    total = timedelta(0)
    while day <= last_day:
        if day.weekday() in calendar.weekdays and day not in calendar.holidays:
            opens = datetime.combine(day, calendar.opens, tzinfo=calendar.zone).astimezone(UTC)
            closes = datetime.combine(day, calendar.closes, tzinfo=calendar.zone).astimezone(UTC)
            total += max(timedelta(0), min(end_utc, closes) - max(start_utc, opens))
        day += timedelta(days=1)
    return total.total_seconds()


# --- strategies -------------------------------------------------------------------------------------------

# Zones whose clock changes are odd: at midnight (Santiago, Havana, Beirut, Cairo, Asuncion), at 00:01 so the
# local date goes back (St John's before 2011), half an hour (Lord Howe), two hours (Troll), a skipped day
# (Apia, end of 2011), negative DST (Dublin), Ramadan pauses (Casablanca), and plain +08:00 ones.
TRICKY_ZONES = (
    "Asia/Kuala_Lumpur",
    "Australia/Perth",
    "Asia/Shanghai",
    "UTC",
    "Europe/London",
    "America/New_York",
    "America/St_Johns",
    "America/Santiago",
    "America/Havana",
    "Asia/Beirut",
    "Africa/Cairo",
    "America/Asuncion",
    "Australia/Lord_Howe",
    "Antarctica/Troll",
    "Pacific/Apia",
    "Europe/Dublin",
    "Africa/Casablanca",
    "Asia/Kathmandu",
)
zones = st.one_of(st.sampled_from(TRICKY_ZONES), st.sampled_from(sorted(available_timezones()))).map(ZoneInfo)
# Hours near midnight meet the clock changes that happen there.
edge_times = st.sampled_from([time(0), time(0, 30), time(1), time(2, 30), time(23), time(23, 59, 59, 999_999)])
times = st.one_of(edge_times, st.times())
US = timedelta(microseconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@st.composite
def calendars(draw: st.DrawFn) -> WorkingCalendar:
    opens, closes = sorted(draw(st.lists(times, min_size=2, max_size=2, unique=True)))
    holidays = draw(st.frozensets(st.dates(date(1985, 1, 1), date(2045, 12, 31)), max_size=40))
    weekdays = draw(st.frozensets(st.integers(0, 6)))
    return WorkingCalendar(draw(zones), weekdays, holidays, opens, closes)


def _at(microseconds: int) -> datetime:
    return EPOCH + microseconds * US


# Mostly 1985..2045 (event times), sometimes the edges of the table (1900, 2200) and beyond them.
instants = st.one_of(
    st.integers((datetime(1985, 1, 1, tzinfo=UTC) - EPOCH) // US, (datetime(2045, 1, 1, tzinfo=UTC) - EPOCH) // US),
    st.integers((datetime(1890, 1, 1, tzinfo=UTC) - EPOCH) // US, (datetime(2210, 1, 1, tzinfo=UTC) - EPOCH) // US),
).map(_at)
durations = st.one_of(
    st.integers(-3_600_000_000, 3_600_000_000),  # an hour either way, to the microsecond
    st.integers(-2 * 86_400, 3 * 86_400).map(lambda s: timedelta(seconds=s) // US),
    st.integers(0, 90 * 86_400).map(lambda s: timedelta(seconds=s) // US),  # up to three months
    st.integers(0, 800).map(lambda d: timedelta(days=d) // US),
).map(lambda us: us * US)


@st.composite
def spans(draw: st.DrawFn, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Two instants, each shown in UTC, +08:00, another zone or the calendar's own (either fold)."""
    start = draw(instants)
    end = start + draw(durations)
    shown: list[datetime] = []
    for moment in (start, end):
        where: tzinfo = draw(st.sampled_from([UTC, timezone(timedelta(hours=8)), ZoneInfo("Asia/Kuala_Lumpur"), zone]))
        local = moment.astimezone(where)
        if where is zone:  # wall-clock arithmetic may land in a skipped or repeated hour, either fold
            local = local.replace(fold=draw(st.integers(0, 1))) + timedelta(minutes=draw(st.integers(-90, 90)))
        shown.append(local)
    return shown[0], shown[1]


def _outcome(count: Callable[[datetime, datetime], float], start: datetime, end: datetime) -> float | str:
    try:
        return count(start, end)
    except (ValueError, OverflowError) as exc:
        return type(exc).__name__


# --- properties -------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.data(), calendars())
def test_table_equals_counting_day_by_day(data: st.DataObject, calendar: WorkingCalendar) -> None:
    # Several spans per calendar, so the table is reused and grows in both directions between them.
    for start, end in data.draw(st.lists(spans(calendar.zone), min_size=1, max_size=8)):
        expected = _outcome(functools.partial(reference_seconds, calendar), start, end)
        assert _outcome(calendar.seconds, start, end) == expected, (start, end)
        assert _outcome(calendar.seconds_by_day, start, end) == expected, (start, end)


@functools.cache
def _clock_changes(name: str) -> tuple[datetime, ...]:
    """Instants (to the hour) at which the zone's UTC offset changes, 1995..2030."""
    zone, changes = ZoneInfo(name), []
    moment = datetime(1995, 1, 1, tzinfo=UTC)
    while moment < datetime(2030, 1, 1, tzinfo=UTC):
        following = moment + timedelta(days=1)
        if moment.astimezone(zone).utcoffset() != following.astimezone(zone).utcoffset():
            hour = moment
            while hour.astimezone(zone).utcoffset() == moment.astimezone(zone).utcoffset():
                hour += timedelta(hours=1)
            changes.append(hour)
        moment = following
    return tuple(changes)


CHANGING_ZONES = ("America/St_Johns", "America/Santiago", "Asia/Beirut", "Africa/Cairo", "Australia/Lord_Howe")


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(CHANGING_ZONES),
    st.data(),
    st.frozensets(st.integers(0, 6), min_size=1),
    st.lists(edge_times, min_size=2, max_size=2, unique=True),
)
def test_equal_around_clock_changes(
    name: str, data: st.DataObject, weekdays: frozenset[int], hours: list[time]
) -> None:
    zone = ZoneInfo(name)
    opens, closes = sorted(hours)
    calendar = WorkingCalendar(zone, weekdays, frozenset(), opens, closes)
    change = data.draw(st.sampled_from(_clock_changes(name)))
    near = st.integers(-3 * 86_400_000_000, 3 * 86_400_000_000).map(lambda us: change + us * US)
    for _ in range(4):
        start, end = data.draw(near), data.draw(near)
        start = start.astimezone(data.draw(st.sampled_from([UTC, zone])))
        assert calendar.seconds(start, end) == reference_seconds(calendar, start, end), (start, end)


# --- cases ------------------------------------------------------------------------------------------------

MON_FRI = frozenset(range(5))


def test_a_day_the_zone_skipped_counts_as_before() -> None:
    # Samoa skipped Friday 30 December 2011 (from -10:00 to +14:00).
    calendar = WorkingCalendar(ZoneInfo("Pacific/Apia"), frozenset(range(7)), frozenset(), time(0), time(23))
    start = datetime(2011, 12, 28, tzinfo=UTC)
    for days in range(1, 8):
        end = start + timedelta(days=days, minutes=7)
        assert calendar.seconds(start, end) == reference_seconds(calendar, start, end)


def test_a_wall_time_the_zone_skipped_is_normalised_as_before() -> None:
    # 10:00 on the day Samoa skipped is 10:00 on the next day; its window must not be counted twice.
    zone = ZoneInfo("Pacific/Apia")
    calendar = WorkingCalendar(zone, frozenset(range(7)), frozenset(), time(8), time(17))
    start, end = datetime(2011, 12, 30, 10, tzinfo=zone), datetime(2011, 12, 31, 16, tzinfo=zone)
    assert calendar.seconds(start, end) == reference_seconds(calendar, start, end) == 6 * 3600.0


def test_days_in_between_that_go_back_in_time_are_counted_day_by_day() -> None:
    # Real zones never move a window back past the next day's (Samoa's skipped day only ties): a synthetic
    # table where day 2 opens before day 1 shows the table refuses rather than trusting its running sums.
    hour = 3_600_000_000
    table = workcalendar._DayTable.build(
        0, [0, 30 * hour, 20 * hour, 72 * hour], [hour, 31 * hour, 21 * hour, 73 * hour]
    )
    assert table.breaks == (1,)
    assert table.microseconds(0, 3, 0, 73 * hour) is None
    monotone = workcalendar._DayTable.build(
        0, [0, 24 * hour, 48 * hour, 72 * hour], [hour, 25 * hour, 49 * hour, 73 * hour]
    )
    assert monotone.microseconds(0, 3, 0, 73 * hour) == 4 * hour


def test_local_date_going_back_gives_zero_as_before() -> None:
    # St John's set clocks back at 00:01 to 23:01 of the day before (29 October 2006): a span from 00:00:30
    # Sunday to the repeated 23:30 Saturday runs forwards in time but backwards in local dates.
    zone = ZoneInfo("America/St_Johns")
    calendar = WorkingCalendar(zone, frozenset(range(7)), frozenset(), time(0), time(23, 59))
    start = datetime(2006, 10, 29, 0, 0, 30, tzinfo=zone)
    end = datetime(2006, 10, 28, 23, 30, fold=1, tzinfo=zone)
    assert start.astimezone(UTC) < end.astimezone(UTC)
    assert start.date() > end.date()
    assert calendar.seconds(start, end) == reference_seconds(calendar, start, end) == 0.0


def test_a_span_longer_than_the_table_is_counted_day_by_day() -> None:
    calendar = WorkingCalendar(ZoneInfo("Asia/Kuala_Lumpur"), MON_FRI, frozenset(), time(8), time(17))
    start = datetime(1950, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)
    end = start + timedelta(days=workcalendar._MAX_TABLE_DAYS + 10)
    assert calendar.seconds(start, end) == reference_seconds(calendar, start, end)
    assert calendar._table is None


def test_table_grows_to_the_past_and_the_future() -> None:
    calendar = WorkingCalendar(ZoneInfo("Europe/London"), MON_FRI, frozenset({date(2020, 12, 25)}), time(9), time(17))
    spans = [
        (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),
        (datetime(2020, 12, 20, tzinfo=UTC), datetime(2021, 1, 3, tzinfo=UTC)),
        (datetime(2035, 10, 1, tzinfo=UTC), datetime(2035, 11, 1, tzinfo=UTC)),
        (datetime(2019, 1, 1, tzinfo=UTC), datetime(2036, 1, 1, tzinfo=UTC)),
    ]
    for start, end in spans:
        assert calendar.seconds(start, end) == reference_seconds(calendar, start, end)
    table = calendar._table
    assert table is not None
    assert table.first <= date(2019, 1, 1).toordinal()
    assert table.first + len(table.opens) > date(2036, 1, 1).toordinal()


def _refuse(*args: Any) -> NoReturn:
    msg = "counted day by day"
    raise AssertionError(msg)


def test_covered_spans_never_count_day_by_day(monkeypatch: pytest.MonkeyPatch) -> None:
    # What makes it fast: once the table covers the days, a span costs no per-day work, however long it is.
    directory = load_directory()
    calendars = [WorkingCalendar.of(agency) for agency in directory.agencies]
    start = datetime(2026, 3, 1, tzinfo=UTC)
    expected = {}
    for calendar in calendars:
        for hours in range(0, 24 * 120, 7):
            moment = start + timedelta(hours=hours, milliseconds=hours)
            expected[calendar, moment] = reference_seconds(calendar, start, moment)
        calendar.seconds(start, start + timedelta(days=120))  # grows the table once
    monkeypatch.setattr(WorkingCalendar, "seconds_by_day", _refuse)
    monkeypatch.setattr(WorkingCalendar, "_windows", _refuse)
    for (calendar, moment), seconds in expected.items():
        assert calendar.seconds(start, moment) == seconds


def test_naive_and_out_of_range_instants_are_value_errors() -> None:
    calendar = WorkingCalendar(ZoneInfo("Asia/Kuala_Lumpur"), MON_FRI, frozenset(), time(8), time(17))
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.seconds(datetime(2026, 3, 9, 9), datetime(2026, 3, 9, 10, tzinfo=UTC))  # noqa: DTZ001
    with pytest.raises(ValueError, match="out of the"):
        calendar.seconds(datetime(2026, 1, 1, tzinfo=UTC), datetime.max.replace(tzinfo=UTC))


# --- the cache of calendars -------------------------------------------------------------------------------


def _agency(**overrides: Any) -> Agency:
    fields: dict[str, Any] = {
        "id": "a",
        "name": "A",
        "tier": "federal",
        "accounts": [{"platform": "x", "account_id": "1"}],
    }
    return Agency(**(fields | overrides))


def test_of_returns_one_calendar_per_agency_and_per_equal_calendar() -> None:
    agency = _agency(holidays=[date(2026, 3, 9)])
    calendar = WorkingCalendar.of(agency)
    assert WorkingCalendar.of(agency) is calendar
    assert WorkingCalendar.of(agency.model_copy(update={"name": "Another name"})) is calendar
    other = WorkingCalendar.of(_agency(holidays=[date(2026, 3, 10)]))
    assert other is not calendar
    assert other.holidays == frozenset({date(2026, 3, 10)})
    assert calendar == WorkingCalendar(
        ZoneInfo("Asia/Kuala_Lumpur"), MON_FRI, frozenset({date(2026, 3, 9)}), time(8), time(17)
    )


def test_of_stays_correct_past_the_cache_limit() -> None:
    agencies = [_agency(id=f"a{n}", holidays=[date(2026, 1, 1) + timedelta(days=n)]) for n in range(1500)]
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 9, tzinfo=UTC)
    for agency in agencies:
        calendar = WorkingCalendar.of(agency)
        assert calendar.holidays == frozenset(agency.holidays)
        assert calendar.seconds(start, end) == reference_seconds(calendar, start, end)
    assert len(workcalendar._BY_AGENCY) <= workcalendar._CACHE_LIMIT
    assert len(workcalendar._INTERNED) <= workcalendar._CACHE_LIMIT
