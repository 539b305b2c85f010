"""``serambi deadletters``: what was rejected, why, from where (issue 8, item 2; being built)."""

from __future__ import annotations

import click

__all__ = ["deadletters"]


@click.command("deadletters")
def deadletters() -> None:
    """Show dead letters: reason, source, line/row and the masked raw value."""
    raise click.ClickException("not implemented yet")
