"""The capacity model: K workers on P partitions, the plan's rules, and deploy/CAPACITY.md printed from it."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from pipeline.bench.capacity import (
    ACCOUNTS,
    MEASURED,
    PEAKS,
    SOURCES,
    Inputs,
    balance,
    partition_step,
    plan,
    render_markdown,
    throughput,
    worker_step,
)
from pipeline.cli.bench import bench

CAPACITY_MD = Path(__file__).parents[4] / "deploy" / "CAPACITY.md"
_FIGURES = ("partitions", "workers", "ingress", "brokers", "shards", "replicas")
counts = st.integers(min_value=1, max_value=200)
# Slow workers and a small ingress, so the load needs many of each and every rule is exercised.
STRAINED = dataclasses.replace(
    MEASURED, worker_events_per_s=50.0, ingress_deliveries_per_s=20.0, insert_rows_per_s=500.0
)


def test_three_workers_on_four_partitions_do_the_work_of_two() -> None:
    # They hold 2, 1 and 1 partitions: the group goes at the pace of the worker holding 2.
    assert balance(3, 4) == pytest.approx(4 / 6)
    assert throughput(1000.0, 3, 4) == pytest.approx(2000.0)


@given(workers=counts, partitions=counts)
def test_throughput_is_per_worker_times_busy_workers_times_balance(workers: int, partitions: int) -> None:
    expected = 1000.0 * min(workers, partitions) * balance(workers, partitions)
    assert throughput(1000.0, workers, partitions) == pytest.approx(expected)
    assert throughput(1000.0, workers, partitions) == pytest.approx(
        1000.0 * partitions / math.ceil(partitions / workers)
    )
    assert 0 < balance(workers, partitions) <= 1


@given(partitions=counts)
def test_throughput_grows_with_workers_up_to_the_partition_count_then_stays_flat(partitions: int) -> None:
    rates = [throughput(1000.0, k, partitions) for k in range(1, 2 * partitions + 2)]
    assert rates == sorted(rates)  # never less with one more worker
    assert rates[partitions - 1] == pytest.approx(1000.0 * partitions)  # K = P: every worker busy
    assert all(rate == pytest.approx(rates[partitions - 1]) for rate in rates[partitions:])  # K > P: idle ones
    if partitions > 1:
        assert rates[partitions - 1] > rates[0]


@given(partitions=counts)
def test_a_divisor_of_the_partitions_balances_perfectly(partitions: int) -> None:
    for workers in (k for k in range(1, partitions + 1) if partitions % k == 0):
        assert balance(workers, partitions) == 1
        assert throughput(1000.0, workers, partitions) == pytest.approx(1000.0 * workers)


def test_balance_refuses_an_empty_group() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        balance(0, 4)


@given(count=st.integers(min_value=1, max_value=100_000), more=st.integers(min_value=0, max_value=100_000))
def test_worker_steps_divide_every_partition_step_at_least_as_large(count: int, more: int) -> None:
    workers, partitions = worker_step(count), partition_step(count + more)
    assert workers >= count
    assert partitions >= max(count + more, 12)
    assert partitions % workers == 0
    assert worker_step(workers) == workers
    assert partition_step(partitions) == partitions
    assert partitions < 2 * (count + more) or partitions == 12  # never more than double, past the first


@given(accounts=st.integers(min_value=1, max_value=200_000), peak=st.floats(min_value=0.1, max_value=100))
def test_workers_never_exceed_partitions_and_split_them_evenly(accounts: int, peak: float) -> None:
    for inputs in (MEASURED, STRAINED):
        sized = plan(inputs, accounts, peak)
        assert sized.workers <= sized.partitions
        assert balance(sized.workers, sized.partitions) == 1
        # The planned group handles the load at the planned utilisation.
        assert throughput(inputs.worker_events_per_s, sized.workers, sized.partitions) * inputs.utilisation >= (
            sized.events_per_s
        )


@given(
    accounts=st.integers(min_value=1, max_value=100_000),
    more_accounts=st.integers(min_value=0, max_value=100_000),
    peak=st.floats(min_value=0.1, max_value=50),
    more_peak=st.floats(min_value=0, max_value=50),
)
def test_every_figure_is_monotonic_in_accounts_and_peak(
    accounts: int, more_accounts: int, peak: float, more_peak: float
) -> None:
    for inputs in (MEASURED, STRAINED):
        base = plan(inputs, accounts, peak)
        for bigger in (plan(inputs, accounts + more_accounts, peak), plan(inputs, accounts, peak + more_peak)):
            assert bigger.events_per_s >= base.events_per_s
            for name in _FIGURES:
                assert getattr(bigger, name) >= getattr(base, name), name


def test_a_national_incident_needs_more_than_a_normal_day_when_the_load_is_large() -> None:
    normal, incident = plan(STRAINED, 10_000, 1.0), plan(STRAINED, 10_000, 20.0)
    assert incident.events_per_s == pytest.approx(20 * normal.events_per_s)
    assert incident.workers > normal.workers
    assert incident.partitions > normal.partitions
    assert incident.ingress > normal.ingress


def test_each_figure_comes_with_the_formula_that_made_it() -> None:
    sized = plan(MEASURED, 1_000, 20.0)
    names = [line.name for line in sized.lines]
    assert names == [
        "events/s",
        "workers",
        "partitions",
        "ingress replicas",
        "Kafka brokers",
        "ClickHouse shards",
        "storage GB per replica",
    ]
    by_name = {line.name: line for line in sized.lines}
    assert by_name["workers"].value == sized.workers
    assert by_name["partitions"].value == sized.partitions
    assert by_name["ClickHouse shards"].value == sized.shards
    assert by_name["events/s"].formula.startswith("1,000 accounts x 500 events/day / 86,400 s x 3 busy hour x 20 peak")
    for line in sized.lines:
        assert re.search(r" = [\d.,]+$", line.formula), line.formula


def test_every_input_has_a_source() -> None:
    assert set(SOURCES) == {field.name for field in dataclasses.fields(Inputs)}


def test_a_plan_refuses_no_accounts() -> None:
    with pytest.raises(ValueError, match="accounts must be at least 1"):
        plan(MEASURED, 0, 1.0)


def test_the_capacity_doc_tables_are_what_the_model_prints() -> None:
    text = CAPACITY_MD.read_text(encoding="utf-8")
    found = re.search(r"<!-- capacity:begin -->\n(.*)<!-- capacity:end -->", text, re.DOTALL)
    assert found, "deploy/CAPACITY.md lost its capacity:begin/end markers"
    assert found.group(1) == render_markdown(MEASURED, ACCOUNTS, PEAKS), (
        "deploy/CAPACITY.md is stale: paste `serambi bench capacity` between its markers"
    )


def test_the_command_prints_the_model_and_takes_overrides() -> None:
    runner = CliRunner()
    printed = runner.invoke(bench, ["capacity"])
    assert printed.exit_code == 0, printed.output
    assert printed.output == render_markdown()
    busier = runner.invoke(bench, ["capacity", "--accounts", "10", "--peaks", "2", "--events-per-account-day", "1000"])
    assert busier.exit_code == 0, busier.output
    expected = plan(dataclasses.replace(MEASURED, events_per_account_per_day=1000.0), 10, 2.0)
    assert f"| 10 | 2x peak | {expected.events_per_s:.3g} |" in busier.output
    refused = runner.invoke(bench, ["capacity", "--peaks", "1,0"])
    assert refused.exit_code == 2
    assert "numbers above 0" in refused.output
