"""pipeline/storage/sql."""
