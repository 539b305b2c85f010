"""N ``serambi worker`` processes in one consumer group equal the batch oracle (issue 13, items 2 and 7).

Real processes, the real broker (Tansu) and one ClickHouse database shared by every worker: chDB behind
ClickHouse's HTTP interface (:mod:`tests.helpers.chserver`; no ClickHouse server runs here). The simulated
traffic is published in three phases of event time, so each phase's messages continue the conversations of the
one before: partitions move from one worker to another and back between phases, and a worker that kept a stale
copy of a conversation another worker added messages to would miss the late replies of the next phase.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.simulator.model import Simulation
from pipeline.kafka.broker import EmbeddedBroker
from pipeline.metrics import Metrics
from pipeline.runtime.publishing import kafka_publisher
from pipeline.settings import Settings, load_settings
from pipeline.storage.agencies import AgencyRegistry
from pipeline.storage.sql.oracle import oracle_facts
from pipeline.storage.store import Store
from schemas.agency import Directory
from schemas.events import Event, Platform
from schemas.tables import CHANGES, INTERACTIONS, POSTS, REACTIONS, RESPONSE_FACTS
from schemas.topics import partition_for
from tests.helpers.chserver import clickhouse_server
from tests.helpers.events import make_event
from tests.helpers.monitoring import wait_until
from tests.helpers.processes import SERAMBI
from tests.helpers.workers import GROUP_TIMEOUT_S, WorkerProcess, group_drained

PARTITIONS = 4
START = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)  # a Monday: working hours in the phases below
PHASES = (START + timedelta(hours=9), START + timedelta(hours=12), START + timedelta(hours=15))
KEY = "worker-group-test-key"
GRAFANA_PASSWORD = "grafana-reader-password"


@dataclass
class Group:
    """The shared broker and ClickHouse, and how to start workers on them."""

    tmp: Path
    bootstrap: str
    url: str
    settings: Settings
    directory: Directory
    simulation: Simulation
    published: int = 0

    def env(self, name: str) -> dict[str, str]:
        return {
            **os.environ,
            "SERAMBI_DATA_DIR": str(self.tmp / name),
            "SERAMBI_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "SERAMBI_CLICKHOUSE_URL": self.url,
            "SERAMBI_PARTITIONS": str(PARTITIONS),
            "SERAMBI_PSEUDONYM_KEY": KEY,
            "SERAMBI_WORKER_METRICS_PORT": "0",
            "SERAMBI_BOARD_PORT": "0",
            "SERAMBI_GRAFANA_CLICKHOUSE_PASSWORD": GRAFANA_PASSWORD,
            "SERAMBI_SINK_BATCH_SECONDS": "0.1",
        }

    def worker(self, name: str) -> WorkerProcess:
        return WorkerProcess(name, self.env(name))

    def publish_until(self, until: datetime, extra: Sequence[Event] = ()) -> None:
        """Publish the simulated events up to ``until`` (event time) and ``extra``; acknowledged on return."""
        events = [*self.simulation.advance(until), *extra]
        with kafka_publisher(self.settings, self.bootstrap, self.directory, Metrics(), "test", epoch=None) as out:
            for event in events:
                out.publish(event)
        self.published += out.published

    def drained(self) -> None:
        wait_until(
            lambda: group_drained(self.bootstrap, PARTITIONS),
            GROUP_TIMEOUT_S,
            "the group to store and commit every record",
        )


@pytest.fixture
def group(tmp_path: Path, sample_directory: Directory) -> Iterator[Group]:
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker, clickhouse_server(tmp_path / "ch") as url:
        settings = load_settings(
            data_dir=tmp_path / "publisher",
            kafka_bootstrap_servers=broker.bootstrap_servers,
            clickhouse_url=SecretStr(url),
            partitions=PARTITIONS,
            pseudonym_key=SecretStr(KEY),
        )
        simulation = Simulation(sample_directory, seed=11, start=START, incident_at=None)
        group = Group(tmp_path, broker.bootstrap_servers, url, settings, sample_directory, simulation)
        migrate = subprocess.run(
            [SERAMBI, "db", "migrate"],
            env=group.env("migrate"),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        yield group


def _assert_equals_oracle(group: Group) -> None:
    """Every published event stored once; the stored response facts are the batch oracle's, exactly."""
    store = Store(group.settings)
    try:
        db = store.database
        stored = sum(
            store.query(f"SELECT count() FROM {db}.{table} FINAL").rows[0][0]
            for table in (POSTS, INTERACTIONS, REACTIONS, CHANGES)
        )
        assert stored == group.published
        rows = store.query(
            f"SELECT message_id, answered_at, reply_id, closed_by, response_seconds, business_seconds "
            f"FROM {db}.{RESPONSE_FACTS} FINAL"
        ).rows
        stream = {r[0]: (r[1].replace(tzinfo=UTC), r[2], r[3], round(r[4], 3), round(r[5], 3)) for r in rows}
        registry = AgencyRegistry(store, group.directory)
        oracle: dict[str, Any] = {
            f.message_id: (
                f.answered_at,
                f.reply_id,
                f.closed_by,
                round(f.response_seconds, 3),
                round(f.business_seconds, 3),
            )
            for f in oracle_facts(store, registry)
        }
        assert len(oracle) > 100  # the phases produced plenty of answered messages
        assert stream == oracle
    finally:
        store.close()


def _stale_copy_traps(directory: Directory) -> list[list[Event]]:
    """Per phase, one conversation per partition: a question, another citizen's question, a reply to the second.

    Whichever partitions move to the second worker, two of these conversations are held by the first worker when
    the second stores their second question; the reply comes back to the first worker, which must read the
    conversation again to match it (a stale copy lacks the second question: no fact, unlike the oracle's).
    """
    agency, account = next(
        (agency.id, account.account_id)
        for agency in directory.agencies
        for account in agency.accounts
        if account.platform is Platform.X
    )
    phases: list[list[Event]] = [[], [], []]
    for partition in range(PARTITIONS):
        root = next(
            f"trap{partition}-{n}"
            for n in itertools.count()
            if partition_for(f"x:{account}:trap{partition}-{n}", PARTITIONS) == partition
        )
        common = {"agency_id": agency, "account_id": account, "root_id": root, "parent_id": root, "source": "test"}
        first = make_event(
            "comment",
            message_id=f"{root}-q1",
            author_id=f"6012{partition}0001",
            created_at=PHASES[0] - timedelta(hours=1),
            **common,
        )
        second = make_event(
            "comment",
            message_id=f"{root}-q2",
            author_id=f"6012{partition}0002",
            created_at=PHASES[1] - timedelta(hours=1),
            **common,
        )
        reply = make_event(
            "reply",
            message_id=f"{root}-r2",
            author_id=account,
            created_at=PHASES[2] - timedelta(hours=1),
            **{**common, "parent_id": f"{root}-q2"},
        )
        for phase, event in enumerate((first, second, reply)):
            phases[phase].append(event)
    return phases


def _split(*workers: WorkerProcess) -> bool:
    """True when every worker owns partitions, none twice, and together all of them."""
    owned = [worker.partitions() or set() for worker in workers]
    return all(owned) and sum(map(len, owned)) == PARTITIONS and set().union(*owned) == set(range(PARTITIONS))


def test_partitions_moving_away_and_back_mid_replay_keep_the_facts_exact(group: Group) -> None:
    traps = _stale_copy_traps(group.directory)
    first = group.worker("a")
    try:
        wait_until(
            lambda: first.partitions() == set(range(PARTITIONS)), GROUP_TIMEOUT_S, "worker a to take every partition"
        )
        group.publish_until(PHASES[0], traps[0])
        group.drained()
        second = group.worker("b")  # joins: half of the partitions move to it
        try:
            wait_until(
                lambda: _split(first, second), GROUP_TIMEOUT_S, "the group to split the partitions between a and b"
            )
            group.publish_until(PHASES[1], traps[1])  # b stores new messages of conversations a held
            group.drained()
        finally:
            assert second.stop() == 0, second.output()  # leaves: its partitions come back to a
        wait_until(
            lambda: first.partitions() == set(range(PARTITIONS)),
            GROUP_TIMEOUT_S,
            "worker a to take the partitions back",
        )
        group.publish_until(PHASES[2], traps[2])  # replies to what b stored: a must read those conversations again
        group.drained()
        _assert_equals_oracle(group)
    finally:
        assert first.stop() == 0, first.output()


def test_a_worker_killed_while_holding_partitions_is_replaced_without_loss_or_double_count(group: Group) -> None:
    first, second = group.worker("a"), group.worker("b")
    try:
        wait_until(lambda: _split(first, second), GROUP_TIMEOUT_S, "both workers to own partitions")
        group.publish_until(PHASES[0])
        wait_until(
            lambda: second.probe("/health")[1].get("rows_stored", 0) > 0, GROUP_TIMEOUT_S, "worker b to store rows"
        )
        second.kill()  # mid-replay, holding partitions, with uncommitted records
        wait_until(
            lambda: first.partitions() == set(range(PARTITIONS)), GROUP_TIMEOUT_S, "worker a to take b's partitions"
        )
        group.publish_until(PHASES[1])
        group.drained()
        _assert_equals_oracle(group)
    finally:
        if second.process.poll() is None:
            second.kill()
        assert first.stop() == 0, first.output()


def test_a_rolling_restart_of_every_worker_during_a_replay_keeps_the_facts_exact(group: Group) -> None:
    workers = {"a": group.worker("a"), "b": group.worker("b")}
    try:
        wait_until(lambda: _split(*workers.values()), GROUP_TIMEOUT_S, "both workers to own partitions")
        group.publish_until(PHASES[0])
        for name, generation in (("a", "a2"), ("b", "b2")):  # one at a time, as a rolling upgrade does
            assert workers[name].stop() == 0, workers[name].output()
            workers[name] = group.worker(generation)
            wait_until(
                lambda: _split(*workers.values()), GROUP_TIMEOUT_S, f"{generation} to join and the group to rebalance"
            )
            group.publish_until(PHASES[1] if generation == "a2" else PHASES[2])
        group.drained()
        _assert_equals_oracle(group)
    finally:
        for worker in workers.values():
            if worker.process.poll() is None:
                assert worker.stop() == 0, worker.output()
