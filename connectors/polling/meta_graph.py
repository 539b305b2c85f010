"""Meta Graph API reads that the Facebook and Instagram pollers share: errors, usage headers, paging, times.

- :func:`parse_error`: the envelope ``{"error": {"message", "type", "code", "error_subcode", "is_transient"}}``.
- :func:`parse_usage`: ``X-App-Usage`` ``{"call_count": %, "total_cputime": %, "total_time": %}`` and
  ``X-Business-Use-Case-Usage`` ``{"<id>": [{"type", "call_count", ..., "estimated_time_to_regain_access"}]}``
  (percentages 0-100; ``estimated_time_to_regain_access`` is in **minutes**). Meta throttles at 100 on any field.
- :func:`paging_of`: ``paging.next`` says another page exists (an empty page can still carry one); the position
  kept is ``paging.cursors.after``, else the paging parameters of ``next`` (``until``, ``__paging_token``, ...).
  Never the ``next`` URL itself: Meta echoes the ``access_token`` in it, and positions go to the cursor store.
- :func:`graph_time`: Graph's ``2024-05-01T10:00:00+0000`` (an offset without a colon) as aware UTC.
- :class:`GraphSession`: one GET against the Graph API that returns a JSON object or raises what the caller
  does next. Rate limits (error codes 4, 17, 32, 613, 80000-80099; usage at 100; HTTP 429) raise
  :class:`Retry` after ``estimated_time_to_regain_access`` (else :data:`THROTTLE_FLOOR_SECONDS`) plus back-off
  jitter; a 200 whose usage is at 100 is returned, and the *next* call waits. Token errors (190, 102, 2500) and
  permission errors (10, 200-299) raise :class:`AccountError`; a bad parameter or unknown object (100, 803) raises
  :class:`InvalidRequest` (an ``AccountError`` a poller may catch for a deleted post or a stale cursor). 5xx,
  unknown codes, network failures and bodies that are not a JSON object raise ``Retry`` with back-off.

The token goes in an ``Authorization: Bearer`` header (never in a URL), with ``appsecret_proof`` when the app
secret is given; no reason, log line or cursor ever holds it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, NoReturn
from urllib.parse import parse_qsl, urlsplit

import orjson
from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.clock import Clock
from connectors.core.errors import AccountError, InvalidInput, Retry, Unreachable
from connectors.core.http import HttpClient, HttpResponse
from schemas.timeutil import event_time

__all__ = [
    "GRAPH_BASE",
    "THROTTLE_FLOOR_SECONDS",
    "GraphError",
    "GraphSession",
    "InvalidRequest",
    "Paging",
    "Usage",
    "graph_time",
    "paging_of",
    "parse_error",
    "parse_usage",
]

GRAPH_BASE: Final = "https://graph.facebook.com/v19.0"
THROTTLE_FLOOR_SECONDS: Final = 60.0
"""The wait on a rate limit without Meta's estimate: calls while throttled only prolong the throttle."""
_RATE_CODES: Final = frozenset({4, 17, 32, 613})
_TOKEN_CODES: Final = frozenset({102, 190, 2500})
_INVALID_CODES: Final = frozenset({100, 803})
_TRANSIENT_CODES: Final = frozenset({1, 2})
_PAGING_KEYS: Final = ("after", "until", "since", "__paging_token", "offset")
_GRAPH_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[+-]\d{2}:?\d{2}|Z)", re.ASCII)
_USAGE_HEADERS: Final = ("x-app-usage", "x-business-use-case-usage", "x-page-usage")
_REGAIN: Final = "estimated_time_to_regain_access"


class InvalidRequest(AccountError):
    """Graph refused a parameter or does not know an object (codes 100, 803).

    An account error, unless the caller knows better: a post deleted since it was listed, a stale paging cursor.
    """

    def __init__(self, account: str, reason: str, code: int) -> None:
        super().__init__(account, reason)
        self.code = code


@dataclass(frozen=True)
class GraphError:
    """Graph's error envelope: ``code``, ``subcode``, ``message``, ``transient`` (``is_transient``)."""

    code: int | None
    subcode: int | None
    message: str
    transient: bool = False


@dataclass(frozen=True)
class Usage:
    """The usage headers of one answer.

    Args:
        percent: the highest percentage of any usage field (``None``: no usage header).
        regain_seconds: the longest ``estimated_time_to_regain_access``, in seconds (``None``: none given).
    """

    percent: float | None = None
    regain_seconds: float | None = None

    @property
    def throttled(self) -> bool:
        """Whether Meta throttles the caller now (any field at 100, or time to regain access)."""
        return (self.percent is not None and self.percent >= 100) or bool(self.regain_seconds)


@dataclass(frozen=True)
class Paging:
    """Where a list answer leaves off: ``more`` (``paging.next`` present) and the position to ask from next."""

    more: bool = False
    position: dict[str, str] | None = None


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        return None
    return value if 0 <= value < 1e9 else None  # NaN, infinity and nonsense are no usage


def _usage_records(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, dict) and not any(isinstance(v, list) for v in value.values()):
        return [value]  # X-App-Usage: one flat object
    if not isinstance(value, dict):
        return []
    return [
        record
        for records in value.values()
        if isinstance(records, list)
        for record in records
        if isinstance(record, dict)
    ]


def parse_usage(headers: Mapping[str, str]) -> Usage:
    """The usage headers (names lower-case) of an answer; malformed headers count as absent. Pure."""
    percents: list[float] = []
    regains: list[float] = []
    for name in _USAGE_HEADERS:
        raw = headers.get(name)
        if not raw:
            continue
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        for record in _usage_records(value):
            for key, field in record.items():
                number = _number(field)
                if number is not None and key == _REGAIN:
                    regains.append(number * 60)  # Meta gives minutes
                elif number is not None:
                    percents.append(number)
    return Usage(max(percents, default=None), max(regains, default=None) or None)


def _int(raw: Any) -> int | None:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) < 12:
        return int(raw)
    return None


def parse_error(body: Any) -> GraphError | None:
    """Graph's error envelope in a decoded body, or ``None`` when the body is not one. Pure."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    message = error.get("message")
    return GraphError(
        code=_int(error.get("code")),
        subcode=_int(error.get("error_subcode")),
        message=message[:300] if isinstance(message, str) else "no message",
        transient=error.get("is_transient") is True,
    )


def _next_params(url: str) -> dict[str, str] | None:
    try:
        query = parse_qsl(urlsplit(url).query)
    except ValueError:
        return None
    found = {key: value for key, value in query if key in _PAGING_KEYS and value}
    return found or None


def paging_of(body: Any) -> Paging:
    """The paging of a list answer (``data`` plus ``paging``); no paging is the end of the list. Pure."""
    paging = body.get("paging") if isinstance(body, dict) else None
    if not isinstance(paging, dict):
        return Paging()
    following = paging.get("next")
    more = isinstance(following, str) and bool(following)
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    if isinstance(after, str) and after:
        return Paging(more, {"after": after})
    position = _next_params(following) if isinstance(following, str) and more else None
    return Paging(more and position is not None, position)  # a next without a position cannot be followed


def graph_time(raw: Any, name: str) -> datetime:
    """Graph's ``2024-05-01T10:00:00+0000`` as aware UTC; :class:`InvalidInput` naming ``name`` otherwise. Pure."""
    if not isinstance(raw, str) or not _GRAPH_TIME.fullmatch(raw):
        msg = f"{name} {repr(raw)[:40]} is not a Graph time like 2024-05-01T10:00:00+0000"
        raise InvalidInput(msg)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        msg = f"{name} {raw!r} is not a time: {exc}"
        raise InvalidInput(msg[:200]) from None
    try:
        return event_time(moment, name)
    except ValueError as exc:
        raise InvalidInput(str(exc)[:200]) from None


class GraphSession:
    """GETs against the Graph API for one account, turning Meta's signals into ``Retry``/``AccountError``.

    Args:
        http: the HTTP client.
        base_url: e.g. ``https://graph.facebook.com/v19.0``.
        token: the Page (or Instagram) access token; ``None`` fails every call with an ``AccountError``.
        account_id: the account, named in errors.
        label: the platform, named in reasons.
        clock: turns a throttle into a wait for the next call.
        backoff: waits the platform does not give.
        app_secret: when given, every call carries ``appsecret_proof`` (apps that require it refuse calls without).
    """

    def __init__(  # noqa: PLR0913 - one session holds everything a Graph call needs
        self,
        http: HttpClient,
        base_url: str,
        token: SecretStr | None,
        *,
        account_id: str,
        label: str,
        clock: Clock,
        backoff: Backoff,
        app_secret: SecretStr | None = None,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._token = token
        self._proof = (
            hmac.new(
                app_secret.get_secret_value().encode(), token.get_secret_value().encode(), hashlib.sha256
            ).hexdigest()
            if app_secret is not None and token is not None
            else None
        )
        self.account_id = account_id
        self.label = label
        self._clock = clock
        self.backoff = backoff
        self._blocked_until: datetime | None = None
        self.usage_percent: float | None = None
        """The highest usage percentage Meta reported last (``None`` before any report)."""

    def get(self, path: str, params: Mapping[str, str], *, listing: bool = True) -> dict[str, Any]:
        """GET ``base_url/path`` with ``params``: the JSON object answered (with a ``data`` list when ``listing``).

        Raises :class:`Retry`, :class:`InvalidRequest` or :class:`AccountError` as the module docstring says.
        """
        if self._token is None:
            raise AccountError(self.account_id, f"{self.label}: no access token configured")
        now = self._clock.now()
        if self._blocked_until is not None and now < self._blocked_until:
            wait = (self._blocked_until - now).total_seconds()
            raise Retry(after=wait, reason=f"{self.label}: Meta reported usage at 100%")
        query = dict(params) if self._proof is None else {**params, "appsecret_proof": self._proof}
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"}
        try:
            response = self._http.get(f"{self._base}/{path.lstrip('/')}", params=query, headers=headers)
        except Unreachable as exc:
            raise Retry(after=self.backoff.next(), reason=f"{self.label}: {exc}") from exc
        usage = parse_usage(response.headers)
        self.usage_percent = usage.percent if usage.percent is not None else self.usage_percent
        body = _decoded(response)
        error = parse_error(body)
        if error is not None or response.status >= 400:
            self._fail(response, error, usage)
        if not isinstance(body, dict) or (listing and not isinstance(body.get("data"), list)):
            shape = "a JSON object with a data list" if listing else "a JSON object"
            raise Retry(
                after=self.backoff.next(), reason=f"{self.label}: {path} answered {response.status}, not {shape}"
            )
        self.backoff.reset()
        if usage.throttled:  # the answer is good; the next call waits until Meta lets the account back in
            self._blocked_until = now + timedelta(seconds=usage.regain_seconds or THROTTLE_FLOOR_SECONDS)
        return body

    def _fail(self, response: HttpResponse, error: GraphError | None, usage: Usage) -> NoReturn:
        code = error.code if error is not None else None
        said = f"{error.message} (code {code})" if error is not None else f"HTTP {response.status}"
        reason = f"{self.label}: {said}"
        if code in _RATE_CODES or (code is not None and 80000 <= code < 80100) or response.status == 429:
            raise Retry(after=self._rate_wait(usage, response), reason=reason)
        if code in _TOKEN_CODES or code == 10 or (code is not None and 200 <= code < 300):
            raise AccountError(self.account_id, reason)
        if code in _INVALID_CODES:
            raise InvalidRequest(self.account_id, reason, code)
        if usage.throttled:
            raise Retry(after=self._rate_wait(usage, response), reason=reason)
        # 5xx, codes 1 and 2, is_transient, and codes this module does not know: a human is not needed yet.
        raise Retry(after=self.backoff.next(), reason=reason)

    def _rate_wait(self, usage: Usage, response: HttpResponse) -> float:
        jitter = self.backoff.next()
        if usage.regain_seconds:
            return usage.regain_seconds + jitter
        retry_after = _number(response.header("retry-after"))
        return (retry_after if retry_after else THROTTLE_FLOOR_SECONDS) + jitter


def _decoded(response: HttpResponse) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
