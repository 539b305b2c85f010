"""connectors/core."""
