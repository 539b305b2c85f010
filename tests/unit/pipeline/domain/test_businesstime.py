from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain.businesstime import BusinessClock, business_seconds
from schemas.agency import Agency
from schemas.workcalendar import WorkingCalendar

KL = ZoneInfo("Asia/Kuala_Lumpur")
LONDON = ZoneInfo("Europe/London")
HOUR = 3600.0


def make_agency(**overrides: Any) -> Agency:
    fields: dict[str, Any] = {
        "id": "a",
        "name": "A",
        "tier": "federal",
        "accounts": [{"platform": "x", "account_id": "1"}],
    }
    fields.update(overrides)
    return Agency(**fields)


MON_FRI_KL = make_agency()
SUN_THU_KL = make_agency(id="kedah", working_days=("sun", "mon", "tue", "wed", "thu"))
MON_FRI_LONDON = make_agency(id="uk", timezone="Europe/London", working_hours=(time(9), time(17)))
# Works 00:00-03:00 every day, so its window contains the UK clock change itself.
NIGHT_LONDON = make_agency(
    id="night",
    timezone="Europe/London",
    working_days=("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
    working_hours=(time(0), time(3)),
)
# 01:00-02:30 in New York sits inside the repeated (autumn) and skipped (spring) hour.
NIGHT_NEW_YORK = make_agency(
    id="ny",
    timezone="America/New_York",
    working_days=("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
    working_hours=(time(1), time(2, 30)),
)
WITH_HOLIDAYS = make_agency(id="hol", holidays=(date(2026, 3, 9), date(2026, 8, 31), date(2027, 1, 1)))
AGENCIES = [MON_FRI_KL, SUN_THU_KL, MON_FRI_LONDON, NIGHT_LONDON, NIGHT_NEW_YORK, WITH_HOLIDAYS]


def kl(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=KL)


def london(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=LONDON)


# --- exact scenarios -------------------------------------------------------------------------------------


def test_friday_afternoon_to_monday_morning_is_two_business_hours() -> None:
    assert business_seconds(MON_FRI_KL, kl(2026, 3, 6, 16), kl(2026, 3, 9, 9)) == 2 * HOUR


def test_same_day_inside_hours_counts_wall_clock() -> None:
    assert business_seconds(MON_FRI_KL, kl(2026, 3, 9, 9, 15), kl(2026, 3, 9, 11, 45)) == 2.5 * HOUR


def test_partial_overlap_clips_to_opening_and_closing() -> None:
    assert business_seconds(MON_FRI_KL, kl(2026, 3, 9, 6), kl(2026, 3, 9, 20)) == 9 * HOUR


def test_fully_outside_hours_is_zero() -> None:
    assert business_seconds(MON_FRI_KL, kl(2026, 3, 9, 17, 30), kl(2026, 3, 10, 7, 59)) == 0.0
    assert business_seconds(MON_FRI_KL, kl(2026, 3, 7, 9), kl(2026, 3, 8, 16)) == 0.0  # Sat -> Sun


def test_end_before_or_at_start_is_zero() -> None:
    assert business_seconds(MON_FRI_KL, kl(2026, 3, 9, 12), kl(2026, 3, 9, 10)) == 0.0
    assert business_seconds(MON_FRI_KL, kl(2026, 3, 9, 12), kl(2026, 3, 9, 12)) == 0.0


def test_holiday_is_skipped() -> None:
    # Monday 9 March is a holiday: Friday 16:00 -> Tuesday 09:00 is Friday's hour + Tuesday's hour.
    assert business_seconds(WITH_HOLIDAYS, kl(2026, 3, 6, 16), kl(2026, 3, 10, 9)) == 2 * HOUR
    assert business_seconds(WITH_HOLIDAYS, kl(2026, 3, 9, 8), kl(2026, 3, 9, 17)) == 0.0


def test_sun_thu_agency_is_off_friday_and_works_sunday() -> None:
    assert business_seconds(SUN_THU_KL, kl(2026, 3, 6, 8), kl(2026, 3, 6, 17)) == 0.0  # Friday
    assert business_seconds(SUN_THU_KL, kl(2026, 3, 8, 8), kl(2026, 3, 8, 17)) == 9 * HOUR  # Sunday
    # Thursday 16:00 -> Sunday 09:00 local.
    assert business_seconds(SUN_THU_KL, kl(2026, 3, 5, 16), kl(2026, 3, 8, 9)) == 2 * HOUR


def test_london_across_october_dst_change() -> None:
    # Clocks go back on Sunday 25 October 2026; Friday is BST (+01:00), Monday is GMT.
    start, end = london(2026, 10, 23, 16), london(2026, 10, 26, 10)
    assert start.utcoffset() == timedelta(hours=1)
    assert end.utcoffset() == timedelta(0)
    assert business_seconds(MON_FRI_LONDON, start, end) == 2 * HOUR


def test_window_containing_the_clock_change_counts_real_elapsed_time() -> None:
    # 00:00-03:00 local is 4 real hours on the autumn change day and 2 on the spring one.
    autumn = business_seconds(NIGHT_LONDON, london(2026, 10, 24, 12), london(2026, 10, 25, 12))
    spring = business_seconds(NIGHT_LONDON, london(2026, 3, 28, 12), london(2026, 3, 29, 12))
    assert autumn == 4 * HOUR
    assert spring == 2 * HOUR


def test_exact_to_the_millisecond() -> None:
    start = kl(2026, 3, 9, 8) + timedelta(milliseconds=123)
    end = kl(2026, 3, 9, 8) + timedelta(seconds=1, milliseconds=456)
    assert business_seconds(MON_FRI_KL, start, end) == 1.333
    before_open = kl(2026, 3, 9, 7, 59, 59) + timedelta(milliseconds=999)
    assert business_seconds(MON_FRI_KL, before_open, kl(2026, 3, 9, 8) + timedelta(milliseconds=1)) == 0.001


def test_long_span_is_exact() -> None:
    start = kl(2026, 3, 9)  # a Monday at midnight
    assert business_seconds(MON_FRI_KL, start, start + timedelta(weeks=520)) == 520 * 5 * 9 * HOUR


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        business_seconds(MON_FRI_KL, datetime(2026, 3, 9, 9), kl(2026, 3, 9, 10))  # noqa: DTZ001


def test_clock_looks_each_agency_up_once() -> None:
    calls: list[str] = []

    def lookup(agency_id: str) -> Agency:
        calls.append(agency_id)
        return {"a": MON_FRI_KL, "kedah": SUN_THU_KL}[agency_id]

    clock = BusinessClock(lookup)
    assert clock.seconds("a", kl(2026, 3, 6, 16), kl(2026, 3, 9, 9)) == 2 * HOUR
    assert clock.seconds("a", kl(2026, 3, 9, 9), kl(2026, 3, 9, 10)) == HOUR
    assert clock.seconds("kedah", kl(2026, 3, 6, 8), kl(2026, 3, 6, 17)) == 0.0
    assert calls == ["a", "kedah"]
    with pytest.raises(KeyError):
        clock.seconds("missing", kl(2026, 3, 9, 9), kl(2026, 3, 9, 10))


# --- properties ------------------------------------------------------------------------------------------

EPOCH_MS_MIN = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000)
EPOCH_MS_MAX = int(datetime(2028, 1, 1, tzinfo=UTC).timestamp() * 1000)
agencies = st.sampled_from(AGENCIES)
instants = st.integers(EPOCH_MS_MIN, EPOCH_MS_MAX).map(
    lambda ms: datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
)
PROPERTY = settings(max_examples=200, deadline=None)


@PROPERTY
@given(agencies, instants, instants, instants)
def test_additive(agency: Agency, x: datetime, y: datetime, z: datetime) -> None:
    a, b, c = sorted((x, y, z))
    whole = business_seconds(agency, a, c)
    parts = business_seconds(agency, a, b) + business_seconds(agency, b, c)
    assert whole == pytest.approx(parts, abs=1e-6)


@PROPERTY
@given(agencies, instants, instants)
def test_between_zero_and_wall_clock(agency: Agency, x: datetime, y: datetime) -> None:
    seconds = business_seconds(agency, x, y)
    assert seconds >= 0.0
    assert seconds <= max(0.0, (y - x).total_seconds())


@PROPERTY
@given(agencies, instants, instants)
def test_invariant_to_the_input_timezone(agency: Agency, x: datetime, y: datetime) -> None:
    expected = business_seconds(agency, x, y)
    plus_eight = timezone(timedelta(hours=8))
    assert business_seconds(agency, x.astimezone(plus_eight), y.astimezone(plus_eight)) == expected
    assert business_seconds(agency, x.astimezone(agency.zone), y.astimezone(UTC)) == expected


def _off_stretch(agency: Agency, day: date) -> tuple[datetime, datetime]:
    """From closing time on ``day`` (a working day) to opening on the next working day, as UTC."""
    following = day + timedelta(days=1)
    while following.weekday() not in agency.weekday_numbers or following in agency.holidays:
        following += timedelta(days=1)
    closes = datetime.combine(day, agency.working_hours[1], tzinfo=agency.zone).astimezone(UTC)
    opens = datetime.combine(following, agency.working_hours[0], tzinfo=agency.zone).astimezone(UTC)
    return closes, opens


@PROPERTY
@given(
    agencies,
    st.dates(date(2025, 1, 1), date(2027, 12, 31)),
    st.floats(0, 1),
    st.floats(0, 1),
)
def test_zero_within_one_non_working_stretch(agency: Agency, day: date, f: float, g: float) -> None:
    while day.weekday() not in agency.weekday_numbers or day in agency.holidays:
        day += timedelta(days=1)
    closes, opens = _off_stretch(agency, day)
    length = opens - closes
    a, b = sorted((closes + length * f, closes + length * g))
    assert business_seconds(agency, a, b) == 0.0


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2026, 1, 1, tzinfo=UTC), datetime.max.replace(tzinfo=UTC)),  # the local date overflows
        (datetime.min.replace(tzinfo=timezone(timedelta(hours=1))), datetime(2026, 1, 1, tzinfo=UTC)),
        (datetime.max.replace(tzinfo=timezone(-timedelta(hours=1))), datetime.max.replace(tzinfo=UTC)),
    ],
)
def test_instants_at_the_edge_of_time_are_a_value_error_not_an_overflow(start: datetime, end: datetime) -> None:
    # Issue 7, item 5: the business clock raised OverflowError near year 1 or 9999, stopping the worker.
    with pytest.raises(ValueError, match="out of the"):
        business_seconds(MON_FRI_KL, start, end)


# --- the table of days against counting day by day (issue 14) ----------------------------------------------

ZONES = ("Asia/Kuala_Lumpur", "Asia/Singapore", "Australia/Perth", "UTC", "Europe/London", "America/New_York")
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@st.composite
def random_agencies(draw: st.DrawFn) -> Agency:
    opens, closes = sorted(draw(st.lists(st.times(), min_size=2, max_size=2, unique=True)))
    return make_agency(
        timezone=draw(st.sampled_from(ZONES)),
        working_days=tuple(draw(st.lists(st.sampled_from(WEEKDAY_NAMES), unique=True))),
        working_hours=(opens, closes),
        holidays=tuple(draw(st.lists(st.dates(date(2025, 1, 1), date(2027, 12, 31)), max_size=15))),
    )


spans_of_minutes_to_months = st.one_of(
    st.integers(-3600, 3600), st.integers(0, 3 * 86_400), st.integers(0, 120 * 86_400)
).map(lambda s: timedelta(seconds=s, milliseconds=s % 1000))


@PROPERTY
@given(random_agencies(), st.lists(st.tuples(instants, spans_of_minutes_to_months), min_size=1, max_size=6))
def test_equals_counting_day_by_day(agency: Agency, spans: list[tuple[datetime, timedelta]]) -> None:
    by_day = WorkingCalendar.of(agency).seconds_by_day
    clock = BusinessClock(lambda _: agency)
    for start, length in spans:
        end = start + length
        expected = by_day(start, end)
        assert business_seconds(agency, start, end) == expected
        assert business_seconds(agency, start.astimezone(timezone(timedelta(hours=8))), end) == expected
        assert clock.seconds(agency.id, start, end) == expected
