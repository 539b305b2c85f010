"""Build a connector's :class:`connectors.core.publisher.Publisher` on Kafka from the settings."""

from __future__ import annotations

from connectors.core.kafka import KafkaRecordSink
from connectors.core.publisher import Publisher, RecordSink
from pipeline.metrics import Metrics
from pipeline.runtime.spool import SPOOL_DIR, SpooledSink, SpoolWriter
from pipeline.settings import Settings
from schemas.agency import Directory
from schemas.privacy import Pseudonymizer

__all__ = ["kafka_publisher"]


def kafka_publisher(  # noqa: PLR0913 - a connector's whole context
    settings: Settings,
    bootstrap_servers: str,
    directory: Directory,
    metrics: Metrics,
    source: str,
    *,
    epoch: str | None,
) -> Publisher:
    """A publisher producing to ``bootstrap_servers``; ``close()`` it (or use ``with``) when done.

    ``epoch``: the embedded broker's run (:func:`pipeline.runtime.spool.broker_epoch`), whose input is
    spooled to the data dir first so that a kill of the stack loses nothing; ``None`` for an external Kafka,
    which keeps what it acknowledged itself.
    """
    kafka = KafkaRecordSink(bootstrap_servers)
    sink: RecordSink = kafka
    if epoch is not None:
        sink = SpooledSink(kafka, SpoolWriter(settings.data_dir / SPOOL_DIR, epoch))
    return Publisher(
        sink,
        pseudonymizer=Pseudonymizer(settings.pseudonym_key),
        partitions=settings.partitions,
        source=source,
        metrics=metrics,
        directory=directory,
        bounds=settings.event_bounds,
    )
