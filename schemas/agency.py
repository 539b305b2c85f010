"""The agency directory: who the agencies are, their accounts, working hours and SLA."""

from __future__ import annotations

from datetime import date, time
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from schemas.errors import DirectoryError
from schemas.events import Platform

__all__ = [
    "SAMPLE_DIRECTORY",
    "Account",
    "Agency",
    "Directory",
    "SimulationProfile",
    "load_directory",
    "sample_directory_text",
]

SAMPLE_DIRECTORY: Final = "data/agencies.sample.yaml"

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
    """All agencies, with O(1) lookups by agency id and by (platform, account id)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    agencies: tuple[Agency, ...]
    _by_id: dict[str, Agency] = PrivateAttr(default_factory=dict)
    _by_account: dict[tuple[str, str], Agency] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        """Index the agencies once (the model is frozen, so the index never goes stale)."""
        self._by_id = {agency.id: agency for agency in self.agencies}
        self._by_account = {(str(a.platform), a.account_id): ag for ag in self.agencies for a in ag.accounts}

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
        return self._by_id[agency_id]

    def owner_of(self, platform: Platform | str, account_id: str) -> Agency | None:
        """The agency owning an account, or ``None`` for anyone else (a citizen)."""
        return self._by_account.get((str(platform), account_id))


def sample_directory_text() -> str:
    """The sample directory shipped with the package (12 fictional Malaysian agencies), as YAML."""
    return resources.files("schemas").joinpath(SAMPLE_DIRECTORY).read_text(encoding="utf-8")


def load_directory(path: Path | None = None) -> Directory:
    """Read and validate a directory YAML file (``None``: the packaged sample); raise :class:`DirectoryError`."""
    if path is None:
        return _validate(yaml.safe_load(sample_directory_text()), "the packaged sample directory")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"cannot read agency directory {path}: {exc.strerror}; set SERAMBI_AGENCIES_FILE"
        raise DirectoryError(msg) from exc
    except yaml.YAMLError as exc:
        msg = f"agency directory {path} is not valid YAML: {exc}"
        raise DirectoryError(msg) from exc
    return _validate(raw, f"agency directory {path}")


def _validate(raw: Any, what: str) -> Directory:
    try:
        return Directory.model_validate(raw)
    except ValidationError as exc:
        msg = f"{what} is invalid; fix these fields:\n{exc}"
        raise DirectoryError(msg) from exc
