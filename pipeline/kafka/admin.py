"""Create Serambi's topics at start-up when they are missing."""

from __future__ import annotations

import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from pipeline.errors import BrokerError
from schemas.topics import TOPICS, TopicSpec

__all__ = ["ensure_topics", "partition_count", "recreate_topics", "replication_factor"]

log = logging.getLogger(__name__)
_RECREATE_ATTEMPTS = 10
_REPLICAS = 3


def partition_count(topic: TopicSpec, default_partitions: int) -> int:
    """Partitions of a topic: its own fixed count, else the configured default."""
    return topic.partitions or default_partitions


def ensure_topics(bootstrap_servers: str, default_partitions: int, replication_factor: int = 0) -> list[str]:
    """Create every declared topic that does not exist yet; return the names created.

    ``replication_factor`` 0: 3 copies, or one per broker when the cluster has fewer (the embedded broker: 1).
    """
    admin = _admin(bootstrap_servers)
    try:
        existing = set(admin.list_topics())
        replicas = replication_factor or _replication_factor(admin)
        configs = {"min.insync.replicas": str(replicas - 1)} if replicas > 1 else {}
        missing = [
            NewTopic(
                t.name,
                partition_count(t, default_partitions),
                replicas,
                topic_configs={"retention.ms": str(t.retention_ms), **configs},
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


def replication_factor(bootstrap_servers: str, configured: int = 0) -> int:
    """Copies of a topic created on this cluster: ``configured``, or (0) 3, or one per broker when fewer."""
    if configured:
        return configured
    admin = _admin(bootstrap_servers)
    try:
        return _replication_factor(admin)
    finally:
        admin.close()


def _admin(bootstrap_servers: str) -> KafkaAdminClient:
    """An admin client; :class:`BrokerError` saying where when no broker answers."""
    try:
        return KafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","), client_id="serambi-admin")
    except KafkaError as exc:
        msg = f"cannot reach Kafka at {bootstrap_servers}: {exc}"
        raise BrokerError(msg) from exc


def _replication_factor(admin: KafkaAdminClient) -> int:
    # A topic created here (the embedded broker, or a cluster whose topics no operator declared) survives one
    # broker's loss on a cluster: 3 copies where there are 3 brokers, and writes need 2 of them (acks=all).
    try:
        brokers = len(admin.describe_cluster().get("brokers", []))
    except KafkaError:
        brokers = 1
    return max(1, min(_REPLICAS, brokers))


def recreate_topics(bootstrap_servers: str, default_partitions: int) -> None:
    """Delete and create again every declared topic: the embedded broker then frees their memory.

    Tansu (memory storage) implements neither DeleteRecords nor retention; deleting a topic is the one way
    to make it let go of records. Its consumer groups' offsets go with the topics, and offsets start at 0.
    Tansu also creates a topic that a producer names while it does not exist (whatever the client asks),
    with its own partition count: a topic a producer re-created between our delete and create is deleted
    and created again until every topic has its declared partitions.
    """
    expected = {t.name: partition_count(t, default_partitions) for t in TOPICS}
    admin = _admin(bootstrap_servers)
    try:
        wrong = [name for name in expected if name in set(admin.list_topics())]
        for _ in range(_RECREATE_ATTEMPTS):
            if wrong:
                admin.delete_topics(wrong)
            ensure_topics(bootstrap_servers, default_partitions)
            counts = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(list(expected))}
            wrong = [name for name, count in expected.items() if counts.get(name) != count]
            if not wrong:
                return
            log.warning("topics %s came back with other partition counts (auto-created); again", wrong)
        msg = f"could not recreate {wrong} with their partition counts {expected}; restart the stack"
        raise BrokerError(msg)
    finally:
        admin.close()
