"""Webhook connectors: platforms push signed deliveries to ``serambi ingest`` (one module per platform)."""
