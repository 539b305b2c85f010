"""connectors/files."""
