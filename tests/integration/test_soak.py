"""The soak benchmark on the real stack, for a few seconds: its accounting, not its figures (no timing asserted)."""

from __future__ import annotations

from pipeline.bench.soak import SoakOptions, run_soak
from tests.helpers.settings import SettingsFactory


def test_a_short_soak_stores_every_published_event_and_samples_both_processes(
    settings_factory: SettingsFactory,
) -> None:
    settings = settings_factory()
    lines: list[str] = []
    options = SoakOptions(minutes=0.3, rate=300, sample_every_s=2, data_dir=settings.data_dir)

    result = run_soak(settings, options, lines.append)

    assert result.drained
    assert result.dead_lettered == 0
    assert result.events_published > 0
    assert result.events_stored == result.events_published
    assert result.facts_stored > 0  # replies matched: the load exercises the matcher
    assert len(result.samples) >= 3
    assert result.samples[-1].published == result.events_published
    assert all(sample.worker_rss_mb > 0 for sample in result.samples)
    assert all(sample.broker_rss_mb is not None and sample.broker_rss_mb > 0 for sample in result.samples)
    assert all(sample.spool_bytes is not None for sample in result.samples)
    assert result.worker_rss.max_mb > 0
    assert result.broker_rss is not None
    assert result.broker_rss.max_mb > 0
    assert '"samples"' in result.as_json()
    assert any("RSS worker" in line for line in lines)
