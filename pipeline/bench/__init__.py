"""pipeline/bench."""
