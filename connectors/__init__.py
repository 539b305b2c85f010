"""Connectors: turn platform activity into canonical events on Kafka."""
