"""Build a connector's :class:`connectors.core.publisher.Publisher` on Kafka from the settings."""

from __future__ import annotations

from connectors.core.kafka import KafkaRecordSink
from connectors.core.publisher import Publisher
from pipeline.metrics import Metrics
from pipeline.settings import Settings
from schemas.agency import Directory
from schemas.privacy import Pseudonymizer

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
