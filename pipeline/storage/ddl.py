"""One source of ClickHouse DDL, rendered for chDB or one server (the files as written) or a replicated cluster.

``schemas/clickhouse/NNNN_name.sql`` are written for one node, with ``{db}`` for the database. For a cluster
(``SERAMBI_CLICKHOUSE_CLUSTER``) each statement goes through a small transformation of its head, so the files
stay the only copy of the schema:

- every CREATE/ALTER/DROP/RENAME gets ``ON CLUSTER <cluster>``;
- a *sharded* MergeTree-family table ``t`` (:data:`SHARDING_KEYS`) becomes ``t_local`` with the engine
  ``Replicated<Engine>('/clickhouse/tables/{shard}/{database}/t_local', '{replica}', <args>)`` plus a
  ``Distributed`` table named ``t`` over it, so every query and insert of the code keeps naming ``t``;
- a *small* table (:data:`EVERY_SHARD`) keeps its name and is replicated to every node (one replication
  group for the whole cluster): reads are local and whole, and ``DELETE`` (the rollups drop old builds) works,
  which it does not through a ``Distributed`` table;
- a materialized view reads the ``_local`` tables of its shard and writes to the ``_local`` target (the
  rollups on each shard) or to an every-shard table (which replication spreads);
- ``ALTER`` goes to the local table; a column change also goes to the ``Distributed`` table so reads see it;
- ``INSERT ... SELECT`` (backfills) runs once, on the node that migrates, through the ``Distributed`` tables.

Rendering needs no ClickHouse (``serambi db render`` works offline); the tests check that every rendered
statement parses with ClickHouse's own parser. A statement of a shape this module does not know raises
``ValueError`` naming it, so a new migration is taught here before it can reach a cluster.

Example::

    for migration in render_migrations("serambi", "prod"):
        print(migration.name, *migration.statements, sep="\\n")
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import resources
from importlib.abc import Traversable
from typing import Final, NamedTuple

from pipeline.errors import ConfigError
from schemas.tables import (
    ACTIVITY_MINUTES,
    AGENCIES,
    ALERTS,
    CHANGES,
    CONVERSATION_INDEX,
    DAY_ROLLUP,
    DEAD_LETTERS,
    HOUR_ROLLUP,
    INTERACTIONS,
    POSTS,
    REACTIONS,
    RESPONSE_FACTS,
    ROLLUP_BUILDS,
    ROLLUP_TOUCHES,
    SOURCE_CURSORS,
)

__all__ = [
    "EVERY_SHARD",
    "SCHEMA_MIGRATIONS",
    "SCHEMA_MIGRATIONS_DDL",
    "SHARDING_KEYS",
    "Migration",
    "check_identifier",
    "local_table",
    "migration_files",
    "on_cluster",
    "render_migrations",
    "render_statement",
    "split_statements",
]

SCHEMA_MIGRATIONS: Final = "schema_migrations"
SCHEMA_MIGRATIONS_DDL: Final = (
    "CREATE TABLE IF NOT EXISTS {db}.schema_migrations "
    "(version UInt32, name String, applied_at DateTime64(3, 'UTC')) "
    "ENGINE = ReplacingMergeTree ORDER BY version"
)
"""The bookkeeping table, rendered like the migrations (replicated to every node on a cluster)."""

# A conversation's rows stay on one shard: the worker's matcher, the facts and the report join them per
# conversation, and a redelivered event lands where its first copy is (ReplacingMergeTree's FINAL and
# LIMIT 1 BY then deduplicate within one shard).
_CONVERSATION: Final = "cityHash64(platform, account_id, root_id)"
_ACCOUNT: Final = "cityHash64(platform, account_id)"
SHARDING_KEYS: Final[dict[str, str]] = {
    INTERACTIONS: _CONVERSATION,
    CHANGES: _CONVERSATION,
    RESPONSE_FACTS: _CONVERSATION,
    # Filled by views of interactions and changes on each shard: the same key puts a backfill's rows there too.
    CONVERSATION_INDEX: _CONVERSATION,
    POSTS: _ACCOUNT,
    REACTIONS: _ACCOUNT,
    # Filled on each shard by views; partial uniqExact states of one minute merge when read (uniqExactMerge).
    ACTIVITY_MINUTES: _ACCOUNT,
    # Can grow with a poison storm (the raw record is kept), so it is spread; one id stays on one shard.
    DEAD_LETTERS: "cityHash64(source, id)",
}
"""Large tables: a ``_local`` table on each shard plus a ``Distributed`` one under the name, by this key."""

EVERY_SHARD: Final = frozenset(
    {
        # Small, read whole and joined everywhere (the activity view of posts joins the directory locally).
        AGENCIES,
        "agency_audit",  # pipeline.storage.agencies.AGENCY_AUDIT (not imported: that module needs the store)
        ALERTS,
        SOURCE_CURSORS,
        SCHEMA_MIGRATIONS,
        # ~1 row per account and day or hour; a refresh deletes old builds (DELETE does not reach through a
        # Distributed table) and readers must see one build of a day, which a full copy on each node gives.
        DAY_ROLLUP,
        HOUR_ROLLUP,
        ROLLUP_BUILDS,
        ROLLUP_TOUCHES,
        # Tens of rows per agency and listening slot, written by the leader worker, read whole per agency.
        "citizen_topics",  # pipeline.storage.sql.listening.CITIZEN_TOPICS (ddl stays free of the catalog)
    }
)
"""Small tables: one table under its name, replicated to every node (no ``Distributed``: it would read each
row once per shard)."""

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_REF = re.compile(r"\{db\}\.(\w+)")
_NAME = r"\{db\}\.(\w+)"
_CREATE_TABLE = re.compile(rf"^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}")
_ENGINE = re.compile(r"\bENGINE\s*=\s*(\w+)(?:\(([^()]*)\))?")
_CREATE_MV = re.compile(rf"^CREATE\s+MATERIALIZED\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}\s+TO\s+")
_CREATE_VIEW = re.compile(rf"^CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}")
_ALTER = re.compile(rf"^ALTER\s+TABLE\s+{_NAME}\s+")
_COLUMN_ACTION = re.compile(r"(ADD|DROP|MODIFY|RENAME|COMMENT|CLEAR)\s+COLUMN\b", re.IGNORECASE)
_DROP = re.compile(rf"^DROP\s+(?:TABLE|VIEW|DICTIONARY)\s+(?:IF\s+EXISTS\s+)?{_NAME}")
_RENAME = re.compile(rf"^RENAME\s+TABLE\s+{_NAME}\s+TO\s+{_NAME}\s*$")
_INSERT_SELECT = re.compile(rf"^INSERT\s+INTO\s+{_NAME}(\s*\([^()]*\))?\s+(?=SELECT\b)")
# Where ``ON CLUSTER`` goes: after the object's name, or after GRANT/REVOKE.
_HEADS: Final = (
    re.compile(r"^CREATE\s+DATABASE\s+(?:IF\s+NOT\s+EXISTS\s+)?[\w{}]+"),
    re.compile(
        r"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:TABLE|VIEW|MATERIALIZED\s+VIEW|DICTIONARY)\s+(?:IF\s+NOT\s+EXISTS\s+)?[\w{}.]+"
    ),
    re.compile(r"^ALTER\s+TABLE\s+[\w{}.]+"),
    re.compile(r"^DROP\s+(?:TABLE|VIEW|DICTIONARY|DATABASE)\s+(?:IF\s+EXISTS\s+)?[\w{}.]+"),
    re.compile(
        r"^(?:CREATE|ALTER|DROP)\s+(?:SETTINGS\s+PROFILE|ROLE|USER|QUOTA)(?:\s+OR\s+REPLACE)?"
        r"(?:\s+IF\s+(?:NOT\s+)?EXISTS)?\s+\w+"
    ),
    re.compile(r"^(?:GRANT|REVOKE)\b"),
)


class Migration(NamedTuple):
    """One migration file rendered for one database and deployment: ``(version, name, statements)``."""

    version: int
    name: str
    statements: tuple[str, ...]


def check_identifier(value: str, what: str) -> str:
    """``value`` if it is a plain SQL identifier (it is spliced into DDL), else :class:`ConfigError`."""
    if not _IDENTIFIER.match(value):
        msg = f"the ClickHouse {what} {value!r} is not a plain identifier (letters, digits, _)"
        raise ConfigError(msg)
    return value


def migration_files() -> list[tuple[int, Traversable]]:
    """``(version, file)`` of every packaged migration, in version order."""
    folder = resources.files("schemas").joinpath("clickhouse")
    found = [(int(m.group(1)), e) for e in folder.iterdir() if (m := _MIGRATION_NAME.match(e.name))]
    return sorted(found, key=lambda item: item[0])


def split_statements(text: str) -> list[str]:
    """The statements of a migration file: ``--`` comment lines dropped, split at ``;``."""
    body = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def render_migrations(database: str, cluster: str | None = None) -> list[Migration]:
    """Every packaged migration rendered for ``database``: as written when ``cluster`` is ``None``, else for it."""
    check_identifier(database, "database name")
    found = []
    for version, entry in migration_files():
        templates = split_statements(entry.read_text(encoding="utf-8"))
        try:
            rendered = [s for t in templates for s in render_statement(t, cluster)]
        except ValueError as exc:
            msg = f"{entry.name}: {exc}"
            raise ValueError(msg) from exc
        found.append(Migration(version, entry.name, tuple(s.replace("{db}", database) for s in rendered)))
    return found


def local_table(table: str, cluster: str | None) -> str:
    """The table that holds ``table``'s rows on this node: ``<table>_local`` for a sharded table on a cluster."""
    if cluster is None:
        return table
    if table in SHARDING_KEYS:
        return f"{table}_local"
    if table in EVERY_SHARD:
        return table
    msg = (
        f"table {table!r} is neither sharded nor on every shard: add it to SHARDING_KEYS (with a sharding key) "
        "or EVERY_SHARD in pipeline/storage/ddl.py"
    )
    raise ValueError(msg)


def on_cluster(statement: str, cluster: str | None) -> str:
    """``statement`` with ``ON CLUSTER cluster`` in its head (unchanged when ``cluster`` is ``None``).

    For DDL written elsewhere (views, users, grants); table placement is :func:`render_statement`'s job.
    """
    if cluster is None:
        return statement
    check_identifier(cluster, "cluster name")
    if _RENAME.match(statement):
        return f"{statement} ON CLUSTER {cluster}"
    for head in _HEADS:
        if match := head.match(statement):
            return f"{statement[: match.end()]} ON CLUSTER {cluster}{statement[match.end() :]}"
    msg = f"no place for ON CLUSTER in {_first_line(statement)!r}"
    raise ValueError(msg)


def render_statement(template: str, cluster: str | None) -> list[str]:
    """One statement written for one node (``{db}`` not yet substituted), as the statements ``cluster`` runs."""
    if cluster is None:
        return [template]
    check_identifier(cluster, "cluster name")
    for pattern, render in _RENDERERS:
        if match := pattern.match(template):
            return [
                on_cluster(s, cluster) if not s.startswith("INSERT") else s for s in render(template, match, cluster)
            ]
    if template.startswith(("CREATE DATABASE", "CREATE ROLE", "CREATE USER", "GRANT")):
        return [on_cluster(template, cluster)]
    msg = f"cannot render {_first_line(template)!r} for a cluster: teach pipeline/storage/ddl.py this statement"
    raise ValueError(msg)


def _create_table(template: str, match: re.Match[str], cluster: str) -> list[str]:
    table = match.group(1)
    engine = _ENGINE.search(template)
    if engine is None or not engine.group(1).endswith("MergeTree"):
        return [template]  # Memory, Log, KeeperMap...: not replicated, one per node
    if engine.group(2) is None and template[engine.end() :].lstrip().startswith("("):
        msg = f"engine arguments of {table} hold parentheses, which this renderer does not split"
        raise ValueError(msg)
    local = local_table(table, cluster)
    if local == table:
        # One replication group for every node: the replica name must be unique across shards.
        path, replica = f"/clickhouse/tables/all/{{database}}/{table}", "{shard}-{replica}"
    else:
        path, replica = f"/clickhouse/tables/{{shard}}/{{database}}/{local}", "{replica}"
    args = ", ".join(a for a in (f"'{path}'", f"'{replica}'", (engine.group(2) or "").strip()) if a)
    replicated = f"ENGINE = Replicated{engine.group(1)}({args})"
    head = f"{template[: match.start(1)]}{local}{template[match.end(1) : engine.start()]}"
    statements = [f"{head}{replicated}{template[engine.end() :]}"]
    if local != table:
        key = SHARDING_KEYS[table]
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {{db}}.{table} AS {{db}}.{local} "
            f"ENGINE = Distributed({cluster}, {{db}}, {local}, {key})"
        )
    return statements


def _create_materialized_view(template: str, match: re.Match[str], cluster: str) -> list[str]:
    # The view stays under its name on every node; what it reads and writes are the tables of its own shard.
    rest = _REF.sub(lambda ref: "{db}." + local_table(ref.group(1), cluster), template[match.end() :])
    return [template[: match.end()] + rest]


def _alter(template: str, match: re.Match[str], cluster: str) -> list[str]:
    table, action = match.group(1), template[match.end() :]
    local = local_table(table, cluster)
    statements = [f"{template[: match.start(1)]}{local}{template[match.end(1) :]}"]
    if local != table and _COLUMN_ACTION.match(action):
        statements.append(template)  # the Distributed table: reads through it see the new column
    return statements


def _drop(template: str, match: re.Match[str], cluster: str) -> list[str]:
    table = match.group(1)
    local = local_table(table, cluster) if table in SHARDING_KEYS else table
    if local == table:
        return [template]
    return [template, f"{template[: match.start(1)]}{local}{template[match.end(1) :]}"]


def _rename(template: str, match: re.Match[str], _cluster: str) -> list[str]:
    if {match.group(1), match.group(2)} & set(SHARDING_KEYS):
        msg = "a sharded table is not renamed (its Distributed table names the local one): create and copy instead"
        raise ValueError(msg)
    return [template]


def _insert_select(template: str, match: re.Match[str], _cluster: str) -> list[str]:
    # Once, through the Distributed tables; stored on the shards before the migration is recorded.
    return [f"{template[: match.end()]}SETTINGS insert_distributed_sync = 1\n{template[match.end() :]}"]


def _view(template: str, _match: re.Match[str], _cluster: str) -> list[str]:
    return [template]  # a plain view reads the Distributed and every-shard tables as queries do


_Renderer = Callable[[str, re.Match[str], str], list[str]]
_RENDERERS: Final[tuple[tuple[re.Pattern[str], _Renderer], ...]] = (
    (_CREATE_TABLE, _create_table),
    (_CREATE_MV, _create_materialized_view),
    (_CREATE_VIEW, _view),
    (_ALTER, _alter),
    (_DROP, _drop),
    (_RENAME, _rename),
    (_INSERT_SELECT, _insert_select),
)


def _first_line(statement: str) -> str:
    return statement.strip().splitlines()[0][:120]
