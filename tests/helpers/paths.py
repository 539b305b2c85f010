"""Where the tests' fixture files live, inside the repository."""

from __future__ import annotations

from pathlib import Path

__all__ = ["FIXTURES", "PAYLOADS"]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PAYLOADS = FIXTURES / "payloads"
