"""Alert events: what the surge detector says about an agency, on the alerts topic and in the ``alerts`` table.

One alert has one id for its whole life; each of its transitions (``raise``, ``update`` while it grows,
``resolve``) is one :class:`AlertEvent` carrying the alert's full current state, so the latest event of an id
is the alert (the ``alerts`` table keeps exactly that). The fields mirror the detector's alert
(``pipeline.domain.surge.SurgeAlert.to_dict()``) plus the ``top_terms`` the worker adds: it validates that dict
into this model, so this module does not import the pipeline. Field names are the ``alerts`` table's column names.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from schemas.events import Platform

__all__ = [
    "ALL_PLATFORMS",
    "MAX_EXAMPLE_IDS",
    "MAX_TERM_CHARS",
    "MAX_TOP_TERMS",
    "TRANSITIONS",
    "AlertEvent",
    "Severity",
    "Transition",
]

ALL_PLATFORMS: Final = "all"
"""``platform`` of an alert judged on an agency's traffic over all its platforms."""
MAX_EXAMPLE_IDS: Final = 10
MAX_TOP_TERMS: Final = 5
"""At most this many ``top_terms`` per alert: a page line, not a report."""
MAX_TERM_CHARS: Final = 64
"""A term is a word or a two-word phrase: longer text is no term (and would bloat every page)."""
TRANSITIONS: Final = ("raise", "update", "resolve")
"""Transitions in the order an alert goes through them (an update may repeat)."""

Transition = Literal["raise", "update", "resolve"]
Severity = Literal["warning", "critical"]
_Count = Annotated[int, Field(ge=0)]
# Finite: JSON has no infinity, and a ClickHouse Float64 of inf would poison every average of it.
_Measure = Annotated[float, Field(ge=0, allow_inf_nan=False)]
# One line of text each: no control characters (a term goes into a page, a log line, a table cell).
_Term = Annotated[str, Field(min_length=1, max_length=MAX_TERM_CHARS, pattern=r"^[^\x00-\x1f\x7f]+$")]


class AlertEvent(BaseModel):
    """One transition of an alert: value of a record on ``serambi.alerts.v1`` and a row of ``alerts``.

    Args:
        transition: ``raise`` (the surge started), ``update`` (it grew or got more severe), ``resolve``.
        alert_id: the same for every transition of one alert, and in a replay (the Kafka key).
        agency, platform: whose traffic; ``platform`` is ``all`` for the agency as a whole.
        kind: what is alerted on (``unanswered_surge``).
        severity: ``warning`` or ``critical``.
        started_at, updated_at, resolved_at: event time; ``resolved_at`` is set exactly on ``resolve``.
        backlog, oldest_unanswered_seconds: unanswered citizen messages and the age of the oldest one.
        arrivals_per_minute, baseline_per_minute, window_minutes, score: the window that judged the surge:
            arrivals against the agency's normal for that hour, and the Poisson tail score (``-log10 p``).
        example_ids: a few pseudonymised message ids of the surge, for a first look.
        top_terms: what the surge's citizen messages ask about (``pipeline.domain.topics`` terms of the alert's
            window against the agency's week before it), best first; empty when none stood out, when they
            could not be read, or in events written before this field existed.

    Example::

        AlertEvent.model_validate(surge_alert.to_dict()).model_dump_json()
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    transition: Transition
    alert_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
    agency: Annotated[str, Field(min_length=1, max_length=64)]
    platform: Platform | Literal["all"]
    kind: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")] = "unanswered_surge"
    severity: Severity
    started_at: AwareDatetime
    updated_at: AwareDatetime
    resolved_at: AwareDatetime | None = None
    backlog: _Count
    oldest_unanswered_seconds: _Measure
    arrivals_per_minute: _Measure
    baseline_per_minute: _Measure
    window_minutes: Annotated[int, Field(ge=1, le=24 * 60)]
    score: _Measure
    example_ids: Annotated[tuple[Annotated[str, Field(max_length=512)], ...], Field(max_length=MAX_EXAMPLE_IDS)] = ()
    top_terms: Annotated[tuple[_Term, ...], Field(max_length=MAX_TOP_TERMS)] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.transition == "resolve") != (self.resolved_at is not None):
            msg = "resolved_at is set on a resolve transition and only there"
            raise ValueError(msg)
        if self.updated_at < self.started_at:
            msg = "updated_at is before started_at"
            raise ValueError(msg)
        if self.resolved_at is not None and self.resolved_at < self.started_at:
            msg = "resolved_at is before started_at"
            raise ValueError(msg)
        return self

    @property
    def active(self) -> bool:
        """True until the alert's resolve."""
        return self.resolved_at is None

    def key(self) -> bytes:
        """The Kafka key: the alert id, so every transition of an alert lands on one partition, in order."""
        return self.alert_id.encode()
