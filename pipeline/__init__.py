"""Serambi's stream pipeline: settings, embedded stack, Faust worker, ClickHouse store, CLI."""
