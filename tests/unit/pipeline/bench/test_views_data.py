"""The views benchmark's generated world: directory, volume shares, calibration, hours and parameters."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.simulator import model
from pipeline.bench.views_data import (
    ANSWERED_SHARE,
    BLOCK,
    CITIZEN_HOURLY,
    DataShape,
    World,
    answered_share,
    hour_table,
    volume_shares,
)

ANCHOR = datetime(2026, 11, 30, 3, 17, tzinfo=UTC)


def test_citizen_hours_are_the_simulators() -> None:
    assert CITIZEN_HOURLY == model._CITIZEN_HOURLY


def test_the_hour_table_gives_each_hour_slots_in_proportion_to_its_weight() -> None:
    table = hour_table()
    assert len(table) == 1000
    counts = Counter(table)
    total = sum(CITIZEN_HOURLY)
    for hour, weight in enumerate(CITIZEN_HOURLY):
        assert counts[hour] == pytest.approx(1000 * weight / total, abs=1)
    assert table == sorted(table)


@pytest.mark.parametrize(("agencies", "skew"), [(12, 2.5), (60, 2.5), (200, 2.5), (60, 1.0)])
def test_volume_shares_sum_to_one_and_fall_with_rank(agencies: int, skew: float) -> None:
    shares = volume_shares(agencies, skew)
    assert len(shares) == agencies
    assert sum(shares) == pytest.approx(1.0)
    if skew == 1.0:
        assert shares == pytest.approx([1 / agencies] * agencies)
    else:
        assert shares == sorted(shares, reverse=True)
        assert shares[0] > 10 * shares[-1]  # skewed: a few large agencies, many small ones


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"agencies": 11}, "12-200"),
        ({"agencies": 201}, "12-200"),
        ({"agencies": 60, "interactions": 60 * BLOCK - 1}, "at least 6,000 interactions"),
        ({"days": 30}, "days"),
    ],
)
def test_a_shape_refuses_what_cannot_be_generated(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DataShape(**kwargs)


@pytest.fixture(scope="module")
def world() -> World:
    return World.build(DataShape(interactions=1_000_000, agencies=60), ANCHOR)


def test_the_directory_has_every_agency_on_3_to_7_platforms_facebook_first(world: World) -> None:
    agencies = world.directory.agencies
    assert len(agencies) == 60
    assert len({a.id for a in agencies}) == 60
    for agency in agencies:
        platforms = list(dict.fromkeys(acc.platform for acc in agency.accounts))
        assert 3 <= len(platforms) <= 7
        assert platforms[0] == "facebook"
        assert agency.official_domains
        assert agency.timezone == "Asia/Kuala_Lumpur"
    assert sum(len(a.accounts) for a in agencies) > sum(len({x.platform for x in a.accounts}) for a in agencies)


def test_blocks_are_calibrated_to_the_answered_share_and_never_answer_more_than_they_ask(world: World) -> None:
    assert answered_share(world.styles, world.citizen_rows) == pytest.approx(ANSWERED_SHARE, abs=0.001)
    assert all(BLOCK / 2 <= rows <= BLOCK for rows in world.citizen_rows)
    # Styles differ: some agencies answer most messages, some almost none.
    rates = [(BLOCK - rows) / rows for rows in world.citizen_rows]
    assert min(rates) < 0.1
    assert max(rates) > 0.6


def test_the_world_is_the_same_for_the_same_shape_and_anchor(world: World) -> None:
    again = World.build(DataShape(interactions=1_000_000, agencies=60), ANCHOR)
    assert again.directory == world.directory
    assert again.parameters() == world.parameters()
    other = World.build(DataShape(interactions=1_000_000, agencies=60, seed=2), ANCHOR)
    assert other.directory != world.directory


def test_day_zero_is_local_midnight_days_before_the_anchor(world: World) -> None:
    local = world.origin.astimezone(ZoneInfo("Asia/Kuala_Lumpur"))
    assert (local.hour, local.minute) == (0, 0)
    assert timedelta(days=180) <= ANCHOR - world.origin < timedelta(days=181)


def test_the_parameters_describe_every_agency_and_account_once(world: World) -> None:
    params = world.parameters()
    accounts = sum(len(a.accounts) for a in world.directory.agencies)
    for name in ("acc_agency", "acc_platform", "acc_id", "acc_handle", "acc_ppd", "acc_posts", "acc_post_offset"):
        assert len(params[name]) == accounts, name
    for name in ("citizen_rows", "agency_ids", "agency_domain", "sla_ms", "median_ms", "acc_offset", "acc_count"):
        assert len(params[name]) == 60, name
    # Each agency's accounts are a contiguous run starting at its offset.
    for i, (offset, count) in enumerate(zip(params["acc_offset"], params["acc_count"], strict=True)):
        assert params["acc_agency"][offset : offset + count] == [i] * count
    assert sum(params["acc_posts"]) > 0
    assert params["anchor_ms"] == int(ANCHOR.timestamp() * 1000)
