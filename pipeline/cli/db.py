"""``serambi db``: ClickHouse maintenance."""

from __future__ import annotations

import click

from pipeline.cli.common import friendly, read_settings_of

__all__ = ["db", "db_migrate"]


@click.group()
def db() -> None:
    """ClickHouse maintenance."""


@db.command("migrate")
@click.pass_context
@friendly
def db_migrate(ctx: click.Context) -> None:
    """Apply pending ClickHouse migrations (idempotent) and refresh the views."""
    from pipeline.storage.sql.views import ensure_views  # noqa: PLC0415
    from pipeline.storage.store import Store  # noqa: PLC0415 - opens chDB only when asked

    settings = read_settings_of(ctx, require_data=False)  # migrating needs no pseudonym key
    store = Store(settings)
    try:
        applied = store.migrate()
        views = ensure_views(store, default_sla_hours=settings.sla_hours)
    finally:
        store.close()
    click.echo(
        f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}; {len(views)} views up to date"
    )
