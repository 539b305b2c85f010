"""Canonical event models, the agency directory, Kafka topics and ClickHouse DDL of Serambi."""
