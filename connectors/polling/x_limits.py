"""What an X API v2 answer that is not a page tells the caller to do, and X's rate-limit headers (pure).

Every answer carries ``x-rate-limit-limit``, ``x-rate-limit-remaining`` and ``x-rate-limit-reset`` (**epoch
seconds**), per endpoint and per 15-minute window. A 429's body is RFC 7807 problem JSON
(``{"title": "Too Many Requests", "type": "about:blank", "status": 429, ...}``); X's docs also show the v1.1-style
``{"errors": [{"code": 88, "message": "Rate limit exceeded"}]}``: both are a rate limit. The monthly usage cap is a
429 ``UsageCapExceeded`` (``type`` ``.../problems/usage-capped``). :func:`failure_of` sorts an answer into a
:class:`FailureKind`; the connectors turn it into ``Retry``, ``AccountError`` or a back-off.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

__all__ = [
    "MAX_WAIT_SECONDS",
    "Failure",
    "FailureKind",
    "describe_error",
    "failure_of",
    "rate_limit_remaining",
    "rate_limit_wait",
]

MAX_WAIT_SECONDS: Final = 86_400.0
"""The longest platform-given wait obeyed at once: a reset a month away (a usage cap) is re-checked daily."""
_DIGITS = re.compile(r"[0-9]{1,20}")
_RATE_CODES: Final = frozenset({88})  # v1.1-style "Rate limit exceeded", shown by X's docs for v2 too
_TOKEN_CODES: Final = frozenset({32, 89, 215})  # v1.1-style: could not authenticate / bad token / bad auth data


def describe_error(error: Any) -> str:
    """One error object of an answer as ``"title: detail"`` (or its ``message``), at most 200 characters."""
    if not isinstance(error, dict):
        return repr(error)[:200]
    text = ": ".join(str(error[k]) for k in ("title", "detail", "message") if isinstance(error.get(k), str))
    return (text or repr(error))[:200]


class FailureKind(StrEnum):
    """What an answer that is not a page means for the caller."""

    RATE_LIMITED = "rate_limited"  # wait until x-rate-limit-reset
    USAGE_CAPPED = "usage_capped"  # the monthly cap: wait long
    ACCOUNT = "account"  # token or permission: this account stops (AccountError)
    REQUEST = "request"  # X refuses the request itself (400, 404, 409): retrying the same fails again
    TRANSIENT = "transient"  # 5xx and the like: back off and retry


@dataclass(frozen=True)
class Failure:
    """An answer that is not a page: its kind, what X said, and the wait X gave (``None``: none given)."""

    kind: FailureKind
    reason: str
    wait_seconds: float | None = None


def rate_limit_wait(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds until ``x-rate-limit-reset`` (epoch seconds) plus one of slack; ``None`` without the header."""
    reset = headers.get("x-rate-limit-reset", "")
    if not _DIGITS.fullmatch(reset.strip()):
        return None
    wait = int(reset.strip()) - now.timestamp() + 1.0  # +1 s: the reset second itself may still be refused
    return min(max(wait, 0.0), MAX_WAIT_SECONDS)


def rate_limit_remaining(headers: Mapping[str, str]) -> int | None:
    """``x-rate-limit-remaining`` as a number; ``None`` when absent or not a number."""
    remaining = headers.get("x-rate-limit-remaining", "").strip()
    return int(remaining) if _DIGITS.fullmatch(remaining) else None


def failure_of(status: int, headers: Mapping[str, str], body: Any, now: datetime) -> Failure | None:
    """What an answer means when it is not a page; ``None`` for a usable 2xx (partial errors included).

    A 429 with ``title`` ``UsageCapExceeded`` (or a ``.../usage-capped`` type) is the monthly cap; any other 429,
    or a v1.1-style ``{"errors": [{"code": 88}]}`` without data, is a rate limit; 401/403 (or codes 32/89/215) are
    the account's; other 4xx are the request's; everything else not 2xx is transient.
    """
    problem = body if isinstance(body, dict) else {}
    listed = problem.get("errors")
    errors = [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else []
    codes = {e.get("code") for e in errors}
    told = problem if "title" in problem or "detail" in problem else (errors[0] if errors else None)
    said = f"{status} {describe_error(told) if told else 'without a problem description'}"
    wait = rate_limit_wait(headers, now)
    if problem.get("title") == "UsageCapExceeded" or str(problem.get("type", "")).endswith("/usage-capped"):
        return Failure(FailureKind.USAGE_CAPPED, said, wait)
    if status == 429 or (codes & _RATE_CODES and "data" not in problem):
        return Failure(FailureKind.RATE_LIMITED, said, wait)
    if status in {401, 403} or (codes & _TOKEN_CODES and "data" not in problem):
        return Failure(FailureKind.ACCOUNT, said)
    if 200 <= status < 300:
        return None
    return Failure(FailureKind.REQUEST if 400 <= status < 500 else FailureKind.TRANSIENT, said)
