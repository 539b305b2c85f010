"""Building the worker's surge detection: the tally, the detector with its calendars, baselines from storage.

Also the top terms each alert carries: the watch asks storage for them (the alert's messages) as it raises it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.domain.surge import ALL_PLATFORMS, DayKinds, SurgeAlert, SurgeDetector, SurgeParams
from pipeline.domain.tally import UnansweredTally
from pipeline.metrics import Metrics
from pipeline.runtime.statefile import write_private
from pipeline.settings import Settings
from pipeline.storage.agencies import AgencyRegistry
from pipeline.storage.sql.surge_history import hourly_arrivals
from pipeline.storage.sql.surge_terms import surge_terms
from pipeline.storage.store import Store
from pipeline.stream.agents import side_batch_seconds
from pipeline.stream.offsets import HandledOffsets
from pipeline.stream.retry import Failing
from pipeline.stream.surge_agents import SurgeContext
from pipeline.stream.surge_watch import SurgeWatch, day_kinds, detector_params
from schemas.privacy import Pseudonymizer

__all__ = ["STATE_FILE", "save_detector", "seed_baselines", "surge_context", "worker_source"]

log = logging.getLogger(__name__)
_FLUSH_SECONDS = 1.0
_CHECKPOINT_SECONDS = 60.0
STATE_FILE = "surge-detector.json"
"""The detector's state in the data dir: written every minute and at stop, restored at start."""


def worker_source(settings: Settings) -> str:
    """The worker's name in the counts: the host and its data dir, the same across restarts."""
    where = hashlib.sha256(str(settings.data_dir.resolve()).encode()).hexdigest()[:8]
    return f"{socket.gethostname()}:{where}"


def surge_context(  # noqa: PLR0913 - the worker's pieces the detection uses
    settings: Settings,
    store: Store,
    metrics: Metrics,
    registry: AgencyRegistry,
    handled: HandledOffsets,
    failing: Failing,
) -> SurgeContext:
    """The tally (the processor feeds it), the detector's watch and the alert store of one worker."""
    pseudo = Pseudonymizer(settings.pseudonym_key)

    def now() -> datetime:
        return datetime.now(UTC)

    idle = timedelta(seconds=settings.surge_idle_source_seconds)
    tally = UnansweredTally(worker_source(settings), now, idle=idle)
    params = detector_params(
        settings.surge_min_excess,
        settings.surge_min_samples,
        settings.surge_resolve_minutes,
        timedelta(seconds=settings.surge_lateness_seconds),
        per_platform=settings.surge_per_platform,
    )
    calendars = {agency.id: day_kinds(agency) for agency in registry.known()}
    path = settings.data_dir / STATE_FILE
    detector = _restored(path, params, calendars) or SurgeDetector(params, calendars, watermark_from_records=False)

    def tiers() -> dict[str, str]:
        return {agency.id: agency.tier for agency in registry.known()}

    def example(example_id: str) -> str:
        platform, _, message_id = example_id.partition(":")
        return pseudo.pseudonym(platform, message_id)

    # A session of its own: a week of texts per raise must not hold the read session the worker's conversation
    # reloads use (the watch runs one step at a time, so the session's own lock is never contended).
    texts = store.open_session()

    def terms(alert: SurgeAlert) -> tuple[str, ...]:
        return surge_terms(texts, store.database, alert)

    watch = SurgeWatch(detector, metrics, tiers, now, idle, example=example, terms=terms)
    return SurgeContext(
        tally,
        watch,
        store,
        handled,
        failing,
        _FLUSH_SECONDS,
        side_batch_seconds(settings.sink_batch_seconds),
        checkpoint=lambda: save_detector(path, detector),
        checkpoint_seconds=_CHECKPOINT_SECONDS,
    )


def save_detector(path: Path, detector: SurgeDetector) -> None:
    """Write the detector's state (baselines, windows, active alerts) to ``path``, atomically."""
    write_private(path, json.dumps(detector.snapshot(), separators=(",", ":")))


def _restored(path: Path, params: SurgeParams, calendars: dict[str, DayKinds]) -> SurgeDetector | None:
    # The state of the previous run (stopped, or killed: then up to a minute old): its active alerts go on and
    # resolve, rather than stay open in the alerts table for ever. A state that cannot be read is set aside.
    if not path.exists():
        return None
    try:
        snapshot = json.loads(path.read_text(encoding="utf-8"))
        return SurgeDetector.restore(snapshot, params, calendars, watermark_from_records=False)
    except (ValueError, KeyError, TypeError) as exc:
        aside = path.with_suffix(".unreadable")
        path.replace(aside)
        log.warning("surge detector state %s unreadable (%s); moved to %s, starting afresh", path, exc, aside)
        return None


def seed_baselines(detector: SurgeDetector, store: Store, now: datetime | None = None) -> int:
    """Load each agency's hourly citizen messages of the baseline's days into ``detector``; return the hours.

    Only whole hours before the current one: the stream counts the current hour itself.
    """
    hour = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    since = hour - timedelta(days=detector.params.baseline_days + 1)
    loaded = 0
    for agency, hours in hourly_arrivals(store, store.database, since, hour).items():
        detector.seed_history(agency, ALL_PLATFORMS, hours)
        loaded += len(hours)
    return loaded
