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

from prometheus_client import start_http_server

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
    ensure_topics(bootstrap, settings.partitions)
    metrics = Metrics()
    server, _ = start_http_server(settings.connect_metrics_port, addr="127.0.0.1", registry=metrics.registry)
    say(f"metrics: http://127.0.0.1:{server.server_port}/metrics (serambi_connector_*)")
    result = ConnectResult()
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
            sink = LockedPublisher(publisher)
            if spec.kind == "stream":
                _stream(settings, spec, contexts, resume, sink, interrupt.stop, metrics, result, say)
            else:
                _poll_all(settings, spec, contexts, resume, sink, interrupt.stop, metrics, result, options.follow, say)
            result.interrupted = interrupt
    finally:
        server.shutdown()
        server.server_close()
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


def _poll_all(  # noqa: PLR0913 - the run's whole context
    settings: Settings,
    spec: ConnectorSpec,
    contexts: list[AccountContext],
    resume: dict[str, Any],
    sink: LockedPublisher,
    stop: threading.Event,
    metrics: Metrics,
    result: ConnectResult,
    follow: bool,
    say: Callable[[str], None],
) -> None:
    http = Urllib3Client()

    def one(ctx: AccountContext) -> None:
        label = _label(ctx)
        try:
            source = spec.build(settings, ctx, http)
            assert isinstance(source, PollingSource)
            if (state := resume[ctx.account.account_id]) is not None:
                source.resume(state)
            result.published[label] = poll(source, sink, stop, account=label, follow=follow, metrics=metrics)
            ended = "stopped" if follow else "caught up"
            say(f"{label}: {result.published[label]:,} events published; {ended}")
        except AccountError as exc:
            result.failed[label] = exc.reason
            say(f"{label}: stopped: {exc.reason}; fix this account's credentials (the others keep running)")
        except Exception as exc:  # one account's bug must not stop the others
            log.exception("%s failed", label)
            result.failed[label] = f"{type(exc).__name__}: {exc}"
            say(f"{label}: failed: {type(exc).__name__}: {exc} (the others keep running)")

    threads = [threading.Thread(target=one, args=(ctx,), name=f"connect-{_label(ctx)}") for ctx in contexts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _stream(  # noqa: PLR0913 - the run's whole context
    settings: Settings,
    spec: ConnectorSpec,
    contexts: list[AccountContext],
    resume: dict[str, Any],
    sink: LockedPublisher,
    stop: threading.Event,
    metrics: Metrics,
    result: ConnectResult,
    say: Callable[[str], None],
) -> None:
    targets = contexts[:1] if spec.all_accounts else contexts

    async def main() -> None:
        async def one(ctx: AccountContext) -> None:
            label = "*" if spec.all_accounts else _label(ctx)
            source = spec.build(settings, ctx, Urllib3Client())
            assert isinstance(source, StreamSource)
            if (state := resume[ctx.account.account_id]) is not None:
                source.resume(state)
            try:
                result.published[label] = await follow_stream(source, sink, stop, account=label, metrics=metrics)
            except AccountError as exc:
                result.failed[label] = exc.reason
                say(f"{label}: stopped: {exc.reason}; fix its credentials")

        await asyncio.gather(*(one(ctx) for ctx in targets))

    asyncio.run(main())
