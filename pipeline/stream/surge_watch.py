"""The surge detector in the worker: every worker's counts in, alert events and detector gauges out.

The detector (:class:`pipeline.domain.surge.SurgeDetector`) is pure; this wraps it with what the stream knows:
which workers (sources) report counts and how far each got in event time. A minute is judged only once every
*active* source is past it (a source silent for ``idle`` of wall clock no longer holds the others back, e.g. a
worker that stopped), so a worker running ahead never makes another's counts late. Each transition becomes an
:class:`schemas.alerts.AlertEvent` for the alerts topic; the detector's latest judgement of each registered
agency goes to the ``serambi_agency_*`` detector gauges.

Each alert event carries the top terms of the surge's messages (``top_terms``): an injected callable finds them
(the worker's queries ClickHouse) when an alert is raised, when it changes severity and at most every
``terms_every`` of event time while it grows; the other transitions carry the last ones found. Finding them
must never stop detection: a failure is logged once and the alert goes on with the terms it had (or none).
The terms are no part of the detector's saved state: an alert still active after a restart finds them again at
its next transition.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from pipeline.domain.progress import Progress
from pipeline.domain.surge import (
    ALL_PLATFORMS,
    CountRecord,
    DayKinds,
    Severity,
    SurgeAlert,
    SurgeDetector,
    SurgeParams,
    Transition,
)
from pipeline.metrics import Metrics
from schemas.agency import Agency
from schemas.alerts import MAX_TERM_CHARS, MAX_TOP_TERMS, AlertEvent
from schemas.counts import CountBatchView

__all__ = ["TERMS_EVERY", "AlertTerms", "SurgeWatch", "day_kinds", "detector_params"]

log = logging.getLogger(__name__)
_SEVERITIES = tuple(Severity)
TERMS_EVERY = timedelta(minutes=15)
"""A growing alert's terms are found again at most this often (event time): its theme may shift, slowly."""

AlertTerms = Callable[[SurgeAlert], tuple[str, ...]]
"""Finds the top terms of an alert's messages (:func:`pipeline.storage.sql.surge_terms.surge_terms`)."""


def _no_terms(alert: SurgeAlert) -> tuple[str, ...]:
    return ()


def day_kinds(agency: Agency) -> DayKinds:
    """The detector's working / rest days of an agency: its zone, weekly rest days and holidays."""
    rest = frozenset(range(7)) - agency.weekday_numbers
    return DayKinds(zone=agency.zone, rest_weekdays=rest, holidays=frozenset(agency.holidays))


def detector_params(
    min_excess: int, min_samples: int, resolve_minutes: int, lateness: timedelta, *, per_platform: bool = False
) -> SurgeParams:
    """Detector parameters from the settings that may change them (the rest are the README's defaults)."""
    return SurgeParams(
        min_excess=min_excess,
        min_samples=min_samples,
        resolve_minutes=resolve_minutes,
        lateness=lateness,
        per_platform=per_platform,
    )


class SurgeWatch:
    """Feeds every worker's counts to the detector and turns its transitions into alert events and gauges.

    Args:
        detector: built with ``watermark_from_records=False`` (this class moves its event time).
        metrics: where the detector gauges and ``serambi_alerts_raised_total`` go.
        tiers: agency id -> tier for the gauges' labels, of registered agencies only (bounded labels); an
            agency without a tier gets no series (its alerts are still published).
        clock: wall clock (injected), to tell idle sources apart.
        idle: a source not heard from for this long no longer holds event time back.
        example: turns a count's example id (``<platform>:<message_id>``) into the one an alert carries (the
            worker passes a keyed pseudonym: alerts are read by people who need no message's author).
        terms: the top terms of an alert's messages (default: none); may raise, may be slow (a query).
        terms_every: how often (event time) a growing alert's terms are found again.

    Example::

        watch = SurgeWatch(SurgeDetector(params, watermark_from_records=False), metrics, tiers, clock)
        events = watch.take(decode_count_batch(value))   # then send them to the alerts topic
        events += watch.tick()                                         # every second or so
    """

    def __init__(  # noqa: PLR0913 - each is a knob of its own
        self,
        detector: SurgeDetector,
        metrics: Metrics,
        tiers: Callable[[], dict[str, str]],
        clock: Callable[[], datetime],
        idle: timedelta = timedelta(seconds=30),
        example: Callable[[str], str] = lambda example_id: example_id,
        terms: AlertTerms = _no_terms,
        terms_every: timedelta = TERMS_EVERY,
    ) -> None:
        self.detector = detector
        self._example = example
        self._find_terms = terms
        self._terms_every = terms_every
        # alert id -> (its terms, the event time and severity they were found at); dropped on resolve.
        self._terms: dict[str, tuple[tuple[str, ...], datetime, Severity]] = {}
        self._terms_failing = False
        self._metrics = metrics
        self._tiers = tiers
        self._progress = Progress(clock, idle)
        # Alerts active in a restored detector keep their severity on the gauges.
        self._severity: dict[str, Severity] = {
            agency: severity
            for (agency, platform), severity in detector.active_severities().items()
            if platform == ALL_PLATFORMS
        }
        self.watermark: datetime | None = None

    def take(self, batch: CountBatchView) -> list[AlertEvent]:
        """Observe one worker's batch of counts; return the transitions of the minutes that became final."""
        if batch.watermark is not None:  # a worker restarted behind its earlier progress never moves it back
            self._progress.seen(batch.source, batch.watermark)
        for count in batch.counts:
            self.detector.observe(
                CountRecord(
                    agency=count.agency,
                    platform=count.platform,
                    source=batch.source,
                    minute=count.minute,
                    arrivals=count.arrivals,
                    answered=count.answered,
                    backlog=count.backlog,
                    oldest_unanswered_at=count.oldest_unanswered_at,
                    example_ids=count.example_ids,
                )
            )
        return self.tick()

    def tick(self) -> list[AlertEvent]:
        """Move event time to the slowest active source; return the transitions this made final."""
        watermark = self._progress.watermark()
        if watermark is None or (self.watermark is not None and watermark <= self.watermark):
            return []
        self.watermark = watermark
        alerts = self.detector.advance_to(watermark)
        events = self._events(alerts)
        self._gauges()
        return events

    def _events(self, alerts: Iterable[SurgeAlert]) -> list[AlertEvent]:
        events = []
        for alert in alerts:
            if alert.platform == ALL_PLATFORMS:
                if alert.transition is Transition.RESOLVE:
                    self._severity.pop(alert.agency, None)
                else:
                    self._severity[alert.agency] = alert.severity
            if alert.transition is Transition.RAISE:
                self._metrics.alerts_raised.labels(alert.severity.value).inc()
            log.info(
                "surge alert %s: %s %s (%s), backlog %d, %.1f arrivals/min against %.1f",
                alert.transition.value,
                alert.agency,
                alert.platform,
                alert.severity.value,
                alert.backlog,
                alert.arrivals_per_minute,
                alert.baseline_per_minute,
            )
            fields = alert.to_dict()
            fields["example_ids"] = [self._example(e) for e in alert.example_ids]
            fields["top_terms"] = list(self._alert_terms(alert))
            events.append(AlertEvent.model_validate(fields))
        return events

    def _alert_terms(self, alert: SurgeAlert) -> tuple[str, ...]:
        """The terms ``alert`` carries: found again when due, else the last ones found for its id."""
        last = self._terms.get(alert.alert_id)
        due = last is None or (
            alert.transition is not Transition.RESOLVE
            and (alert.severity is not last[2] or alert.updated_at - last[1] >= self._terms_every)
        )
        terms = last[0] if last is not None else ()
        if due:
            terms = self._found(alert, terms)
            self._terms[alert.alert_id] = (terms, alert.updated_at, alert.severity)
        if alert.transition is Transition.RESOLVE:
            self._terms.pop(alert.alert_id, None)
        return terms

    def _found(self, alert: SurgeAlert, previous: tuple[str, ...]) -> tuple[str, ...]:
        try:
            found = self._find_terms(alert)
        except Exception:  # whatever the query or ranking does, the detection goes on
            if not self._terms_failing:  # once, not every minute of an outage
                log.warning(
                    "finding the top terms of surge alert %s failed; alerts carry their last terms until it works",
                    alert.alert_id,
                    exc_info=True,
                )
            self._terms_failing = True
            return previous
        if self._terms_failing:
            log.info("finding the top terms of surge alerts works again")
            self._terms_failing = False
        # What the alert event accepts, so a surprising term never costs the alert itself.
        return tuple(t for t in found if 0 < len(t) <= MAX_TERM_CHARS and t.isprintable())[:MAX_TOP_TERMS]

    def _gauges(self) -> None:
        m, tiers = self._metrics, self._tiers()
        for gauge in self.detector.gauges():
            tier = tiers.get(gauge.agency)
            if gauge.platform != ALL_PLATFORMS or tier is None:
                continue
            labels = (gauge.agency, tier)
            m.agency_arrivals.labels(*labels).set(gauge.arrivals_per_minute)
            if gauge.baseline_per_minute is not None:
                m.agency_arrivals_baseline.labels(*labels).set(gauge.baseline_per_minute)
            m.agency_surge_score.labels(*labels).set(gauge.score)
            # A ladder: an escalated alert keeps its warning series at 1, so Alertmanager sees the warning go on
            # (its critical inhibits it) instead of a warning that resolves when the critical starts.
            active = self._severity.get(gauge.agency)
            rank = -1 if active is None else _SEVERITIES.index(active)
            for n, severity in enumerate(_SEVERITIES):
                m.agency_surge_active.labels(*labels, severity.value).set(1 if n <= rank else 0)
