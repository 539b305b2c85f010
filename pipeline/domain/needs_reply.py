"""Does a citizen's message need a reply? Explainable rules for Malay, English and code-mixed text.

The rules, in order (the first that applies decides; the reason names the kind and the cue phrase):

1. Nothing left once links, ``@handles`` and ``ps1:`` pseudonyms are removed: ``empty``, ``tag only``,
   ``emoji only`` or ``link only``; no reply needed.
2. A ``spam`` cue (loans, "PM untuk harga", "click the link"): no reply needed.
3. A question asked laughing (a ``question word`` and a ``joke`` cue or 😂) with no emergency, request or
   problem: a joke, no reply needed.
4. An ``emergency``, ``question word`` or ``request`` cue: a reply is needed.
5. A ``problem`` cue (no water, rosak, not working, "dah 3 hari"): a reply is needed, unless the message also
   thanks, praises, wishes or jokes and nothing says the problem lasts (``persisting``: masih, still,
   belum): "Thanks JKR for fixing the potholes" is gratitude, "thanks, but still no water" a complaint.
6. A question mark: a reply is needed, unless thanks, praise, a greeting, a wish, a joke or an
   acknowledgement stands beside it ("Apa khabar semua?").
7. A ``thanks``, ``praise``, ``greeting``, ``wish``, ``joke`` or ``acknowledgement`` cue (or emoji): no reply.
8. Otherwise ``tag: mention`` (friends tagged with a comment) or ``statement``: no reply needed.

Cues are phrases of normalised tokens from the plain-text lexicons of :mod:`pipeline.domain.lexicons`:
lower case; links, handles and pseudonyms removed; apostrophes dropped (can't -> cant); letters repeated
three times squeezed (tolongggg -> tolong); reduplication split (banyak2 -> banyak banyak); slang and
abbreviations expanded (x/tak -> tidak, nk -> nak, mcm -> macam, tq -> thank you, pls -> please). The
language counts the words as written: Malay only ``ms``, English only ``en``, both or neither ``mixed``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from pipeline.domain.lexicons import ENGLISH, MALAY, NUMBER, WORD, Cue, Node, load

__all__ = ["ChunkCache", "Language", "Verdict", "classify", "clear_cache", "redact", "tokens"]

Language = Literal["ms", "en", "mixed"]

_REPLY_KINDS: Final = ("emergency", "question word", "request")  # in the order they decide
_SOCIAL_KINDS: Final = ("thanks", "praise", "greeting", "wish", "joke", "acknowledgement")
_EARNEST_KINDS: Final = ("emergency", "request", "problem")  # keep a question asked laughing a question
_PROBLEM_SOFTENERS: Final = ("thanks", "praise", "wish", "joke")
_BOUNDARY: Final = "."
_BOUNDARIES: Final = frozenset(".,!?;:")
_CACHE_LIMIT: Final = 100_000

# A whole e-mail address (ali.bin@gmail.com): before handles, whose pattern would keep its local part.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_HANDLE = re.compile(r"@ps1:[0-9a-f]{32}|ps1:[0-9a-f]{32}|@[\w.]+")
# With a scheme, www., or a bare host with a path (wa.me/6012..., t.me/channel).
_LINK = re.compile(r"https?://\S+|www\.\S+|[a-z0-9-]+(?:\.[a-z0-9-]+)+/\S*")
# The same, whatever the case: for text shown as written (examples), not lower-cased first.
_LINK_ANY_CASE = re.compile(_LINK.pattern, re.IGNORECASE)
_TOKEN = re.compile(r"[a-z0-9]+|[.,!?;:]")
_ELONGATED = re.compile(r"([a-z])\1{2,}")
# Pictographs, dingbats, arrows, flags (variation selectors and joiners need no match: they are no token).
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff]")


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a citizen's message needs an agency's reply, the cue that decided, and its language.

    Example: ``classify("bila air nak ada balik") == Verdict(True, "question word: bila nak", "ms")``.
    """

    needs_reply: bool
    reason: str
    language: Language


ChunkCache = dict[str, tuple[int, tuple[str, ...]]]
"""A whitespace-separated chunk as written -> (language and word bits, normalised tokens); cleared when full."""

_LEX: Final = load()
# The classifier's own cache: only classify() fills it, so other readers of text (topics over weeks of
# history) cannot evict the hot path's entries.
_CHUNKS: ChunkCache = {}
_VERDICTS: dict[tuple[bool, str, Language], Verdict] = {}


def classify(text: str | None) -> Verdict:
    """Whether ``text`` needs a reply, the deciding cue as ``"kind: phrase"``, and its language.

    Pure and deterministic; ``None`` and blank text are ``Verdict(False, "empty", "mixed")``.
    Example: ``classify("Terima kasih JKR!") == Verdict(False, "thanks: terima kasih", "ms")``.
    """
    if not text or text.isspace():
        return _verdict(False, "empty", "mixed")
    lowered = text.lower()
    mentions = links = 0
    if "@" in lowered or "ps1:" in lowered:
        lowered, mentions = _HANDLE.subn(" ", lowered)
    if "/" in lowered or "www." in lowered:
        lowered, links = _LINK.subn(" ", lowered)
    if "\n" in lowered:
        lowered = lowered.replace("\n", " . ")  # a line break ends a clause as a full stop does
    emoji = _EMOJI.findall(lowered) if not lowered.isascii() else ()
    tokens, bits = _normalise(lowered.split(), _CHUNKS)
    language: Language = "ms" if bits & 3 == MALAY else "en" if bits & 3 == ENGLISH else "mixed"
    if not bits & WORD:
        return _wordless(lowered, emoji=bool(emoji), mentions=mentions, links=links, language=language)
    found = _cues(tokens)
    for char in emoji:
        kind = _LEX.emoji.get(char)
        if kind is not None and kind not in found:
            found[kind] = char
    lasting = "problem" in found and not _LEX.persisting.isdisjoint(tokens)
    # Read on the cleaned text: a "?" of a link's query string asks nothing.
    asks = "?" in lowered or "\uff1f" in lowered
    needs_reply, reason = _decide(found, lasting, question_mark=asks, mentioned=mentions > 0)
    return _verdict(needs_reply, reason, language)


def clear_cache() -> None:
    """Forget the normalised chunks kept so far (at most ``_CACHE_LIMIT``): the next messages cost what new ones do.

    For benchmarks (a cold cache) and tests; verdicts never depend on it.
    """
    _CHUNKS.clear()


def tokens(text: str | None, cache: ChunkCache | None = None) -> list[str]:
    """The normalised tokens of ``text``, as :func:`classify` reads them (module docstring), e-mails aside.

    Links, e-mail addresses (whole, where classify's handle rule keeps their local part), ``@handles`` and ``ps1:``
    pseudonyms are removed; clause boundaries (punctuation, line breaks) are ``"."`` and numbers ``"<n>"``, so a
    caller can keep phrases within a clause. ``cache``: the caller's own chunk cache (e.g. one per ranking: texts
    repeat their words), cleared when it holds ``_CACHE_LIMIT`` chunks; without one nothing is cached. Never the
    classifier's: reading history must not evict the hot path's entries.
    Example: ``tokens("Air x ada @ps1:... 3 hari!") == ["air", "tidak", "ada", "<n>", "hari", "."]``.
    """
    if not text or text.isspace():
        return []
    lowered = text.lower()
    if "@" in lowered or "ps1:" in lowered:
        lowered = _HANDLE.sub(" ", _EMAIL.sub(" ", lowered))
    if "/" in lowered or "www." in lowered:
        lowered = _LINK.sub(" ", lowered)
    return _normalise(lowered.replace("\n", " . ").split(), {} if cache is None else cache)[0]


def redact(text: str) -> str:
    """``text`` as written, without links, e-mails, ``@handles`` and ``ps1:`` pseudonyms, whitespace collapsed.

    For showing a citizen's message (an example of a topic) without naming anyone or sending readers anywhere.
    Example: ``redact("@JKR_Official jalan rosak https://x.co/a") == "jalan rosak"``.
    """
    # E-mail addresses first: the handle pattern alone would strip only "@gmail.com" and show "ali.bin".
    return " ".join(_LINK_ANY_CASE.sub(" ", _HANDLE.sub(" ", _EMAIL.sub(" ", text))).split())


def _wordless(text: str, *, emoji: bool, mentions: int, links: int, language: Language) -> Verdict:
    """Rule 1: a message without a word. Only question marks ("???" under a post) still ask something."""
    if emoji:
        return _verdict(False, "emoji only", language)
    if mentions or links:
        return _verdict(False, "tag only" if mentions else "link only", language)
    if "?" in text or "\uff1f" in text:
        return _verdict(True, "question mark", language)
    return _verdict(False, "no words" if text.strip() else "empty", language)


def _normalise(chunks: list[str], cache: ChunkCache) -> tuple[list[str], int]:
    """The normalised tokens of ``chunks`` (clause boundaries as ``.``) and their language and word bits."""
    tokens: list[str] = []
    bits = 0
    cached = cache.get
    for chunk in chunks:
        entry = cached(chunk)
        if entry is None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            entry = cache[chunk] = _normalise_chunk(chunk)
        bits |= entry[0]
        tokens += entry[1]
    return tokens, bits


def _normalise_chunk(chunk: str) -> tuple[int, tuple[str, ...]]:
    bits = 0
    tokens: list[str] = []
    for token in _TOKEN.findall(chunk.replace("'", "").replace("\u2019", "")):
        if token in _BOUNDARIES:
            tokens.append(_BOUNDARY)
        elif token.isdigit():
            bits |= WORD
            tokens.append(NUMBER)
        else:
            # banyak2 -> banyak banyak; short ones (b2, rm2) are codes, not reduplication.
            reduplicated = token.endswith("2") and len(token) >= 4 and token[:-1].isalpha()
            for part in [token[:-1]] * 2 if reduplicated else [token]:
                word = _squeeze(part)
                bits |= WORD | _LEX.language.get(word, _guess_language(word))
                tokens += _LEX.expand.get(word, (word,))
    return bits, tuple(tokens)


def _squeeze(word: str) -> str:
    """``tolongggg`` -> ``tolong``, ``gooood`` -> ``good``: a listed spelling if there is one, else one letter."""
    if _LEX.knows(word) or not _ELONGATED.search(word):
        return word
    single = _ELONGATED.sub(r"\1", word)
    double = _ELONGATED.sub(r"\1\1", word)
    return double if _LEX.knows(double) and not _LEX.knows(single) else single


def _guess_language(word: str) -> int:
    # Suffixes only one of the two languages uses; an unknown word without one counts for neither.
    if len(word) >= 6 and word.endswith(("nya", "kan")):
        return MALAY
    if len(word) >= 6 and word.endswith(("tion", "ness", "ment")):
        return ENGLISH
    return 0


def _cues(tokens: list[str]) -> dict[str, str]:
    """The first phrase of every cue kind in ``tokens``; at each token the longest matching phrase wins."""
    trie = _LEX.cues
    found: dict[str, str] = {}
    count = len(tokens)
    covered = 0  # tokens before this index belong to a phrase already matched
    for i, token in enumerate(tokens):
        node = trie.get(token)
        if node is None or i < covered:
            continue
        starts_clause = i == 0 or tokens[i - 1] == _BOUNDARY
        # A leaf (most cues are one word) ends its only phrase here: no walk.
        ends = _ends(tokens, i, node) if node.children else [(i + 1, node.cues)]
        for end, cues in reversed(ends):
            ends_clause = end == count or tokens[end] == _BOUNDARY
            for kind, phrase, at_start, at_end in cues:
                if (starts_clause or not at_start) and (ends_clause or not at_end):
                    if kind != "not" and kind not in found:
                        found[kind] = phrase
                    covered = end
                    break
            if covered > i:
                break
    return found


def _ends(tokens: list[str], i: int, node: Node) -> list[tuple[int, list[Cue]]]:
    """Where the phrases starting at ``tokens[i]`` (its trie ``node``) end, and their cues: the trie walked."""
    ends = [(i + 1, node.cues)] if node.cues else []
    count = len(tokens)
    j = i + 1
    while j < count:
        step = node.children.get(tokens[j])
        if step is None:
            break
        node = step
        j += 1
        if node.cues:
            ends.append((j, node.cues))
    return ends


def _decide(found: dict[str, str], lasting: bool, *, question_mark: bool, mentioned: bool) -> tuple[bool, str]:
    """Apply rules 2-8 of the module docstring to the cues found (``lasting``: a persisting word is there)."""
    decided = _demand(found, lasting)
    if decided is not None:
        return decided
    for social in _SOCIAL_KINDS:
        if social in found:
            return False, f"{social}: {found[social]}"
    if question_mark:
        return True, "question mark"
    return False, "tag: mention" if mentioned else "statement"


def _demand(found: dict[str, str], lasting: bool) -> tuple[bool, str] | None:
    """Rules 2-5: spam, a question asked laughing, the kinds that ask for a reply, a problem told."""
    if "spam" in found:
        return False, f"spam: {found['spam']}"
    if "joke" in found and "question word" in found and found.keys().isdisjoint(_EARNEST_KINDS):
        return False, f"joke: {found['joke']}"
    for kind in _REPLY_KINDS:
        if kind in found:
            return True, f"{kind}: {found[kind]}"
    if "problem" in found and (lasting or found.keys().isdisjoint(_PROBLEM_SOFTENERS)):
        return True, f"problem: {found['problem']}"
    return None


def _verdict(needs_reply: bool, reason: str, language: Language) -> Verdict:
    # Verdicts are few (reasons x languages): one shared instance each, no allocation per message.
    key = (needs_reply, reason, language)
    verdict = _VERDICTS.get(key)
    if verdict is None:
        verdict = _VERDICTS[key] = Verdict(needs_reply, reason, language)
    return verdict
