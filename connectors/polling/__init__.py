"""Polling connectors: pages of platform APIs behind cursors that survive restarts."""
