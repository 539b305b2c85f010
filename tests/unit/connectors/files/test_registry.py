"""The file-format registry: the CLI's names and descriptions agree with the sources it dispatches to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from connectors.core.errors import ConnectorError
from connectors.files import FILE_FORMATS
from connectors.files.jsonl import JsonlSource
from connectors.files.registry import FILE_SOURCES, file_source
from connectors.files.twcs import TwcsSource


def test_every_format_has_a_source_with_its_name_and_description() -> None:
    assert list(FILE_SOURCES) == list(FILE_FORMATS) == ["jsonl", "twcs"]
    for name, source in FILE_SOURCES.items():
        assert source.format == name
        assert source.description == FILE_FORMATS[name]


def test_file_source_builds_the_source_of_a_format(tmp_path: Path) -> None:
    path = tmp_path / "f"
    twcs = file_source("twcs", path)
    assert isinstance(twcs, TwcsSource)
    assert twcs.path == path
    assert isinstance(file_source("jsonl", path), JsonlSource)


def test_unknown_format_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConnectorError, match=r"unknown file format 'csv'; known: jsonl, twcs"):
        file_source("csv", tmp_path / "f")


def test_the_format_list_imports_no_parser() -> None:
    code = "import sys, connectors.files; print(sorted(m for m in sys.modules if m.startswith('connectors')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['connectors', 'connectors.files']"
