"""pipeline/runtime."""
