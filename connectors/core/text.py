"""Text helpers every platform connector shares: links in a message, HTML statuses as plain text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text", "links_in"]

# http(s) URLs up to whitespace or a closing bracket/quote; trailing punctuation is a sentence's, not the URL's.
_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
_TRAILING = ".,;:!?"
_BLOCKS = frozenset({"p", "div", "li", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6"})


def links_in(text: str | None) -> tuple[str, ...]:
    """The http(s) links in ``text``, in order, each once: they decide whether a post is *pull*.

    >>> links_in("Semak https://jkm.gov.my/bantuan. Terima kasih")
    ('https://jkm.gov.my/bantuan',)
    """
    if not text:
        return ()
    found = (match.group(0).rstrip(_TRAILING) for match in _URL.finditer(text))
    return tuple(dict.fromkeys(link for link in found if link))


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS and self.parts:
            self.parts.append("\n\n")
        elif tag == "a":
            self.hrefs.extend(value for name, value in attrs if name == "href" and value)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(markup: str | None) -> tuple[str, tuple[str, ...]]:
    """Plain text of an HTML status (paragraphs and line breaks kept) and the links of its anchors.

    Mastodon shortens displayed URLs (``<span class="invisible">``), so links come from ``href`` and the text's
    own URLs, not from the visible text alone.

    >>> html_to_text('<p>Baca <a href="https://moh.gov.my/x">moh.gov.my/x</a></p><p>Terima kasih</p>')
    ('Baca moh.gov.my/x\\n\\nTerima kasih', ('https://moh.gov.my/x',))
    """
    if not markup:
        return "", ()
    parser = _Text()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts).strip()  # entities already decoded (convert_charrefs)
    return text, tuple(dict.fromkeys((*parser.hrefs, *links_in(text))))
