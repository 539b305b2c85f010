"""The webhook ingress of the settings: which platforms are configured, their publishers, the server.

:func:`webhook_sources` builds a :class:`~connectors.core.contracts.WebhookSource` for every platform whose
secret is set; :func:`start_ingress` serves them (:mod:`connectors.webhooks.ingress`) on
``SERAMBI_INGEST_HOST``/``_PORT`` in a background thread, each route publishing through its own Kafka
publisher (spooled to the data dir first on the embedded broker, as every connector's input is).

Example::

    ingress = start_ingress(settings, bootstrap, directory, metrics, epoch=None)
    print(ingress.describe())   # webhooks: http://127.0.0.1:8790/webhooks/{meta,x} ...
    ...
    ingress.stop()              # answers what is in flight, then closes the publishers
"""

from __future__ import annotations

import logging

from connectors.core.contracts import WebhookSource
from connectors.webhooks.ingress import AckingPublisher, IngressLimits, IngressMetrics, Route, ingress_app
from connectors.webhooks.mastodon import MastodonWebhook
from connectors.webhooks.meta import MetaWebhook
from connectors.webhooks.x import XWebhook
from pipeline.errors import ConfigError
from pipeline.metrics import Metrics
from pipeline.runtime.publishing import kafka_publisher
from pipeline.settings import Settings
from pipeline.web.board_server import BoardServer
from schemas.agency import Directory
from schemas.privacy import Pseudonymizer

__all__ = ["IngressServer", "limits_of", "start_ingress", "webhook_sources"]

log = logging.getLogger(__name__)
_PORT_SETTING = "SERAMBI_INGEST_PORT"


def webhook_sources(settings: Settings, directory: Directory) -> list[WebhookSource]:
    """A source per platform whose secret is set (none: an empty list)."""
    pseudonymizer = Pseudonymizer(settings.pseudonym_key)
    sources: list[WebhookSource] = []
    if settings.meta_app_secret.get_secret_value():
        token = settings.meta_verify_token if settings.meta_verify_token.get_secret_value() else None
        sources.append(
            MetaWebhook(
                app_secret=settings.meta_app_secret,
                verify_token=token,
                directory=directory,
                pseudonymizer=pseudonymizer,
            )
        )
    if settings.x_consumer_secret.get_secret_value():
        sources.append(
            XWebhook(consumer_secret=settings.x_consumer_secret, directory=directory, pseudonymizer=pseudonymizer)
        )
    if settings.mastodon_webhook_secret.get_secret_value():
        sources.append(
            MastodonWebhook(secret=settings.mastodon_webhook_secret, directory=directory, pseudonymizer=pseudonymizer)
        )
    return sources


def limits_of(settings: Settings) -> IngressLimits:
    """The ingress limits of the settings (``SERAMBI_INGEST_*``)."""
    return IngressLimits(
        max_body_bytes=settings.ingest_max_body_bytes,
        timeout_seconds=settings.ingest_timeout_seconds,
        max_in_flight=settings.ingest_max_in_flight,
    )


class IngressServer:
    """The running ingress: its HTTP server and one publisher thread per route."""

    def __init__(self, server: BoardServer, routes: list[Route]) -> None:
        self._server, self.routes = server, routes

    @property
    def url(self) -> str:
        """The server's base URL, e.g. ``http://127.0.0.1:8790/``."""
        return self._server.url

    def describe(self) -> str:
        """One line for the user: every route's callback URL."""
        urls = ", ".join(f"{self.url.rstrip('/')}{route.path}" for route in self.routes)
        return f"webhook ingress: {urls}{self._server.fallback_note()}"

    def stop(self) -> None:
        """Stop taking deliveries, let the publishers finish (flush) and close them."""
        self._server.stop()
        for route in self.routes:
            route.acker.close()


def start_ingress(  # noqa: PLR0913 - the ingress's whole context
    settings: Settings,
    bootstrap_servers: str,
    directory: Directory,
    metrics: Metrics,
    *,
    epoch: str | None,
    fallback: bool = False,
) -> IngressServer:
    """Serve the configured webhooks; :class:`ConfigError` when none is configured or the port is taken."""
    sources = webhook_sources(settings, directory)
    if not sources:
        msg = (
            "no webhook is configured: set SERAMBI_META_APP_SECRET, SERAMBI_X_CONSUMER_SECRET or "
            "SERAMBI_MASTODON_WEBHOOK_SECRET (in the environment or a file of SERAMBI_SECRETS_DIR)"
        )
        raise ConfigError(msg)
    routes: list[Route] = []
    try:
        for source in sources:
            publisher = kafka_publisher(settings, bootstrap_servers, directory, metrics, source.source, epoch=epoch)
            name = source.route.rsplit("/", 1)[-1]
            routes.append(Route(name, source, AckingPublisher(publisher, name=f"serambi-ingress-{name}").start()))
        app = ingress_app(routes, IngressMetrics(metrics.registry), limits_of(settings), metrics.registry)
        server = BoardServer(
            app,
            settings.ingest_host,
            settings.ingest_port,
            fallback=fallback,
            what="webhook ingress",
            setting=_PORT_SETTING,
        ).start()
    except BaseException:
        for route in routes:
            route.acker.close()
        raise
    return IngressServer(server, routes)
