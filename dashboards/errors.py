"""Errors of the dashboards package; each type says what the caller does next.

Messages are one line for people and never carry the Grafana token (the publisher redacts it from
anything a server or HTTP library says before it builds one of these).
"""

from __future__ import annotations

__all__ = [
    "DashboardFileError",
    "DashboardsError",
    "GrafanaAuthError",
    "GrafanaConflictError",
    "GrafanaRequestError",
    "GrafanaUnreachableError",
    "PublishConfigError",
]


class DashboardsError(RuntimeError):
    """Base of the dashboards package's errors."""


class DashboardFileError(DashboardsError):
    """A generated dashboard file is missing, unreadable or misplaced: run ``serambi dashboards generate``."""


class PublishConfigError(DashboardsError):
    """A publish setting is missing or wrong (URL, token, data source URL or password): fix it, then rerun."""


class GrafanaAuthError(DashboardsError):
    """Grafana refused the token (401) or its role (403): fix ``SERAMBI_GRAFANA_TOKEN`` (do not retry as is)."""


class GrafanaUnreachableError(DashboardsError):
    """Grafana did not answer (refused, unknown host, timeout): check the URL and that Grafana runs, then retry."""


class GrafanaConflictError(DashboardsError):
    """Dashboards were edited in Grafana since the last publish: move the edits into code, or ``--overwrite``.

    ``titles`` names each edited dashboard (title, uid and version as Grafana has it).
    """

    def __init__(self, message: str, titles: tuple[str, ...]) -> None:
        super().__init__(message)
        self.titles = titles


class GrafanaRequestError(DashboardsError):
    """Grafana refused a request for another reason; the message carries its status and reason: fix, then rerun."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
