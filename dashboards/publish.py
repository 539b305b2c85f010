"""``serambi dashboards publish`` (placeholder until publishing lands)."""

from __future__ import annotations

import click

__all__ = ["publish_command"]


@click.command("publish")
def publish_command() -> None:
    """Upload the dashboards, folders and data sources to Grafana."""
    msg = "not built yet"
    raise click.ClickException(msg)
