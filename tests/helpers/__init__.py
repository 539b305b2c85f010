"""Test helpers: factories, live stacks, processes and Kafka readers (no test module imports another)."""
