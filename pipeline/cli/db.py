"""``serambi db``: ClickHouse maintenance (migrations, users, the rendered DDL)."""

from __future__ import annotations

import click

from pipeline.cli.common import friendly, read_settings_of

__all__ = ["db", "db_migrate", "db_render"]


@click.group()
def db() -> None:
    """ClickHouse maintenance."""


@db.command("migrate")
@click.pass_context
@friendly
def db_migrate(ctx: click.Context) -> None:
    """Apply pending ClickHouse migrations (once per cluster, under a lock), the users, and refresh the views.

    Rendered for SERAMBI_CLICKHOUSE_CLUSTER (empty = chDB or one server). Users (on a server only) are those
    whose password is set: SERAMBI_WRITER_/READER_/GRAFANA_CLICKHOUSE_PASSWORD. Exits 0 once the schema is current.
    """
    from pipeline.storage.migrations import apply_migrations  # noqa: PLC0415
    from pipeline.storage.server_migrations import SERVER_USERS, apply_access  # noqa: PLC0415
    from pipeline.storage.sql.views import ensure_views  # noqa: PLC0415
    from pipeline.storage.store import Store  # noqa: PLC0415 - opens chDB only when asked

    settings = read_settings_of(ctx, require_data=False)  # migrating needs no pseudonym key
    cluster = settings.clickhouse_cluster or None
    store = Store(settings)
    try:
        applied = apply_migrations(store, ttl_days=settings.raw_ttl_days, cluster=cluster)
        files = apply_access(
            store, settings.clickhouse_dsn, cluster=cluster, grafana_password=settings.grafana_clickhouse_password
        )
        views = ensure_views(store, default_sla_hours=settings.sla_hours)
    finally:
        store.close()
    users = [user.name for user in SERVER_USERS if user.file in files]
    where = f" on cluster {cluster}" if cluster else ""
    click.echo(
        f"applied {len(applied)} migration(s){where}: {', '.join(applied) or 'none pending'}; "
        f"{len(views)} views up to date" + (f"; users: {', '.join(users)}" if users else "")
    )


@db.command("render")
@click.option(
    "--cluster",
    default=None,
    metavar="NAME",
    help="render for this ClickHouse cluster ('' = chDB or one server); default SERAMBI_CLICKHOUSE_CLUSTER",
)
@click.pass_context
@friendly
def db_render(ctx: click.Context, cluster: str | None) -> None:
    """Print the migrations' SQL as `serambi db migrate` would run it, for review (connects to nothing).

    The users' statements follow (applied on a server when their password is set); passwords travel as the
    bound parameters shown, never in the SQL.
    """
    from pipeline.storage.ddl import SCHEMA_MIGRATIONS_DDL, render_migrations, render_statement  # noqa: PLC0415
    from pipeline.storage.server_migrations import SERVER_USERS, server_statements  # noqa: PLC0415

    settings = read_settings_of(ctx, require_data=False)
    target = (settings.clickhouse_cluster if cluster is None else cluster) or None
    database = settings.clickhouse_database
    click.echo(
        f"-- Serambi's ClickHouse schema for database {database}, " + (f"cluster {target}" if target else "one node")
    )
    prelude = [*render_statement("CREATE DATABASE IF NOT EXISTS {db}", target)]
    prelude += render_statement(SCHEMA_MIGRATIONS_DDL, target)
    click.echo("".join(f"{statement.replace('{db}', database)};\n\n" for statement in prelude), nl=False)
    for migration in render_migrations(database, target):
        click.echo(f"-- {migration.name}")
        click.echo("".join(f"{statement};\n\n" for statement in migration.statements), nl=False)
    for user in SERVER_USERS:
        click.echo(f"-- server only: {user.name} for {user.used_by}, when {user.password_env} is set")
        click.echo("".join(f"{s};\n\n" for _, s in server_statements(database, user=user, cluster=target)), nl=False)
