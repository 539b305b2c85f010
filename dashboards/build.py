"""Every dashboard as JSON: built from code (:func:`all_dashboards`) or as committed (:func:`committed_dashboards`).

Files live at ``dashboards/generated/<folder>/<uid>.json``, one folder per audience (Grafana folders follow
them). The text is deterministic (sorted keys, 2-space indent, trailing newline), so regenerating without a
change of code leaves the files byte for byte the same.

Example::

    for folder, uid, model in all_dashboards():
        print(folder, uid, model["title"])
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any, Final, NamedTuple

from grafana_foundation_sdk.builders import dashboard as sdk
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards import agency, live_ops, overview, pipeline_health

__all__ = ["FOLDERS", "GENERATED", "GeneratedDashboard", "all_dashboards", "committed_dashboards", "render"]

FOLDERS: Final = {"central-office": "Central office", "agency-teams": "Agency teams", "ops": "Operations"}
"""Grafana folder of each audience: directory name under ``generated/`` -> folder title."""

GENERATED: Final = "generated"
"""The directory of the generated JSON inside the ``dashboards`` package."""

_MODULES: Final[tuple[tuple[str, str, Callable[[], sdk.Dashboard]], ...]] = tuple(
    (module.FOLDER, module.UID, module.dashboard) for module in (overview, agency, live_ops, pipeline_health)
)


class GeneratedDashboard(NamedTuple):
    """One dashboard: its folder (a key of :data:`FOLDERS`), uid and JSON model."""

    folder: str
    uid: str
    model: dict[str, Any]

    @property
    def path(self) -> str:
        """Its file, relative to ``dashboards/generated/``."""
        return f"{self.folder}/{self.uid}.json"


def render(model: dict[str, Any]) -> str:
    """The JSON text of a dashboard: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(model, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def all_dashboards() -> list[GeneratedDashboard]:
    """Every dashboard, built from the code now, in a fixed order."""
    found = []
    for folder, uid, build in _MODULES:
        if folder not in FOLDERS:
            msg = f"dashboard {uid!r} names folder {folder!r}: one of {', '.join(FOLDERS)}"
            raise ValueError(msg)
        # Through the SDK's encoder and back: plain dicts, lists and scalars, as the file holds them.
        model = json.loads(json.dumps(build().build(), cls=JSONEncoder))
        found.append(GeneratedDashboard(folder, uid, model))
    return found


def committed_dashboards() -> list[GeneratedDashboard]:
    """The dashboards as committed under ``generated/`` (package data: works from a wheel too)."""
    root = resources.files("dashboards").joinpath(GENERATED)
    found = []
    for folder in sorted(FOLDERS):
        directory = root.joinpath(folder)
        if not directory.is_dir():
            continue
        for entry in sorted(directory.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".json"):
                model = json.loads(entry.read_text(encoding="utf-8"))
                found.append(GeneratedDashboard(folder, entry.name.removesuffix(".json"), model))
    return found
