"""``serambi bench classify``: CPU per citizen message of the needs-a-reply classifier, cold and warm cache.

The worker classifies every citizen message as it decodes it (:mod:`pipeline.stream.decode`), so the classifier
is on the hot path. It keeps the normalised form of the whitespace-separated chunks it has seen (a bounded cache,
:mod:`pipeline.domain.needs_reply`): the first time a word is seen costs more than later ones. *Cold* is one pass
over the texts after the cache was cleared (what a worker pays just after it starts, and after each time the full
cache is cleared); *warm* is the best of further passes (the steady state: people keep using the same words).
Measured in process CPU time, steadier than wall time on a shared machine.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from pipeline.bench.data import SyntheticEvents
from pipeline.domain.needs_reply import classify, clear_cache

__all__ = ["ClassifyCost", "citizen_texts", "corpus_texts", "measure_classify", "simulated_texts"]

_WARM_PASSES = 3


@dataclass(frozen=True)
class ClassifyCost:
    """CPU microseconds per message of :func:`pipeline.domain.needs_reply.classify` over ``messages`` texts."""

    name: str
    messages: int
    cold_us_per_message: float
    warm_us_per_message: float

    def line(self) -> str:
        """One line for the terminal."""
        return (
            f"{self.name}: {self.messages:,} messages, {self.cold_us_per_message:.2f} us/message cold cache, "
            f"{self.warm_us_per_message:.2f} warm"
        )


def measure_classify(name: str, texts: Sequence[str | None]) -> ClassifyCost:
    """Classify ``texts`` once after clearing the classifier's cache (cold), then again (warm: the best pass)."""
    clear_cache()
    cold = _pass_seconds(texts)
    warm = min(_pass_seconds(texts) for _ in range(_WARM_PASSES))
    scale = 1e6 / max(len(texts), 1)
    return ClassifyCost(name, len(texts), cold * scale, warm * scale)


def citizen_texts(values: Iterable[bytes]) -> list[str | None]:
    """The texts of the citizen messages in batch records (``values``), which the worker classifies."""
    return [
        event.get("text")
        for value in values
        for event in orjson.loads(value)["events"]
        if event.get("type") == "interaction" and event.get("author_role") == "citizen"
    ]


def simulated_texts(events: int, seed: int = 1, partitions: int = 12) -> list[str | None]:
    """The citizen messages' texts among ``events`` events of ``serambi bench``'s synthetic traffic."""
    data = SyntheticEvents(partitions, 500, seed, events=events)
    return citizen_texts(value for _, value in data.batch_records(events))


def corpus_texts(path: Path) -> list[str]:
    """The ``text`` of every JSON line of ``path`` (e.g. ``tests/fixtures/listening/needs_reply.jsonl``).

    A line that is not a JSON object with a string ``text`` raises ``ValueError`` naming it: fix the file.
    """
    texts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            row = None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            msg = f"{path}:{number}: not a JSON object with a string text; fix or remove the line"
            raise ValueError(msg)
        texts.append(row["text"])
    return texts


def _pass_seconds(texts: Sequence[str | None]) -> float:
    started = time.process_time()
    for text in texts:
        classify(text)
    return time.process_time() - started
