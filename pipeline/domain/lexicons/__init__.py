"""The plain-text lexicons of :mod:`pipeline.domain.needs_reply`, parsed once.

Files (``#`` starts a comment; loaded with ``importlib.resources``, so a wheel works without a checkout):

- ``normalise.txt``: ``token = expansion``, slang and abbreviations to the words the cues use (x -> tidak).
- ``cues_ms.txt``, ``cues_en.txt``: cue phrases under ``[kind]`` headers (``^`` clause start, ``$`` clause
  end, ``<n>`` any number); the kinds are :data:`KINDS`. ``[persisting]`` holds single words, found
  anywhere, even inside another cue's phrase ("still" in "still no water").
- ``emoji.txt``: ``emoji kind``, emoji that count as a cue.
- ``words_ms.txt``, ``words_en.txt``, ``words_neutral.txt``: words that decide the language (neutral ones
  count for neither); the words of the cue phrases count for their file's language unless listed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Final, NamedTuple

__all__ = ["ENGLISH", "KINDS", "MALAY", "NUMBER", "WORD", "Cue", "Lexicon", "Node", "load"]

MALAY: Final = 1
ENGLISH: Final = 2
WORD: Final = 4  # a token that is a word or number (bit set for every one, whatever its language)
NUMBER: Final = "<n>"
KINDS: Final = frozenset(
    {
        "not",
        "spam",
        "emergency",
        "question word",
        "request",
        "problem",
        "persisting",
        "thanks",
        "praise",
        "greeting",
        "wish",
        "joke",
        "acknowledgement",
    }
)


class Cue(NamedTuple):
    """One cue phrase, found at the trie node its last token reaches."""

    kind: str
    phrase: str  # the whole phrase, the reason's text: "question word: bila nak"
    at_start: bool  # only at the start of a clause
    at_end: bool  # only at the end of a clause


class Node(NamedTuple):
    """A trie node: the next tokens of longer phrases, and the cues whose phrase ends here."""

    children: dict[str, Node]
    cues: list[Cue]


@dataclass(frozen=True)
class Lexicon:
    """The parsed lexicons: expansions, the cue trie (first token -> node), word languages, emoji kinds."""

    expand: dict[str, tuple[str, ...]]
    cues: dict[str, Node]
    persisting: frozenset[str]
    language: dict[str, int]  # word -> MALAY, ENGLISH or 0 (neutral)
    emoji: dict[str, str]

    def knows(self, word: str) -> bool:
        """Whether ``word`` is a spelling some lexicon lists (elongated spellings are squeezed until one is)."""
        return word in self.expand or word in self.language


def load() -> Lexicon:
    """Parse the lexicon files of this package; a line that breaks the format raises ``ValueError``."""
    expand = {key: tuple(value.split()) for key, value in _pairs(_read("normalise.txt"), "=")}
    root = Node({}, [])
    language: dict[str, int] = {}
    persisting: set[str] = set()
    for name, code in (("cues_ms.txt", MALAY), ("cues_en.txt", ENGLISH)):
        for kind, line in _sections(name):
            words = line.strip("^$").split()
            if kind == "persisting":
                if len(words) != 1 or line != words[0]:
                    msg = f"{name}: [persisting] takes single words without ^ or $, not {line!r}"
                    raise ValueError(msg)
                persisting.add(line)
                language.setdefault(line, code)
                continue
            node = root
            for word in words:
                node = node.children.setdefault(word, Node({}, []))
                language.setdefault(word, code)
            phrase = " ".join("N" if word == NUMBER else word for word in words)  # "sudah N hari" in reasons
            node.cues.append(Cue(kind, phrase, line.startswith("^"), line.endswith("$")))
    for name, code in (("words_ms.txt", MALAY), ("words_en.txt", ENGLISH), ("words_neutral.txt", 0)):
        for word in (word for line in _lines(_read(name)) for word in line.split()):
            language[word] = code  # listed beats taken from a cue phrase; neutral, read last, beats both
    for key, expansion in expand.items():
        # A slang spelling not listed (camne, takpe, plz) has the language its expansion has, if that is one.
        codes = {language.get(word, 0) for word in expansion}
        if key not in language and len(codes) == 1:
            language[key] = codes.pop()
    emoji = dict(_pairs(_read("emoji.txt"), " "))
    unknown = set(emoji.values()) - KINDS
    if unknown:
        msg = f"emoji.txt names unknown cue kinds {sorted(unknown)}: use one of {sorted(KINDS)}"
        raise ValueError(msg)
    return Lexicon(expand, root.children, frozenset(persisting), language, emoji)


def _read(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def _lines(text: str) -> list[str]:
    # A comment runs from `#` to the end of the line; no cue, word or emoji contains `#`.
    return [stripped for line in text.splitlines() if (stripped := line.split("#", 1)[0].strip())]


def _pairs(text: str, separator: str) -> list[tuple[str, str]]:
    pairs = []
    for line in _lines(text):
        key, found, value = line.partition(separator)
        if not found or not value.strip():
            msg = f"lexicon line {line!r} is not `key{separator}value`: fix it in pipeline/domain/lexicons"
            raise ValueError(msg)
        pairs.append((key.strip(), value.strip()))
    return pairs


def _sections(name: str) -> list[tuple[str, str]]:
    kind, entries = "", []
    for line in _lines(_read(name)):
        if line.startswith("[") and line.endswith("]"):
            kind = line[1:-1]
            if kind not in KINDS:
                msg = f"{name}: unknown cue kind [{kind}]; use one of {sorted(KINDS)}"
                raise ValueError(msg)
        elif not kind:
            msg = f"{name}: cue {line!r} comes before any [kind] header"
            raise ValueError(msg)
        else:
            entries.append((kind, line))
    return entries
