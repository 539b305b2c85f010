"""``serambi dashboards generate`` and ``check``: write the dashboards' JSON, or fail when it is stale.

``check`` runs in ``make lint``: the committed JSON is what Grafana gets (provisioning, publishing), so a
change of a dashboard module or of a catalog view's SQL must come with regenerated files.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from dashboards.build import FOLDERS, GENERATED, all_dashboards, render

__all__ = ["check_command", "expected_files", "generate_command", "stale_files"]


def _default_dir() -> Path:
    # The package's own directory in a source checkout, where the files are committed.
    return Path(str(resources.files("dashboards").joinpath(GENERATED)))


def expected_files() -> dict[str, str]:
    """Relative path -> text of every file the code generates."""
    return {d.path: render(d.model) for d in all_dashboards()}


def _present(directory: Path) -> dict[str, Path]:
    # Only the audience folders are ours; anything else under generated/ is left alone.
    return {
        f"{folder}/{file.name}": file
        for folder in FOLDERS
        if (directory / folder).is_dir()
        for file in sorted((directory / folder).glob("*.json"))
    }


def stale_files(directory: Path) -> list[str]:
    """What differs between ``directory`` and the code: ``changed:``, ``missing:`` and ``extra:`` paths."""
    expected, present = expected_files(), _present(directory)
    problems = [
        f"changed: {path}"
        for path in sorted(expected)
        if path in present and present[path].read_text("utf-8") != expected[path]
    ]
    problems += [f"missing: {path}" for path in sorted(expected) if path not in present]
    problems += [f"extra: {path}" for path in sorted(present) if path not in expected]
    return problems


_DIR_OPTION = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where the JSON lives (default: dashboards/generated/ of the source tree)",
)


@click.command("generate")
@_DIR_OPTION
def generate_command(directory: Path | None) -> None:
    """Write the dashboards' JSON under dashboards/generated/<folder>/<uid>.json (and drop stale files)."""
    directory = directory or _default_dir()
    expected, present = expected_files(), _present(directory)
    written = 0
    for path, text in expected.items():
        target = directory / path
        if path in present and present[path].read_text("utf-8") == text:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        click.echo(f"wrote {target}")
        written += 1
    for path in sorted(set(present) - set(expected)):
        present[path].unlink()
        click.echo(f"removed {present[path]} (no dashboard generates it any more)")
    click.echo(f"{len(expected)} dashboards in {directory}: {written} written, {len(expected) - written} unchanged")


@click.command("check")
@_DIR_OPTION
def check_command(directory: Path | None) -> None:
    """Fail when dashboards/generated/ differs from what the code generates."""
    directory = directory or _default_dir()
    problems = stale_files(directory)
    if problems:
        msg = f"{directory} is stale ({'; '.join(problems)}): run `serambi dashboards generate` and commit the result"
        raise click.ClickException(msg)
    click.echo(f"{directory}: {len(expected_files())} dashboards up to date")
