"""``serambi dashboards``: generate, check and publish the Grafana dashboards of ``dashboards/``.

The CLI is the composition root: it is the one module of ``pipeline`` that imports ``dashboards`` (which
itself reads :mod:`pipeline.storage.sql.catalog`); ``.importlinter`` names this exception.
"""

from __future__ import annotations

import click

from dashboards.generate import check_command, generate_command
from dashboards.publish import publish_command

__all__ = ["dashboards"]


@click.group()
def dashboards() -> None:
    """Grafana dashboards as code: generate the JSON, check it is current, publish it to a Grafana."""


dashboards.add_command(generate_command)
dashboards.add_command(check_command)
dashboards.add_command(publish_command)
