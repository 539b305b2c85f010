"""``serambi schemas``: the JSON Schemas of the Kafka topics, generated from the models."""

from __future__ import annotations

import click

from pipeline.cli.common import friendly

__all__ = ["schemas", "schemas_check", "schemas_generate"]


@click.group()
def schemas() -> None:
    """JSON Schemas of the Kafka topics."""


@schemas.command("generate")
def schemas_generate() -> None:
    """Write schemas/jsonschema/<topic>.json from the models."""
    from schemas.jsonschema import write_schemas  # noqa: PLC0415

    for path in write_schemas():
        click.echo(f"wrote {path}")


@schemas.command("check")
@friendly
def schemas_check() -> None:
    """Fail when the committed JSON Schemas differ from the models."""
    from schemas.jsonschema import check_schemas  # noqa: PLC0415

    check_schemas()
    click.echo("schemas up to date")
