from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2 as kafka_murmur2

from schemas.topics import murmur2, partition_for


@given(st.binary(max_size=64))
def test_murmur2_equals_kafka_clients(data: bytes) -> None:
    assert murmur2(data) == kafka_murmur2(data)


def test_partition_of_a_conversation_key_is_stable() -> None:
    key = "x:900100:p1"
    assert partition_for(key, 6) == (kafka_murmur2(key.encode()) & 0x7FFFFFFF) % 6
