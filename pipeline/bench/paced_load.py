"""The freshness phase's load, in a process of its own.

``python -P -m pipeline.bench.paced_load FILE BOOTSTRAP RATE SECONDS``.

Loads the pickled :class:`pipeline.bench.data.SyntheticEvents` of the benchmark from ``FILE`` (so the load goes on
with the same conversations, state and all) and sends ``RATE`` events/s for ``SECONDS``. A process and not a
thread: generating and sending 5,000 events/s would otherwise take the worker's interpreter lock and be counted
in the latency it measures.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

from pipeline.bench.data import SyntheticEvents
from pipeline.kafka.broker import die_with_parent

__all__ = ["main"]


def main(argv: list[str]) -> None:
    """Send the load ``argv`` (events file, bootstrap servers, events/s, seconds) asks for."""
    die_with_parent()  # a benchmark killed outright must not leave its load running against a dead broker
    path, bootstrap, rate, seconds = Path(argv[0]), argv[1], int(argv[2]), float(argv[3])
    with path.open("rb") as file:
        data = pickle.load(file)  # noqa: S301 - written by the benchmark that started this process
    if not isinstance(data, SyntheticEvents):
        sys.exit(f"expected the benchmark's SyntheticEvents in {path}, got {type(data).__name__}")
    data.produce_paced(bootstrap, rate, seconds)


if __name__ == "__main__":
    main(sys.argv[1:])
