"""The type of the ``settings_factory`` fixture (tests/integration/conftest.py), for annotations."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.settings import Settings

__all__ = ["SettingsFactory"]

SettingsFactory = Callable[..., Settings]
