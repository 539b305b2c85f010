"""``serambi simulate``: the simulator connector on its own, into Kafka or into a JSON-lines file.

Both stop at once on Ctrl-C or SIGTERM (:mod:`pipeline.runtime.interrupt`): Kafka gets what was handed over
(flushed), a file keeps whole lines; the result says which signal stopped it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from connectors.simulator.source import Simulation, SimulatorConnector, default_window
from pipeline.errors import ConfigError
from pipeline.kafka.admin import ensure_topics
from pipeline.metrics import Metrics
from pipeline.runtime.client import running_stack
from pipeline.runtime.interrupt import Interrupt, stop_on_signals
from pipeline.runtime.publishing import kafka_publisher
from pipeline.runtime.spool import broker_epoch
from pipeline.settings import Settings
from schemas.agency import load_directory

__all__ = ["Simulated", "broker_of", "publish_simulation", "write_simulation"]

_WRITE_STEP = timedelta(hours=1)  # --output checks for a stop between simulated hours


@dataclass(frozen=True)
class Simulated:
    """How many events a simulation published or wrote, and the stop request if a signal ended it early."""

    events: int
    interrupt: Interrupt | None = None

    @property
    def exit_code(self) -> int:
        """0, or 130/143 when SIGINT/SIGTERM stopped it."""
        return 0 if self.interrupt is None else self.interrupt.exit_code


def write_simulation(settings: Settings, output: BinaryIO, *, hours: float, seed: int) -> Simulated:
    """Write ``hours`` (> 0) of simulated events ending now as JSON lines (citizen ids in clear)."""
    directory = load_directory(settings.agencies_file)
    now = datetime.now(UTC)
    start = now - timedelta(hours=hours)
    simulation = Simulation(directory, seed=seed, start=start, incident_at=start + timedelta(hours=hours * 0.6))
    count = 0
    with stop_on_signals(Interrupt()) as interrupt:
        until = start
        while until < now and not interrupt.requested:
            until = min(until + _WRITE_STEP, now)
            for event in simulation.advance(until):
                output.write(event.model_dump_json().encode() + b"\n")
                count += 1
        output.flush()
    return Simulated(count, interrupt if interrupt.requested else None)


def publish_simulation(
    settings: Settings, *, duration_s: float | None, speed: float, seed: int, say: Callable[[str], None]
) -> Simulated:
    """Publish simulated events to the running stack's broker or the configured Kafka, until stopped."""
    bootstrap, epoch = broker_of(settings)
    ensure_topics(bootstrap, settings.partitions, settings.kafka_replication_factor)
    directory = load_directory(settings.agencies_file)
    publisher = kafka_publisher(settings, bootstrap, directory, Metrics(), "simulator", epoch=epoch)
    start, incident = default_window(duration_s, speed, datetime.now(UTC))
    simulation = Simulation(directory, seed=seed, start=start, incident_at=incident)
    connector = SimulatorConnector(publisher, simulation, start=start, speed=speed)
    with stop_on_signals(Interrupt()) as interrupt:
        say(f"simulating {len(directory.agencies)} agencies into {bootstrap} at {speed:g}x (Ctrl-C stops)")
        try:
            connector.run(interrupt.stop, duration_s)
        finally:
            publisher.close()  # flushes: Kafka holds every event counted below
    return Simulated(connector.events_emitted, interrupt if interrupt.requested else None)


def broker_of(settings: Settings) -> tuple[str, str | None]:
    """Bootstrap servers, and the spool epoch when they are a running stack's embedded broker."""
    if not settings.embedded_broker:
        return settings.kafka_bootstrap_servers, None
    running = running_stack(settings)
    if running is None:
        msg = (
            "no Kafka to publish to: start `serambi demo` or `serambi run` on this data dir first, "
            "or set SERAMBI_KAFKA_BOOTSTRAP_SERVERS"
        )
        raise ConfigError(msg)
    state, client = running
    client.check_key(settings.pseudonym_key)
    return state.bootstrap_servers, broker_epoch(state.bootstrap_servers, state.broker_pid)
