"""The agency directory: who the agencies are, their accounts, working hours and SLA."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from schemas.errors import DirectoryError
from schemas.events import Platform

__all__ = ["Account", "Agency", "Directory", "SimulationProfile", "load_directory"]

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Account(BaseModel):
    """One official account of an agency on one platform (immutable platform id)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    platform: Platform
    account_id: Annotated[str, Field(min_length=1)]
    handle: str | None = None


class SimulationProfile(BaseModel):
    """How the simulator makes this agency behave; ignored by everything else."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    posts_per_day: Annotated[float, Field(ge=0)] = 6.0
    comments_per_post: Annotated[float, Field(ge=0)] = 8.0
    mentions_per_day: Annotated[float, Field(ge=0)] = 4.0
    reply_probability: Annotated[float, Field(ge=0, le=1)] = 0.5
    median_reply_minutes: Annotated[float, Field(gt=0)] = 90.0
    link_share: Annotated[float, Field(ge=0, le=1)] = 0.4


class Agency(BaseModel):
    """A government agency with its working calendar, SLA and official accounts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    name: Annotated[str, Field(min_length=1)]
    tier: Annotated[str, Field(pattern=r"^(federal|state|local)$")]
    state: str | None = None
    timezone: str = "Asia/Kuala_Lumpur"
    working_days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    working_hours: tuple[time, time] = (time(8, 0), time(17, 0))
    holidays: tuple[date, ...] = ()
    sla_hours: Annotated[float, Field(gt=0)] = 24.0
    official_domains: tuple[str, ...] = ()
    accounts: Annotated[tuple[Account, ...], Field(min_length=1)]
    simulation: SimulationProfile = SimulationProfile()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"unknown timezone {value!r}"
            raise ValueError(msg) from exc
        return value

    @field_validator("working_days")
    @classmethod
    def _known_days(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        days = tuple(day.lower()[:3] for day in value)
        unknown = [day for day in days if day not in _WEEKDAYS]
        if unknown:
            msg = f"unknown working days {unknown}; use mon..sun"
            raise ValueError(msg)
        return days

    @model_validator(mode="after")
    def _hours_ordered(self) -> Agency:
        if self.working_hours[0] >= self.working_hours[1]:
            msg = "working_hours must be [start, end] with start < end"
            raise ValueError(msg)
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The agency's timezone."""
        return ZoneInfo(self.timezone)

    @property
    def weekday_numbers(self) -> frozenset[int]:
        """Working days as ``datetime.weekday()`` numbers (Monday = 0)."""
        return frozenset(_WEEKDAYS.index(day) for day in self.working_days)


class Directory(BaseModel):
    """All agencies, with a lookup from (platform, account id) to agency."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    agencies: tuple[Agency, ...]

    @model_validator(mode="after")
    def _unique(self) -> Directory:
        ids = [agency.id for agency in self.agencies]
        if len(ids) != len(set(ids)):
            msg = "agency ids must be unique"
            raise ValueError(msg)
        accounts = [(a.platform, a.account_id) for ag in self.agencies for a in ag.accounts]
        if len(accounts) != len(set(accounts)):
            msg = "an account may belong to one agency only"
            raise ValueError(msg)
        return self

    def get(self, agency_id: str) -> Agency:
        """The agency with this id; ``KeyError`` if unknown."""
        for agency in self.agencies:
            if agency.id == agency_id:
                return agency
        raise KeyError(agency_id)

    def owner_of(self, platform: Platform | str, account_id: str) -> Agency | None:
        """The agency owning an account, or ``None`` for anyone else (a citizen)."""
        for agency in self.agencies:
            for account in agency.accounts:
                if account.platform == platform and account.account_id == account_id:
                    return agency
        return None


def load_directory(path: Path) -> Directory:
    """Read and validate a directory YAML file; raise :class:`DirectoryError` saying what to fix."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"cannot read agency directory {path}: {exc.strerror}; set SERAMBI_AGENCIES_FILE"
        raise DirectoryError(msg) from exc
    except yaml.YAMLError as exc:
        msg = f"agency directory {path} is not valid YAML: {exc}"
        raise DirectoryError(msg) from exc
    try:
        return Directory.model_validate(raw)
    except ValidationError as exc:
        msg = f"agency directory {path} is invalid; fix these fields:\n{exc}"
        raise DirectoryError(msg) from exc
