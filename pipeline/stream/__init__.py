"""pipeline/stream."""
