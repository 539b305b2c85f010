"""pipeline/web."""
