"""Streaming connectors: long-lived platform streams resumed from a cursor after every reconnect."""
