"""The board's static files: the vendored uPlot is the pinned npm file, and nothing names another host."""

from __future__ import annotations

import hashlib
import re
from importlib.resources import files
from importlib.resources.abc import Traversable

STATIC = files("pipeline.web") / "static"
UPLOT = STATIC / "vendor" / "uplot"
# Absolute URLs that are no request: the SVG namespace's name, and uPlot's banner comment (its licence's home).
NOT_REQUESTS = {"http://www.w3.org/2000/svg", "https://github.com/leeoniya/uPlot"}


def _files(node: Traversable, prefix: str = "") -> dict[str, Traversable]:
    found: dict[str, Traversable] = {}
    for child in node.iterdir():
        if child.is_dir():
            found.update(_files(child, f"{prefix}{child.name}/"))
        else:
            found[f"{prefix}{child.name}"] = child
    return found


def test_vendored_uplot_matches_the_hashes_its_readme_pins() -> None:
    readme = (UPLOT / "README.md").read_text(encoding="utf-8")
    assert "uplot@1.6.32" in readme
    pinned = dict(re.findall(r"\| `([^`]+)` \| `([0-9a-f]{64})` \|", readme))
    assert set(pinned) == {"uPlot.iife.min.js", "uPlot.min.css", "LICENSE"}
    for name, digest in pinned.items():
        assert hashlib.sha256((UPLOT / name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in (UPLOT / "LICENSE").read_text(encoding="utf-8")
    assert (
        (UPLOT / "uPlot.iife.min.js")
        .read_text(encoding="utf-8")
        .startswith("/*! https://github.com/leeoniya/uPlot (v1.6.32)")
    )


def test_every_file_a_page_loads_is_in_the_package() -> None:
    static = _files(STATIC)
    for page in ("index.html", "agency.html"):
        html = static[page].read_text(encoding="utf-8")
        loaded = re.findall(r"""(?:src|href)="/static/([^"]+)\"""", html)
        assert loaded, page
        assert [path for path in loaded if path not in static] == [], page


def test_no_file_names_another_host() -> None:
    for path, node in _files(STATIC).items():
        if path.endswith(".md") or path.endswith("LICENSE"):
            continue
        text = node.read_text(encoding="utf-8")
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text))
        assert urls <= NOT_REQUESTS, (path, urls - NOT_REQUESTS)
