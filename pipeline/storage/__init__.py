"""pipeline/storage."""
