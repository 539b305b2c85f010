#!/bin/bash
# Creates Serambi's topics on the compose Kafka cluster: replication 3 and min.insync.replicas 2 (a write is
# acknowledged once two brokers have it, so one broker may fail without losing or refusing data). Partitions and
# retention as declared in schemas/topics.py (tests/integration/test_compose.py checks they agree).
# Idempotent: an existing topic is left alone, but one with fewer partitions than SERAMBI_PARTITIONS fails the job,
# since producers would then pick partitions the topic does not have.
set -euo pipefail

bootstrap="${SERAMBI_KAFKA_BOOTSTRAP_SERVERS:?set SERAMBI_KAFKA_BOOTSTRAP_SERVERS}"
partitions="${SERAMBI_PARTITIONS:?set SERAMBI_PARTITIONS (the partition count of serambi.events.v1)}"
topics=/opt/kafka/bin/kafka-topics.sh

create() {  # name partitions retention_ms
    "$topics" --bootstrap-server "$bootstrap" --create --if-not-exists --topic "$1" --partitions "$2" \
        --replication-factor 3 --config min.insync.replicas=2 --config retention.ms="$3"
    local found
    found="$("$topics" --bootstrap-server "$bootstrap" --describe --topic "$1" | grep -c 'Partition: ')"
    if [ "$found" -lt "$2" ]; then
        echo "topic $1 has $found partitions, expected $2: add partitions with kafka-topics.sh --alter" \
             "(conversations then move partition), or set SERAMBI_PARTITIONS=$found" >&2
        exit 1
    fi
    echo "topic $1: $found partitions, replication 3, min.insync.replicas 2, retention.ms $3"
}

create serambi.events.v1 "$partitions" 604800000        # 7 days
create serambi.deadletter.v1 1 2592000000               # 30 days
create serambi.alerts.v1 1 2592000000                   # 30 days
create serambi.counts.v1 1 604800000                    # 7 days
