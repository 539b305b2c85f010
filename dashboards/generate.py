"""``serambi dashboards generate`` and ``check`` (placeholder until the dashboards land)."""

from __future__ import annotations

import click

__all__ = ["check_command", "generate_command"]


@click.command("generate")
def generate_command() -> None:
    """Write the dashboards' JSON under dashboards/generated/."""
    msg = "not built yet"
    raise click.ClickException(msg)


@click.command("check")
def check_command() -> None:
    """Fail when dashboards/generated/ differs from what the code generates."""
    msg = "not built yet"
    raise click.ClickException(msg)
