"""HMAC-SHA256 signatures over raw request bodies, compared in constant time.

Every platform signs the *raw* bytes it sent: a parsed and re-serialised body would not match (Meta escapes
non-ASCII as ``\\uXXXX``), so the ingress verifies before it decodes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["hmac_base64", "hmac_hex", "signed_with"]

_PREFIX = "sha256="


def hmac_hex(secret: bytes, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, body)>`` (Meta's and Mastodon's header value)."""
    return _PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def hmac_base64(secret: bytes, body: bytes) -> str:
    """``sha256=<base64 HMAC-SHA256(secret, body)>`` (X's header value and CRC response token)."""
    return _PREFIX + base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode("ascii")


def signed_with(header: str | None, expected: str) -> bool:
    """Whether a signature header equals ``expected``, in constant time; a missing header is not signed.

    Hex digests compare case-insensitively (hex has no case); the comparison itself never short-cuts.
    """
    if not header:
        return False
    given = header.strip()
    if expected.startswith(_PREFIX) and all(c in "0123456789abcdef" for c in expected[len(_PREFIX) :]):
        given = given.lower()
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("ascii"))
