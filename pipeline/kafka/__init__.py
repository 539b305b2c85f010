"""Kafka plumbing outside the worker: topic admin and the embedded Tansu broker."""
