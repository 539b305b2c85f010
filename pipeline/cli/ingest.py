"""``serambi ingest``: the webhook ingress alone, in front of an external Kafka."""

from __future__ import annotations

import signal
import threading

import click

from pipeline.cli.common import friendly, settings_of

__all__ = ["ingest"]

_HELP = """Serve the platforms' signed webhooks into Kafka (Facebook and Instagram, X, Mastodon).

\b
Routes (register these callback URLs behind your HTTPS reverse proxy):
  /webhooks/meta      Facebook Page `feed` and Instagram `comments`/`mentions`;
                      secrets SERAMBI_META_APP_SECRET, SERAMBI_META_VERIFY_TOKEN
  /webhooks/x         X Account Activity (CRC + tweet_create/favorite/tweet_delete events);
                      secret SERAMBI_X_CONSUMER_SECRET
  /webhooks/mastodon  Mastodon admin webhooks (status.created, status.updated);
                      secret SERAMBI_MASTODON_WEBHOOK_SECRET
  /health, /metrics   liveness and Prometheus metrics (serambi_ingress_*)

Only routes whose secret is set are served. A delivery is answered 200 once Kafka acknowledged its events;
a bad signature gets 401/403 and nothing is kept; a slow or absent Kafka gets 503 + Retry-After, so the platform
retries (retries are harmless). Listens on SERAMBI_INGEST_HOST:SERAMBI_INGEST_PORT (127.0.0.1:8790). Secrets come
from the environment or from files named like the variables in SERAMBI_SECRETS_DIR; they are never logged.

Publishes to SERAMBI_KAFKA_BOOTSTRAP_SERVERS or, on the embedded default, to the broker of the stack running
on the data dir (`serambi run`, which also starts the ingress itself when a webhook secret is set).
"""


@click.command(help=_HELP)
@click.pass_context
@friendly
def ingest(ctx: click.Context) -> None:
    """Serve the platforms' signed webhooks into Kafka."""
    settings = settings_of(ctx)
    # Loaded here: the Kafka client and the connectors are not needed for --help.
    from pipeline.metrics import Metrics  # noqa: PLC0415
    from pipeline.runtime.feed import broker_of  # noqa: PLC0415
    from pipeline.runtime.ingest import start_ingress  # noqa: PLC0415
    from schemas.agency import load_directory  # noqa: PLC0415

    directory = load_directory(settings.agencies_file)
    # An external Kafka, or the embedded broker of the stack running on this data dir (spooled like its own).
    bootstrap, epoch = broker_of(settings)
    ingress = start_ingress(settings, bootstrap, directory, Metrics(), epoch=epoch)
    click.echo(ingress.describe())
    click.echo("Ctrl-C (or SIGTERM) stops: deliveries in flight are answered, then the publishers flush and close")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    ingress.stop()
    click.echo("ingress stopped")
