"""Keyed pseudonyms for citizens, and scrubbing of payloads that go to the dead-letter topic."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from pydantic import SecretStr

__all__ = ["PREFIX", "Pseudonymizer"]

PREFIX = "ps1:"
_AUTHOR_KEYS = frozenset({"author_id", "parent_author_id", "user_id", "from_id", "sender_id"})
# Free text we cannot parse may still hold ids, handles or e-mail addresses: mask them all.
_MASK = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|@\w+|\d{5,}")
_AUTHOR_FIELD = re.compile(r'"(author_id|parent_author_id|user_id|from_id|sender_id)"\s*:\s*"[^"]*"')
# @handle (dots inside allowed: instagram), optionally @server (mastodon); not pseudonyms, not URL paths.
# Only a word character (or "/" of a URL path) before the "@" rules a mention out: in an e-mail
# (a.b@c.my) the "@" follows a word character, while ".@handle", "-@handle" or "(@handle)" are
# mentions (".@handle" is how X users make a reply public).
_MENTION = re.compile(r"(?<![\w/])@(?!ps1:[0-9a-f]{32}(?!\w))(\w(?:[\w.]{0,62}\w)?(?:@[\w-]+(?:\.[\w-]+)+)?)")


class Pseudonymizer:
    """HMAC-SHA256 pseudonyms: the same citizen gets the same pseudonym, never their id.

    >>> p = Pseudonymizer(SecretStr("k"))
    >>> p.pseudonym("x", "12345").startswith("ps1:")
    True
    """

    def __init__(self, key: SecretStr) -> None:
        secret = key.get_secret_value().encode()
        if len(secret) < 1:
            msg = "pseudonymisation key is empty; set SERAMBI_PSEUDONYM_KEY"
            raise ValueError(msg)
        self._key = secret

    @property
    def fingerprint(self) -> str:
        """A short keyed digest that tells two processes whether they share the key (reveals nothing of it)."""
        return hmac.new(self._key, b"serambi-key-fingerprint", hashlib.sha256).hexdigest()[:16]

    def pseudonym(self, platform: str, author_id: str) -> str:
        """Pseudonym of one platform's user id; a value that already is one is kept."""
        if author_id.startswith(PREFIX):
            return author_id
        mac = hmac.new(self._key, f"{platform}:{author_id}".encode(), hashlib.sha256)
        return PREFIX + mac.hexdigest()[:32]

    def scrub(self, raw: Any, platform: str = "unknown") -> Any:
        """A copy of a JSON value with every author-like field pseudonymised."""
        if isinstance(raw, dict):
            plat = str(raw.get("platform", platform))
            return {
                k: self.pseudonym(plat, str(v)) if k in _AUTHOR_KEYS and v is not None else self.scrub(v, plat)
                for k, v in raw.items()
            }
        if isinstance(raw, list):
            return [self.scrub(v, platform) for v in raw]
        if isinstance(raw, str):
            return self.mask_text(raw)
        return raw

    def mentions(self, platform: str, text: str, keep: frozenset[str]) -> str:
        """Text with every @handle not in ``keep`` (lower-case agency handles) replaced by its pseudonym."""

        def replace(match: re.Match[str]) -> str:
            handle = match.group(1)
            return match.group(0) if handle.lower() in keep else "@" + self.pseudonym(platform, handle)

        return _MENTION.sub(replace, text)

    @staticmethod
    def mask_text(text: str) -> str:
        """Free text with numbers of 5+ digits, @handles, e-mail addresses and author fields masked."""
        return _MASK.sub("***", _AUTHOR_FIELD.sub(r'"\1": "***"', text))
