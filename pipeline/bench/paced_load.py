"""The freshness phase's load, in a process of its own: ``python -m pipeline.bench.paced_load BOOTSTRAP RATE SECONDS``.

Reads the pickled :class:`pipeline.bench.data.SyntheticEvents` of the benchmark on standard input (so the load goes
on with the same conversations, state and all) and sends ``RATE`` events/s for ``SECONDS``. A process and not a
thread: generating and sending 5,000 events/s would otherwise take the worker's interpreter lock and be counted
in the latency it measures.
"""

from __future__ import annotations

import pickle
import signal
import sys

from pipeline.bench.data import SyntheticEvents

__all__ = ["main"]


def main(argv: list[str]) -> None:
    """Send the load ``argv`` (bootstrap servers, events/s, seconds) asks for, from the events on stdin."""
    bootstrap, rate, seconds = argv[0], int(argv[1]), float(argv[2])
    # A Ctrl-C reaches the whole process group; the benchmark stops this process itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    data = pickle.load(sys.stdin.buffer)  # noqa: S301 - written by the benchmark that started this process
    if not isinstance(data, SyntheticEvents):
        sys.exit(f"expected the benchmark's SyntheticEvents on stdin, got {type(data).__name__}")
    data.produce_paced(bootstrap, rate, seconds)


if __name__ == "__main__":
    main(sys.argv[1:])
