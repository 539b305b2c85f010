"""The agencies a stack knows: the directory file plus agencies registered later (e.g. by an import)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import UTC, datetime

from pipeline.errors import StoreError
from pipeline.store import Store
from schemas.agency import Account, Agency, Directory

__all__ = ["AGENCY_COLUMNS", "AgencyRegistry", "agency_row", "fallback_agency"]

log = logging.getLogger(__name__)
AGENCY_COLUMNS = ("agency_id", "name", "tier", "timezone", "sla_hours", "official_domains", "definition",
                  "updated_at")


def agency_row(agency: Agency) -> tuple[object, ...]:
    """The ``agencies`` table row of an agency (its full definition as JSON)."""
    return (agency.id, agency.name, agency.tier, agency.timezone, agency.sla_hours,
            list(agency.official_domains), agency.model_dump_json(), datetime.now(UTC))


def fallback_agency(agency_id: str) -> Agency:
    """Calendar for an agency nobody registered: the directory defaults (Mon-Fri 08-17, KL time)."""
    return Agency(id=agency_id, name=agency_id, tier="federal", accounts=(Account(platform="x", account_id=agency_id),))


class AgencyRegistry:
    """Agencies by id: in memory, backed by the ``agencies`` table so other processes' registrations count."""

    def __init__(self, store: Store, directory: Directory) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._agencies: dict[str, Agency] = {a.id: a for a in directory.agencies}

    def is_account(self, platform: str, account_id: str) -> bool:
        """True when an agency known here owns this account (its id may be stored in clear)."""
        with self._lock:
            return any(account.platform == platform and account.account_id == account_id
                       for agency in self._agencies.values() for account in agency.accounts)

    def publish(self) -> None:
        """Write every known agency to the ``agencies`` table."""
        self._store.insert("agencies", AGENCY_COLUMNS, [agency_row(a) for a in self._agencies.values()])

    def register(self, agencies: Iterable[Agency]) -> None:
        """Add or replace agencies, here and in ClickHouse."""
        new = list(agencies)
        with self._lock:
            self._agencies.update({a.id: a for a in new})
        self._store.insert("agencies", AGENCY_COLUMNS, [agency_row(a) for a in new])

    def get(self, agency_id: str) -> Agency:
        """The agency; looked up in ClickHouse when unknown here, else a default calendar."""
        with self._lock:
            known = self._agencies.get(agency_id)
        if known is not None:
            return known
        try:
            rows = self._store.query(
                f"SELECT definition FROM {self._store.database}.agencies FINAL WHERE agency_id = "
                f"'{_quote(agency_id)}'").rows
        except StoreError:
            # Never fail the worker's hot path on a lookup: use the default calendar, ask again next time.
            log.warning("cannot look up agency %s; using the default calendar for now", agency_id)
            return fallback_agency(agency_id)
        agency = Agency.model_validate_json(rows[0][0]) if rows else fallback_agency(agency_id)
        with self._lock:
            self._agencies[agency_id] = agency
        return agency


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
