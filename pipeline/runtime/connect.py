"""``serambi connect``: run one platform's polling or streaming connector for every account of the directory.

Each account resumes from its stored cursor (:func:`pipeline.storage.sql.cursors.stored_cursor`: the newest page
whose events are all in ClickHouse), else from ``--backfill-from``; its pages go to Kafka with their cursors
(:meth:`connectors.core.publisher.Publisher.publish_page`), so a crash anywhere re-fetches from there and loses
nothing. Accounts run side by side (a thread each; a stream runs once for all); an account whose credentials are
refused stops with a clear line and the others keep running. Without ``--follow`` a poller stops once caught up.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.core.contracts import AccountContext, PollingSource, StreamSource
from connectors.core.errors import AccountError
from connectors.core.http import Urllib3Client
from connectors.core.runner import LockedPublisher, follow_stream, poll
from pipeline.errors import ConfigError
from pipeline.kafka.admin import ensure_topics
from pipeline.metrics import Metrics
from pipeline.runtime.connectors import CONNECTORS, ConnectorSpec
from pipeline.runtime.engine import open_read_engine
from pipeline.runtime.feed import broker_of
from pipeline.runtime.interrupt import Interrupt, stop_on_signals
from pipeline.runtime.publishing import kafka_publisher
from pipeline.settings import Settings
from pipeline.storage.sql.cursors import stored_cursor
from pipeline.web.probes import Probe, ProbeServer
from schemas.agency import Directory, load_directory
from schemas.privacy import Pseudonymizer

__all__ = ["ConnectOptions", "ConnectResult", "run_connect"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectOptions:
    """What ``serambi connect`` was asked: the connector, its accounts (empty: all), where a backfill starts."""

    connector: str
    since: datetime
    follow: bool = False
    accounts: tuple[str, ...] = ()


@dataclass
class ConnectResult:
    """How the run ended: events published per account, and the accounts that failed with their reasons."""

    published: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    interrupted: Interrupt | None = None

    @property
    def exit_code(self) -> int:
        """0: every account ran; 1: one failed (the others still ran); 130/143: interrupted."""
        if self.interrupted is not None and self.interrupted.requested:
            return self.interrupted.exit_code
        return 1 if self.failed else 0


def run_connect(settings: Settings, options: ConnectOptions, say: Callable[[str], None]) -> ConnectResult:
    """Run ``options.connector`` for its accounts until caught up (or, with ``follow``, until interrupted)."""
    spec = CONNECTORS.get(options.connector)
    if spec is None:
        msg = f"unknown connector {options.connector!r}: use one of {', '.join(sorted(CONNECTORS))}"
        raise ConfigError(msg)
    spec.check(settings)
    directory = load_directory(settings.agencies_file)
    contexts = _contexts(settings, directory, spec, options)
    bootstrap, epoch = broker_of(settings)
    ensure_topics(bootstrap, settings.partitions, settings.kafka_replication_factor)
    metrics = Metrics()
    result = ConnectResult()
    # Liveness: failing accounts stop alone and the others go on, so the process is healthy while it runs.
    alive: Probe = lambda: (200, {"status": "ok", "failed_accounts": sorted(result.failed)})  # noqa: E731
    server = ProbeServer(
        settings.metrics_host,
        settings.connect_metrics_port,
        metrics.registry,
        health=alive,
        ready=alive,
        setting="SERAMBI_CONNECT_METRICS_PORT",
    ).start()
    say(f"metrics: {server.url}/metrics (serambi_connector_*); probes /health and /ready")
    try:
        with (
            kafka_publisher(settings, bootstrap, directory, metrics, spec.source, epoch=epoch) as publisher,
            stop_on_signals(Interrupt()) as interrupt,
            open_read_engine(settings) as engine,
        ):
            resume = {ctx.account.account_id: _stored(engine, spec, ctx) for ctx in contexts}
            say(
                f"{spec.name}: {len(contexts)} account(s) into {bootstrap}; "
                f"{sum(1 for state in resume.values() if state is not None)} resume from their stored cursor, "
                f"the others backfill from {options.since:%Y-%m-%d %H:%M} UTC"
                + (" then follow (Ctrl-C stops)" if options.follow else "")
            )
            run = _Run(settings, spec, resume, LockedPublisher(publisher), interrupt.stop, metrics, result, say)
            if spec.kind == "stream":
                run.stream(contexts)
            else:
                run.poll_all(contexts, options.follow)
            result.interrupted = interrupt
    finally:
        server.stop()
    return result


def _contexts(
    settings: Settings, directory: Directory, spec: ConnectorSpec, options: ConnectOptions
) -> list[AccountContext]:
    pseudonymizer = Pseudonymizer(settings.pseudonym_key)
    contexts = [
        AccountContext(
            agency=agency,
            account=account,
            directory=directory,
            pseudonym=functools.partial(pseudonymizer.pseudonym, account.platform.value),
            since=options.since,
        )
        for agency in directory.agencies
        for account in agency.accounts
        if account.platform is spec.platform and (not options.accounts or account.account_id in options.accounts)
    ]
    if not contexts:
        wanted = f" among {', '.join(options.accounts)}" if options.accounts else ""
        msg = f"the agency directory has no {spec.platform.value} account{wanted}: nothing for {spec.name} to read"
        raise ConfigError(msg)
    return contexts


def _label(ctx: AccountContext) -> str:
    return f"{ctx.account.platform.value}:{ctx.account.account_id}"


def _stored(engine: Any, spec: ConnectorSpec, ctx: AccountContext) -> Any:
    label = "*" if spec.kind == "stream" and spec.all_accounts else _label(ctx)
    return stored_cursor(engine.queries, engine.database, spec.source, label)


@dataclass
class _Run:
    """One ``serambi connect`` run: what every account's thread (or stream task) shares."""

    settings: Settings
    spec: ConnectorSpec
    resume: dict[str, Any]
    sink: LockedPublisher
    stop: threading.Event
    metrics: Metrics
    result: ConnectResult
    say: Callable[[str], None]

    def poll_all(self, contexts: list[AccountContext], follow: bool) -> None:
        """A thread per account, each polling until caught up (``follow``: until stopped)."""
        http = Urllib3Client()
        threads = [
            threading.Thread(target=self._poll, args=(ctx, http, follow), name=f"connect-{_label(ctx)}")
            for ctx in contexts
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _poll(self, ctx: AccountContext, http: Urllib3Client, follow: bool) -> None:
        label = _label(ctx)
        try:
            source = self._built(ctx, http, PollingSource)
            published = poll(source, self.sink, self.stop, account=label, follow=follow, metrics=self.metrics)
            self.result.published[label] = published
            self.say(f"{label}: {published:,} events published; {'stopped' if follow else 'caught up'}")
        except AccountError as exc:
            self._failed(label, exc.reason, "fix this account's credentials (the others keep running)")
        except Exception as exc:  # one account's bug must not stop the others
            log.exception("%s failed", label)
            self._failed(label, f"{type(exc).__name__}: {exc}", "the others keep running")

    def stream(self, contexts: list[AccountContext]) -> None:
        """Read every stream (one for all accounts when the platform's serves them all) until stopped."""
        targets = contexts[:1] if self.spec.all_accounts else contexts

        async def one(ctx: AccountContext) -> None:
            label = "*" if self.spec.all_accounts else _label(ctx)
            try:
                source = self._built(ctx, Urllib3Client(), StreamSource)
                published = await follow_stream(source, self.sink, self.stop, account=label, metrics=self.metrics)
                self.result.published[label] = published
            except AccountError as exc:
                self._failed(label, exc.reason, "fix its credentials")

        async def every() -> None:
            await asyncio.gather(*(one(ctx) for ctx in targets))

        asyncio.run(every())

    def _built(self, ctx: AccountContext, http: Urllib3Client, kind: type[Any]) -> Any:
        source = self.spec.build(self.settings, ctx, http)
        assert isinstance(source, kind), f"{self.spec.name} built a {type(source).__name__}"
        if (state := self.resume[ctx.account.account_id]) is not None:
            source.resume(state)
        return source

    def _failed(self, label: str, reason: str, then: str) -> None:
        self.result.failed[label] = reason
        self.say(f"{label}: stopped: {reason}; {then}")
