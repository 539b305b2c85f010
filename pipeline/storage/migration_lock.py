"""The migration lock: one migrator at a time per database, cluster-wide.

On chDB or one server the lock is a table whose plain ``CREATE TABLE`` fails while it exists (chDB lets one
process open a data dir anyway; the same code runs there); on a cluster a key in a ``KeeperMap`` table, inserted
in strict mode (fails while it exists). A waiter polls until its deadline, logging who holds the lock, then names
the holder in a :class:`MigrationLockError`. A lock is broken, with a log line, when its migrator is dead: it ran
on this host and its process is gone (a migrator killed and started again, as chDB's single owner always is), or
the lock is older than ``stale_seconds`` (a migrator elsewhere that died).

Example::

    with migration_lock(store, cluster=None, timing=LockTiming()):
        ...  # apply migrations
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.errors import MigrationLockError, StoreError

if TYPE_CHECKING:
    from pipeline.storage.migrations import MigrationRunner

__all__ = ["LOCK_TABLE", "LockTiming", "migration_lock"]

log = logging.getLogger(__name__)
LOCK_TABLE = "schema_migration_lock"
_LOCK_KEY = "migrations"
_RETRY_SOON_S = 0.5
_HELD = ("TABLE_ALREADY_EXISTS", "already exists", "KEEPER_EXCEPTION")
# A holder is "host:pid (process token)": the token tells this process from an earlier one that had its pid (a
# restarted container is pid 1 again) and from its own threads (same pid, same token: alive).
_PROCESS = secrets.token_hex(4)
_OWNER = re.compile(r"^(?P<host>[\w.-]+):(?P<pid>\d+) \(process (?P<process>[0-9a-f]+)\)$")


@dataclass(frozen=True)
class LockTiming:
    """The migration lock's timing.

    How long to wait for it (``wait_seconds``), when a lock is presumed dead (``stale_seconds``, 30 min: longer
    than any migration), how often to look (``poll_seconds``) and to say so (``progress_seconds``).
    """

    wait_seconds: float = 900.0
    stale_seconds: float = 1800.0
    poll_seconds: float = 1.0
    progress_seconds: float = 15.0


@dataclass(frozen=True)
class _Holder:
    owner: str
    since: str
    age_seconds: float
    token: str  # what identifies this holding: the lock table's uuid, or the key's random token


@contextmanager
def migration_lock(runner: MigrationRunner, cluster: str | None, timing: LockTiming) -> Iterator[None]:
    """Hold the migration lock of ``runner``'s database (of the whole ``cluster`` if given) inside the block."""
    owner = f"{_this_host()}:{os.getpid()} (process {_PROCESS})"
    lock: _TableLock | _KeeperLock = _KeeperLock(runner, owner, cluster) if cluster else _TableLock(runner, owner)
    deadline = time.monotonic() + timing.wait_seconds
    next_progress = time.monotonic()
    while not lock.take():
        holder = lock.holder()
        if holder is not None and (why := _dead(holder, timing)):
            log.warning(
                "breaking the migration lock of %s held by %s since %s UTC: %s",
                runner.database, holder.owner, holder.since, why,
            )  # fmt: skip
            lock.break_(holder)
            continue
        now = time.monotonic()
        if now >= deadline:
            raise MigrationLockError(_held_message(runner.database, holder, lock.removal, timing))
        if holder is None:  # released between our attempt and our look, or Keeper hiccuped: try again shortly
            time.sleep(min(timing.poll_seconds, _RETRY_SOON_S))
            continue
        if now >= next_progress:
            log.warning(
                "waiting for the migration lock of %s held by %s since %s UTC (giving up in %.0f s)",
                runner.database, holder.owner, holder.since, deadline - now,
            )  # fmt: skip
            next_progress = now + timing.progress_seconds
        time.sleep(timing.poll_seconds)
    try:
        yield
    finally:
        lock.release()


def _dead(holder: _Holder, timing: LockTiming) -> str:
    """Why ``holder``'s migrator is presumed dead, or '' while it may be alive."""
    if holder.age_seconds >= timing.stale_seconds:
        return f"taken {holder.age_seconds / 60:.0f} min ago, more than {timing.stale_seconds / 60:.0f}"
    found = _OWNER.match(holder.owner)
    if not found or found["host"] != _this_host():
        return ""  # another host's process: only its age tells
    pid = int(found["pid"])
    if pid == os.getpid():
        return "" if found["process"] == _PROCESS else "an earlier process of this host with this pid"
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return "its process on this host is gone"
    except PermissionError:
        return ""  # exists, someone else's
    return ""


def _this_host() -> str:
    return re.sub(r"[^\w.-]", "_", socket.gethostname())


def _held_message(database: str, holder: _Holder | None, removal: str, timing: LockTiming) -> str:
    who = f"{holder.owner} since {holder.since} UTC" if holder else "migrators that keep taking and releasing it"
    return (
        f"the migration lock of ClickHouse database {database} is held by {who}: another `serambi db migrate` "
        f"is running; retry when it is done (a lock older than {timing.stale_seconds / 60:.0f} min is broken), "
        f"or if that process is gone: {removal}"
    )


class _TableLock:
    """Held while ``<db>.schema_migration_lock`` exists; its uuid tells one holding from the next.

    The holder's name is the table's comment and its time the table's creation, so both exist the moment the
    lock does (a migrator killed right after taking it still says who it was).
    """

    def __init__(self, runner: MigrationRunner, owner: str) -> None:
        self._runner, self._owner, self._db = runner, owner, runner.database
        self._uuid: str | None = None
        self.removal = f"DROP TABLE {self._db}.{LOCK_TABLE}"

    def take(self) -> bool:
        # ClickHouse takes no bound parameter in a COMMENT: the owner is spliced, checked to be our own format
        # (host name letters, digits, '.', '-', '_'; a pid; a hex token), so it cannot close the quote.
        if not _OWNER.match(self._owner) or "'" in self._owner:
            msg = f"unexpected migration lock owner {self._owner!r}"
            raise ValueError(msg)
        try:
            # No IF NOT EXISTS: creating the table is the atomic test-and-set.
            self._runner.command(
                f"CREATE TABLE {self._db}.{LOCK_TABLE} (held UInt8) ENGINE = Memory COMMENT '{self._owner}'"
            )
        except StoreError as exc:
            if any(marker in str(exc) for marker in _HELD):
                return False
            raise
        self._uuid = self._current_uuid()
        return True

    def holder(self) -> _Holder | None:
        found = self._runner.query(
            "SELECT comment, toString(metadata_modification_time, 'UTC'), "
            "dateDiff('second', metadata_modification_time, now()), toString(uuid) FROM system.tables "
            "WHERE database = {db:String} AND name = {table:String}",
            {"db": self._db, "table": LOCK_TABLE},
        ).rows
        if not found:
            return None
        owner, since, age, uuid = found[0]
        return _Holder(str(owner) or "an unknown migrator", str(since), float(age), str(uuid))

    def break_(self, holder: _Holder) -> None:
        # Renamed aside under a name made of its uuid, not dropped: two migrators breaking the same stale lock
        # at once cannot both succeed (the second rename finds the name taken), so neither removes a fresh lock.
        aside = f"{LOCK_TABLE}_broken_{holder.token.replace('-', '')}"
        try:
            if self._current_uuid() == holder.token:
                self._runner.command(f"RENAME TABLE {self._db}.{LOCK_TABLE} TO {self._db}.{aside}")
        except StoreError:
            if self._current_uuid() == holder.token:
                raise  # still there: not a lost race

    def release(self) -> None:
        if self._current_uuid() == self._uuid:
            self._runner.command(f"DROP TABLE IF EXISTS {self._db}.{LOCK_TABLE} SYNC")
        else:
            log.warning("the migration lock of %s was broken while this migrator held it", self._db)
        aside = self._runner.query(
            "SELECT name FROM system.tables WHERE database = {db:String} AND startsWith(name, {prefix:String})",
            {"db": self._db, "prefix": f"{LOCK_TABLE}_broken_"},
        ).rows
        for (name,) in aside:
            self._runner.command(f"DROP TABLE IF EXISTS {self._db}.{name} SYNC")

    def _current_uuid(self) -> str | None:
        rows = self._runner.query(
            "SELECT toString(uuid) FROM system.tables WHERE database = {db:String} AND name = {table:String}",
            {"db": self._db, "table": LOCK_TABLE},
        ).rows
        return str(rows[0][0]) if rows else None


class _KeeperLock:
    """Held while a key exists in a ``KeeperMap`` table: one lock for every node of the cluster.

    The table is every node's handle on the same Keeper path, created ON CLUSTER: the migrator's statements may
    reach any node (a load balancer in front of the replicas). The servers need ``<keeper_map_path_prefix>`` in
    their configuration (deploy/compose/clickhouse/config.d, the k8s ClickHouseInstallation).
    """

    def __init__(self, runner: MigrationRunner, owner: str, cluster: str) -> None:
        self._runner, self._owner, self._db = runner, owner, runner.database
        self._token = secrets.token_hex(8)
        self.removal = f"DELETE FROM {self._db}.{LOCK_TABLE} WHERE key = '{_LOCK_KEY}'"
        runner.command(f"CREATE DATABASE IF NOT EXISTS {self._db} ON CLUSTER {cluster}")
        runner.command(
            f"CREATE TABLE IF NOT EXISTS {self._db}.{LOCK_TABLE} ON CLUSTER {cluster} (key String, owner String, "
            f"token String, taken_at DateTime64(3, 'UTC')) ENGINE = KeeperMap('/serambi/{self._db}/migration_lock') "
            "PRIMARY KEY key"
        )

    def take(self) -> bool:
        try:
            self._runner.command(
                f"INSERT INTO {self._db}.{LOCK_TABLE} (key, owner, token, taken_at) "
                f"SETTINGS keeper_map_strict_mode = 1 SELECT '{_LOCK_KEY}', {{owner:String}}, {{token:String}}, "
                "now64(3)",
                {"owner": self._owner, "token": self._token},
            )
        except StoreError as exc:
            if any(marker in str(exc) for marker in _HELD):
                return False
            raise
        return True

    def holder(self) -> _Holder | None:
        rows = self._runner.query(
            f"SELECT owner, toString(taken_at), dateDiff('second', taken_at, now64(3)), token "
            f"FROM {self._db}.{LOCK_TABLE} WHERE key = '{_LOCK_KEY}'"
        ).rows
        return _Holder(str(rows[0][0]), str(rows[0][1]), float(rows[0][2]), str(rows[0][3])) if rows else None

    def break_(self, holder: _Holder) -> None:
        self._delete(holder.token)  # only that holding's key: a fresh one has another token

    def release(self) -> None:
        self._delete(self._token)

    def _delete(self, token: str) -> None:
        self._runner.command(
            f"DELETE FROM {self._db}.{LOCK_TABLE} WHERE key = '{_LOCK_KEY}' AND token = {{token:String}}",
            {"token": token},
        )
