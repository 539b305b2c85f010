"""connectors/simulator."""
