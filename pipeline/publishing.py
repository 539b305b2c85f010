"""Build a connector's :class:`connectors.base.Publisher` on Kafka from the settings."""

from __future__ import annotations

from connectors.base import Publisher
from connectors.kafka import KafkaRecordSink
from connectors.pseudonym import Pseudonymizer
from pipeline.metrics import Metrics
from pipeline.settings import Settings
from schemas.agency import Directory

__all__ = ["kafka_publisher"]


def kafka_publisher(
    settings: Settings, bootstrap_servers: str, directory: Directory, metrics: Metrics, source: str
) -> Publisher:
    """A publisher producing to ``bootstrap_servers``; ``close()`` it (or use ``with``) when done."""
    sink = KafkaRecordSink(bootstrap_servers)
    return Publisher(
        sink,
        pseudonymizer=Pseudonymizer(settings.pseudonym_key),
        partitions=settings.partitions,
        source=source,
        metrics=metrics,
        directory=directory,
    )
