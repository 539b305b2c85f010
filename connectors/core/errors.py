"""Errors of the connectors package; each says what the caller does next."""

from __future__ import annotations

__all__ = ["AccountError", "ConnectorError", "InvalidInput", "PublishError", "Retry", "Unreachable"]


class ConnectorError(RuntimeError):
    """Base of connector errors."""


class InvalidInput(ConnectorError):
    """Input that cannot become a canonical event: dead-letter it with this reason, then go on."""

    def __init__(self, reason: str, *, error_type: str = "invalid") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type


class PublishError(ConnectorError):
    """Kafka did not acknowledge records: retry the flush; nothing is marked delivered.

    ``failed`` is how many records were not acknowledged (0 when Kafka could not be reached at all).
    """

    def __init__(self, message: str, *, failed: int = 0) -> None:
        super().__init__(message)
        self.failed = failed


class Retry(ConnectorError):
    """A source asked us to back off (429/5xx): call again after ``after`` seconds.

    Args:
        after: seconds to wait before the next call (the platform's ``Retry-After``, or a back-off).
        reason: what the platform said (default ``"rate limited"``).

    >>> raise Retry(after=900, reason="429 Too Many Requests")  # doctest: +SKIP
    """

    def __init__(self, after: float, reason: str = "rate limited") -> None:
        super().__init__(f"{reason}; retry after {after:.0f} s")
        self.after_seconds = after
        self.reason = reason


class Unreachable(ConnectorError):
    """The platform could not be reached (refused, reset, timed out): transient, retry with back-off."""


class AccountError(ConnectorError):
    """One account cannot be read (an expired or revoked token, a missing permission): fix its credentials.

    The connector stops polling that account and says so; the other accounts keep running.

    Args:
        account: the account's platform id.
        reason: what the platform said, e.g. ``"Error validating access token (code 190)"`` (never the token).
    """

    def __init__(self, account: str, reason: str) -> None:
        super().__init__(f"account {account}: {reason}")
        self.account = account
        self.reason = reason
