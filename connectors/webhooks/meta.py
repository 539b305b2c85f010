"""Meta's webhooks: Facebook Pages and Instagram on one callback, signed with the app secret.

Meta verifies a subscription with a GET (``hub.mode=subscribe``, ``hub.verify_token``, ``hub.challenge``) and
signs every POST with ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>``. The older
``X-Hub-Signature`` (SHA-1) header is ignored: a delivery signed only with it is not accepted.

>>> hook = MetaWebhook(app_secret=secret, verify_token=token, directory=d, pseudonymizer=p)  # doctest: +SKIP
>>> hook.verify(headers, body) and hook.parse(orjson.loads(body))  # doctest: +SKIP
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar

from pydantic import SecretStr

from connectors.core.contracts import Parsed, Rejected, WebhookResponse, WebhookSource
from connectors.webhooks.facebook import parse_facebook
from connectors.webhooks.graph import SOURCE
from connectors.webhooks.instagram import parse_instagram
from connectors.webhooks.signatures import hmac_hex, signed_with
from schemas.agency import Directory
from schemas.privacy import Pseudonymizer

__all__ = ["MetaWebhook"]

_SIGNATURE = "x-hub-signature-256"


class MetaWebhook(WebhookSource):
    """The Facebook Page ``feed`` and Instagram ``comments``/``mentions`` webhook of one Meta app.

    Args:
        app_secret: the Meta app's secret, the HMAC key of every delivery (must not be empty).
        verify_token: the token typed into the app's webhook settings; ``None`` refuses every subscription
            check (deliveries are still verified by signature).
        directory: which agency owns each Page and Instagram account, and who is an agency.
        pseudonymizer: keys the pseudonyms that reaction event ids hold instead of user ids.

    >>> hook.handshake({"hub.mode": "subscribe", "hub.verify_token": "t", "hub.challenge": "42"})  # doctest: +SKIP
    WebhookResponse(status=200, body='42', content_type='text/plain')
    """

    source: ClassVar[str] = SOURCE
    route: ClassVar[str] = "/webhooks/meta"
    signature_header: ClassVar[str] = "x-hub-signature-256"
    platforms: ClassVar[tuple[str, ...]] = ("facebook", "instagram")

    def __init__(
        self,
        *,
        app_secret: SecretStr,
        verify_token: SecretStr | None,
        directory: Directory,
        pseudonymizer: Pseudonymizer,
    ) -> None:
        secret = app_secret.get_secret_value().encode()
        if not secret:
            msg = "the Meta app secret is empty; set it to the app's secret (App settings > Basic)"
            raise ValueError(msg)
        self._secret = secret
        self._verify_token = verify_token.get_secret_value().encode() if verify_token is not None else None
        self._directory = directory
        self._facebook = partial(pseudonymizer.pseudonym, "facebook")
        self._instagram = partial(pseudonymizer.pseudonym, "instagram")

    def handshake(self, query: Mapping[str, str]) -> WebhookResponse | None:
        """Echo ``hub.challenge`` when ``hub.verify_token`` matches (200), else 403; not a check: ``None``."""
        if query.get("hub.mode") != "subscribe":
            return None
        given = query.get("hub.verify_token", "").encode("utf-8", "replace")
        if self._verify_token is None or not hmac.compare_digest(given, self._verify_token):
            return WebhookResponse(403, "verify token does not match")
        challenge = query.get("hub.challenge")
        if not challenge:
            return WebhookResponse(400, "hub.challenge is missing")
        return WebhookResponse(200, challenge)

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether ``x-hub-signature-256`` is the HMAC-SHA256 of ``body`` under the app secret."""
        return signed_with(headers.get(_SIGNATURE), hmac_hex(self._secret, body))

    def parse(self, payload: Any) -> list[Parsed]:
        """A delivery by its ``object``: ``page`` (Facebook) or ``instagram``; anything else is rejected.

        Meta's Instagram examples show deliveries inside a JSON array: an array's elements are parsed in turn.
        """
        if isinstance(payload, list):  # one level only: a nested array is no delivery
            return [item for element in payload for item in self._one(element)]
        return self._one(payload)

    def _one(self, payload: Any) -> list[Parsed]:
        obj = payload.get("object") if isinstance(payload, dict) else None
        if obj == "page":
            return parse_facebook(payload, self._directory, self._facebook)
        if obj == "instagram":
            return parse_instagram(payload, self._directory, self._instagram)
        if not isinstance(payload, dict):
            return [Rejected("delivery is not a JSON object", payload)]
        return [Rejected(f"object {repr(obj)[:40]} is not page or instagram", payload)]
