"""pipeline/kafka."""
