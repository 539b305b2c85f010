"""Create Serambi's topics at start-up when they are missing."""

from __future__ import annotations

import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from pipeline.errors import BrokerError
from schemas.topics import TOPICS, TopicSpec

__all__ = ["ensure_topics", "partition_count", "recreate_topics"]

log = logging.getLogger(__name__)


def partition_count(topic: TopicSpec, default_partitions: int) -> int:
    """Partitions of a topic: its own fixed count, else the configured default."""
    return topic.partitions or default_partitions


def ensure_topics(bootstrap_servers: str, default_partitions: int) -> list[str]:
    """Create every declared topic that does not exist yet; return the names created."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","), client_id="serambi-admin")
    except KafkaError as exc:
        msg = f"cannot reach Kafka at {bootstrap_servers}: {exc}"
        raise BrokerError(msg) from exc
    try:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(
                t.name, partition_count(t, default_partitions), 1, topic_configs={"retention.ms": str(t.retention_ms)}
            )
            for t in TOPICS
            if t.name not in existing
        ]
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:
                log.info("topics were created concurrently")
        return [t.name for t in missing]
    finally:
        admin.close()


def recreate_topics(bootstrap_servers: str, default_partitions: int) -> None:
    """Delete and create again every declared topic: the embedded broker then frees their memory.

    Tansu (memory storage) implements neither DeleteRecords nor retention; deleting a topic is the one way
    to make it let go of records. Its consumer groups' offsets go with the topics, and offsets start at 0.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","), client_id="serambi-admin")
    try:
        existing = set(admin.list_topics())
        admin.delete_topics([t.name for t in TOPICS if t.name in existing])
    finally:
        admin.close()
    ensure_topics(bootstrap_servers, default_partitions)
