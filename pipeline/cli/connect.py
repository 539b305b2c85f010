"""``serambi connect NAME``: a platform's polling or streaming connector for the directory's accounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from pipeline.cli.common import friendly, settings_of
from pipeline.cli.run import IsoTime

__all__ = ["connect"]

# The connectors' names and lines, known without importing them (--help stays light); the runtime's registry
# (pipeline.runtime.connectors.CONNECTORS) has the same names, which a test checks.
NAMES = {
    "facebook": "Graph API: Page feed, comments and replies, reaction counts (SERAMBI_META_ACCESS_TOKEN)",
    "instagram": "Graph API: media comments and replies (SERAMBI_META_ACCESS_TOKEN)",
    "x": "X API v2: mentions and the agency's conversations (SERAMBI_X_BEARER_TOKEN)",
    "x-stream": "X API v2 filtered stream (SERAMBI_X_BEARER_TOKEN)",
    "youtube": "YouTube Data API v3: comment threads and replies (SERAMBI_YOUTUBE_API_KEY)",
    "mastodon": "Mastodon REST: statuses, replies, notifications (SERAMBI_MASTODON_ACCESS_TOKEN, _INSTANCE_URL)",
    "mastodon-stream": "Mastodon streaming API with a REST catch-up (SERAMBI_MASTODON_ACCESS_TOKEN, _INSTANCE_URL)",
    "bluesky": "Bluesky Jetstream: the directory's DIDs, replies to them, likes, reposts (no credential)",
    "tiktok": "TikTok Business API: comments on the agency's videos (SERAMBI_TIKTOK_ACCESS_TOKEN)",
}
_DEFAULT_BACKFILL = timedelta(days=7)
_HELP = "\b\nConnectors:\n" + "\n".join(f"  {name:<16} {line}" for name, line in NAMES.items())


@click.command(
    epilog=_HELP
    + """

\b
Every account of the platform in the agency directory is read (or those given with --account), each from its
stored cursor: the newest page whose events are all in ClickHouse, so a crash anywhere (this process, the broker,
the worker) re-fetches from there, losing nothing; repeats are stored once. An account never read starts at
--backfill-from. Rate limits and quotas are obeyed (serambi_connector_* metrics); an account whose token is refused
stops with a clear line while the others go on (exit 1 at the end). Publishes to the running stack's broker
(serambi run/demo) or SERAMBI_KAFKA_BOOTSTRAP_SERVERS."""
)
@click.argument("name", type=click.Choice(sorted(NAMES)), metavar="NAME")
@click.option(
    "--backfill-from",
    "since",
    type=IsoTime(),
    default=None,
    help="Where an account without a stored cursor starts (ISO-8601; UTC unless an offset) [default: 7 days ago].",
)
@click.option("--follow", is_flag=True, help="Keep polling (streams: keep reading) once caught up, until Ctrl-C.")
@click.option("--account", "accounts", multiple=True, help="Only this account id (repeatable).")
@click.pass_context
@friendly
def connect(ctx: click.Context, name: str, since: datetime | None, follow: bool, accounts: tuple[str, ...]) -> None:
    """Read a platform's API into Kafka: backfill, then (--follow) keep up; resumable, rate-limit aware."""
    from pipeline.runtime.connect import ConnectOptions, run_connect  # noqa: PLC0415 - Kafka clients, connectors

    options = ConnectOptions(
        connector=name,
        since=since or datetime.now(UTC) - _DEFAULT_BACKFILL,
        follow=follow,
        accounts=accounts,
    )
    result = run_connect(settings_of(ctx), options, click.echo)
    total = sum(result.published.values())
    click.echo(f"{name}: {total:,} events published from {len(result.published)} account(s)", err=True)
    for account, reason in sorted(result.failed.items()):
        click.echo(f"{account}: {reason}", err=True)
    ctx.exit(result.exit_code)
