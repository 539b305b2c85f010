"""What citizens ask an agency about: the terms of a window's messages that set them apart from its history.

A message's *terms* are its words and two-word phrases after :func:`pipeline.domain.needs_reply.tokens`
normalises it (lower case; links, e-mail addresses, ``@handles`` and ``ps1:`` pseudonyms removed; abbreviations
expanded) and stop words go: the Malay and English lists of the maintained ``stopwordsiso`` package, less the
content words its news-counted Malay list holds (``lexicons/topics_keep.txt``: air, paras, jalan...), plus the
particles of social-media Malay it lacks (``lexicons/topics_stop.txt``: lah, je, nak...). A phrase is two
adjacent words kept in one clause. Numbers and one-letter words are no terms. Counts are *messages* containing
a term, so one message repeating a word counts once.

Each term is scored by the weighted log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi and
Quinn 2008, "Fightin' Words", eq. 22): the window's message-term counts ``y_w`` (total ``n``) against the
history's ``h_w`` (total ``m``), with the prior ``a_w = y_w + h_w + 0.01`` (the agency's own usage of both
periods, total ``a0``)::

    delta_w = log((y_w + a_w) / (n + a0 - y_w - a_w)) - log((h_w + a_w) / (m + a0 - h_w - a_w))
    score_w = delta_w / sqrt(1 / (y_w + a_w) + 1 / (h_w + a_w))

a z-score: a term used much more this window than before, often enough to be no accident, scores high. Only
terms in at least ``min_count`` messages scoring at least ``min_score`` (default 1: clearly more than before)
are topics; an agency without history (new to Serambi) has no contrast, so its most frequent terms are, each
scored 0. A word is left out when a phrase
holding it is a topic found in at least :data:`SUBSUMED` of its messages ("paras air" says what "paras" does).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final

import stopwordsiso

from pipeline.domain.needs_reply import ChunkCache, redact, tokens

__all__ = ["SUBSUMED", "Message", "Topic", "log_odds", "rank_topics", "stop_words", "terms"]

SUBSUMED: Final = 0.8
_PRIOR_FLOOR: Final = 0.01  # a term absent from both periods still has a (tiny) prior
_EXAMPLE_CHARS: Final = 200


@dataclass(frozen=True, slots=True)
class Message:
    """A citizen's message of the window: its text as stored, and whether it was still open at the window's end."""

    text: str
    unanswered: bool = False


@dataclass(frozen=True, slots=True)
class Topic:
    """A term that characterises the window: its score, how many messages hold it now and in the previous window.

    ``rise`` is ``count - previous``; ``examples`` are a few of its messages, unanswered ones first, redacted.
    """

    term: str
    score: float
    count: int
    unanswered: int
    previous: int
    rise: int
    examples: tuple[str, ...]


@cache
def stop_words() -> frozenset[str]:
    """Malay and English stop words of ``stopwordsiso``, less ``topics_keep.txt``, plus ``topics_stop.txt``."""
    keep = _words("topics_keep.txt")
    extra = _words("topics_stop.txt")
    return frozenset((stopwordsiso.stopwords(["ms", "en"]) - keep) | extra)


def _words(name: str) -> frozenset[str]:
    text = resources.files("pipeline.domain.lexicons").joinpath(name).read_text(encoding="utf-8")
    return frozenset(word for line in text.splitlines() for word in line.split("#", 1)[0].split())


def terms(text: str, stop: frozenset[str] | None = None, chunks: ChunkCache | None = None) -> set[str]:
    """The words and two-word phrases of ``text`` once normalised, without stop words (module docstring).

    ``chunks``: a chunk cache of the caller's (:func:`pipeline.domain.needs_reply.tokens`; never the classifier's).
    Example: ``terms("Paras air naik lagi!") == {"paras", "air", "naik", "paras air", "air naik"}``.
    """
    stop = stop_words() if stop is None else stop
    found: set[str] = set()
    before: str | None = None  # the previous kept word, if it stood right before this one in the clause
    for token in tokens(text, chunks):
        # Clause boundaries ("."), numbers ("<n>", "2026") and one-letter words end a phrase and are no term.
        if len(token) < 2 or not token.isalnum() or token.isdigit() or token in stop:
            before = None
            continue
        found.add(token)
        if before is not None and before != token:
            found.add(f"{before} {token}")
        before = token
    return found


def log_odds(window: Counter[str], history: Counter[str]) -> dict[str, float]:
    """The z-scored weighted log-odds of every term of ``window`` against ``history`` (module docstring)."""
    prior = {term: window[term] + history[term] + _PRIOR_FLOOR for term in window}
    a0 = sum(window.values()) + sum(history.values()) + _PRIOR_FLOOR * len(prior)
    n, m = sum(window.values()), sum(history.values())
    scores = {}
    for term, y in window.items():
        a, h = prior[term], history[term]
        delta = math.log((y + a) / (n + a0 - y - a)) - math.log((h + a) / (m + a0 - h - a))
        scores[term] = delta / math.sqrt(1 / (y + a) + 1 / (h + a))
    return scores


def rank_topics(  # noqa: PLR0913 - the three periods and the four limits
    window: Sequence[Message],
    previous: Iterable[str],
    history: Iterable[str],
    *,
    top: int = 10,
    min_count: int = 3,
    min_score: float = 1.0,
    examples: int = 3,
) -> list[Topic]:
    """The ``top`` topics of ``window`` against ``history``, best first; ``previous``: the window before.

    ``min_count`` and ``min_score`` are the module docstring's; ``examples``: how many messages each shows.
    ``history`` holds the texts the window is compared with (the previous window's among them); ties are
    broken by count, then term. Example: ``rank_topics([Message("banjir")] * 3, [], ["jalan rosak"])[0].term ==
    "banjir"``.
    """
    stop = stop_words()
    # One cache for this ranking (history texts repeat their words), dropped with it: the classifier's stays hot.
    chunks: ChunkCache = {}
    found = [terms(message.text, stop, chunks) for message in window]
    counts = Counter(term for these in found for term in these)
    before = Counter(term for text in history for term in terms(text, stop, chunks))
    # Without history there is nothing to contrast with: every score is 0 and the most frequent terms are topics.
    scores = log_odds(counts, before) if before else dict.fromkeys(counts, 0.0)
    floor = min_score if before else -math.inf
    candidates = [t for t, c in counts.items() if c >= min_count and scores[t] >= floor]
    phrases = [t for t in candidates if " " in t]
    kept = [t for t in candidates if " " in t or not _subsumed(t, counts, phrases)]
    kept.sort(key=lambda t: (-scores[t], -counts[t], t))
    chosen = kept[:top]
    wanted = set(chosen)
    earlier = Counter(term for text in previous for term in terms(text, stop, chunks) if term in wanted)
    return [_topic(term, scores[term], found, window, earlier[term], examples) for term in chosen]


def _subsumed(word: str, counts: Counter[str], phrases: list[str]) -> bool:
    return any(word in phrase.split() and counts[phrase] >= SUBSUMED * counts[word] for phrase in phrases)


def _topic(  # noqa: PLR0913 - a topic's parts
    term: str, score: float, found: list[set[str]], window: Sequence[Message], previous: int, examples: int
) -> Topic:
    holding = [message for these, message in zip(found, window, strict=True) if term in these]
    unanswered = sum(message.unanswered for message in holding)
    shown: list[str] = []
    for message in sorted(holding, key=lambda message: not message.unanswered):  # stable: input order kept
        text = redact(message.text)
        text = text if len(text) <= _EXAMPLE_CHARS else text[: _EXAMPLE_CHARS - 1] + "…"
        if text and text not in shown:
            shown.append(text)
        if len(shown) >= examples:
            break
    count = len(holding)
    return Topic(term, round(score, 3), count, unanswered, previous, count - previous, tuple(shown))
