"""The agencies a stack knows: the directory file plus agencies registered later (e.g. by an import).

The directory file is the authority on its agencies: a registration may add agencies (e.g. the
companies of a twcs import) or accounts of a directory agency, never change a directory agency's SLA,
calendar or anything else (that is done in the file, then a restart). Every registration, accepted or
refused, leaves a row in ``agency_audit``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from datetime import UTC, datetime

from pipeline.errors import ConfigError, StoreError
from pipeline.storage.rows import agency_row
from pipeline.storage.store import Store
from schemas.agency import Account, Agency, Directory
from schemas.tables import AGENCIES, AGENCY_COLUMNS

__all__ = ["AGENCY_AUDIT", "AUDIT_COLUMNS", "AgencyRegistry", "DirectoryConflictError", "fallback_agency"]

log = logging.getLogger(__name__)
AGENCY_AUDIT = "agency_audit"
AUDIT_COLUMNS = ("at", "agency_id", "action", "source", "actor", "definition")


class DirectoryConflictError(ConfigError):
    """A registration would change an agency of the directory file: change the file instead."""


def fallback_agency(agency_id: str) -> Agency:
    """Calendar for an agency nobody registered: the directory defaults (Mon-Fri 08-17, KL time)."""
    return Agency(id=agency_id, name=agency_id, tier="federal", accounts=(Account(platform="x", account_id=agency_id),))


class AgencyRegistry:
    """Agencies by id: in memory, backed by the ``agencies`` table so other processes' registrations count."""

    def __init__(self, store: Store, directory: Directory) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._agencies: dict[str, Agency] = {}
        self._accounts: set[tuple[str, str]] = set()
        self._fallbacks: dict[str, Agency] = {}
        self._directory = {agency.id: agency for agency in directory.agencies}
        self._remember([*self._stored(), *directory.agencies])  # the file wins over older registrations

    def _stored(self) -> list[Agency]:
        # Agencies other processes registered (e.g. companies of an import) before this one started.
        rows = self._store.query(f"SELECT definition FROM {self._store.database}.{AGENCIES} FINAL").rows
        return [Agency.model_validate_json(row[0]) for row in rows if row[0]]

    def _remember(self, agencies: Iterable[Agency]) -> None:
        with self._lock:
            for agency in agencies:
                self._agencies[agency.id] = agency
                self._accounts.update((str(a.platform), a.account_id) for a in agency.accounts)

    def known(self) -> list[Agency]:
        """Every agency known here (the directory and the registrations seen), by id."""
        with self._lock:
            return sorted(self._agencies.values(), key=lambda agency: agency.id)

    def is_account(self, platform: str, account_id: str) -> bool:
        """True when an agency known here owns this account (its id may be stored in clear)."""
        return (str(platform), account_id) in self._accounts

    def publish(self) -> None:
        """Write every known agency to the ``agencies`` table."""
        self._store.insert(AGENCIES, AGENCY_COLUMNS, [agency_row(a) for a in self._agencies.values()])

    def register(self, agencies: Iterable[Agency], *, source: str = "stack", actor: str = "") -> None:
        """Add or replace agencies, here and in ClickHouse, with an audit row each.

        ``source`` and ``actor`` say who asked (e.g. ``"api"`` and the client's address; default: this
        process). Raises :class:`DirectoryConflictError`, registering none of them, when one would change
        an agency of the directory file other than by adding accounts.
        """
        new, actor = list(agencies), actor or f"pid {os.getpid()}"
        refused = [agency for agency in new if not self._may_register(agency)]
        if refused:
            self._audit([(agency, "refused") for agency in refused], source, actor)
            ids = ", ".join(sorted(agency.id for agency in refused))
            msg = (
                f"agencies {ids} come from the agency directory file; change their SLA, calendar or name "
                "in that file (SERAMBI_AGENCIES_FILE) and restart the stack, not through a registration"
            )
            raise DirectoryConflictError(msg)
        with self._lock:
            actions = [(agency, _action(self._agencies.get(agency.id), agency)) for agency in new]
        self._remember(new)
        self._store.insert(AGENCIES, AGENCY_COLUMNS, [agency_row(a) for a in new])
        self._audit(actions, source, actor)

    def _may_register(self, agency: Agency) -> bool:
        # A directory agency may gain accounts (twcs handles of a known company), nothing else.
        filed = self._directory.get(agency.id)
        if filed is None:
            return True
        same_otherwise = agency.model_copy(update={"accounts": filed.accounts}) == filed
        return same_otherwise and all(account in agency.accounts for account in filed.accounts)

    def _audit(self, actions: list[tuple[Agency, str]], source: str, actor: str) -> None:
        now = datetime.now(UTC)
        rows = [(now, agency.id, action, source, actor, agency.model_dump_json()) for agency, action in actions]
        self._store.insert(AGENCY_AUDIT, AUDIT_COLUMNS, rows)

    def get(self, agency_id: str) -> Agency:
        """The agency; looked up in ClickHouse when unknown here, else a default calendar."""
        with self._lock:
            known = self._agencies.get(agency_id) or self._fallbacks.get(agency_id)
        if known is not None:
            return known
        try:
            rows = self._store.query(
                f"SELECT definition FROM {self._store.database}.{AGENCIES} FINAL WHERE agency_id = {{agency:String}}",
                {"agency": agency_id},
            ).rows
        except StoreError:
            # Never fail the worker's hot path on a lookup: use the default calendar, ask again next time.
            log.warning("cannot look up agency %s; using the default calendar for now", agency_id)
            return fallback_agency(agency_id)
        if not rows:
            # Cached apart from real agencies: a later register() still takes precedence.
            return self._fallbacks.setdefault(agency_id, fallback_agency(agency_id))
        agency = Agency.model_validate_json(rows[0][0])
        self._remember([agency])
        return agency


def _action(before: Agency | None, after: Agency) -> str:
    if before is None:
        return "added"
    return "unchanged" if before == after else "changed"
