"""``serambi dashboards publish``: the generated dashboards, their folders and data sources into a Grafana.

Idempotent: a second publish of the same files writes nothing and reports every object ``unchanged``; a
changed dashboard is saved in place under its uid (Grafana bumps its version, no duplicate). A dashboard
edited in Grafana since Serambi published it is not replaced without ``--overwrite``: every upload carries
a fingerprint of its content (key ``serambiPublished``), and a stored dashboard whose content no longer
matches its fingerprint was changed by someone else. Grafana's own optimistic lock (the posted ``version``,
HTTP 412 ``version-mismatch``) covers an edit made while a publish runs.

The dashboards' data source variables (type ``datasource``, for the ClickHouse plugin and for Prometheus)
get Serambi's data sources as their current value, so a Grafana holding other ClickHouse or Prometheus data
sources still opens them on Serambi's; a viewer may switch. The token comes from ``SERAMBI_GRAFANA_TOKEN``
only and appears in no output, log line or error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import orjson

from dashboards.errors import (
    DashboardFileError,
    DashboardsError,
    GrafanaAuthError,
    GrafanaConflictError,
    GrafanaRequestError,
    GrafanaUnreachableError,
    PublishConfigError,
)

__all__ = [
    "CLICKHOUSE",
    "FOLDERS",
    "MARKER",
    "PROMETHEUS",
    "DataSource",
    "Folder",
    "LocalDashboard",
    "Publisher",
    "Target",
    "content_of",
    "fingerprint",
    "grafana_base",
    "load_dashboards",
    "publish_command",
]

log = logging.getLogger(__name__)

MARKER = "serambiPublished"
READONLY_USER = "serambi_grafana"
PASSWORD_ENV = "SERAMBI_GRAFANA_CLICKHOUSE_PASSWORD"  # noqa: S105 - a variable name, no password
TIMEOUT_SECONDS = 10.0
_IGNORED_KEYS = ("id", "version", MARKER)  # Grafana owns id and version; the marker is ours


@dataclass(frozen=True)
class Folder:
    """A Grafana folder of one audience; ``uid`` is stable so provisioning and publishing agree."""

    uid: str
    title: str


# dashboards/generated/<key>/<uid>.json -> the folder that dashboard lives in.
FOLDERS = {
    "central-office": Folder("serambi-central-office", "Central office"),
    "agency-teams": Folder("serambi-agency-teams", "Agency teams"),
    "ops": Folder("serambi-ops", "Operations"),
}


@dataclass(frozen=True)
class DataSource:
    """A data source Serambi's dashboards read: ``plugin`` is the type their ``datasource`` variables query."""

    uid: str
    name: str
    plugin: str


CLICKHOUSE = DataSource("serambi-clickhouse", "Serambi ClickHouse", "grafana-clickhouse-datasource")
PROMETHEUS = DataSource("serambi-prometheus", "Serambi Prometheus", "prometheus")
_BY_PLUGIN = {source.plugin: source for source in (CLICKHOUSE, PROMETHEUS)}


@dataclass(frozen=True)
class LocalDashboard:
    """One generated dashboard as it will be uploaded (``model`` has no id, version or marker)."""

    uid: str
    title: str
    folder: Folder
    model: dict[str, Any]
    plugins: frozenset[str]


@dataclass(frozen=True)
class Target:
    """Where and how to publish. ``token`` and ``clickhouse_password`` are secrets: never print them."""

    grafana_url: str
    token: str = field(repr=False)
    clickhouse_url: str = ""
    clickhouse_password: str = field(default="", repr=False)
    clickhouse_database: str = "serambi"
    prometheus_url: str = ""


def content_of(model: dict[str, Any]) -> dict[str, Any]:
    """A dashboard's content for comparisons: everything but Grafana's ``id``/``version`` and our marker."""
    return {key: value for key, value in model.items() if key not in _IGNORED_KEYS}


def fingerprint(model: dict[str, Any]) -> str:
    """A digest of a dashboard's content (key order does not matter)."""
    canonical = orjson.dumps(content_of(model), option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def load_dashboards(root: Traversable) -> list[LocalDashboard]:
    """The dashboards under ``root/<folder>/<uid>.json``, sorted by folder and uid.

    Raises :class:`DashboardFileError` for a missing or empty tree, an unknown folder, a file that is not a
    dashboard, or a uid used twice.
    """
    if not root.is_dir():
        msg = f"no dashboards at {root}: run `serambi dashboards generate` (or pass --from DIR)"
        raise DashboardFileError(msg)
    found = [_load(path, _folder_of(folder_dir)) for folder_dir, path in _dashboard_files(root)]
    if not found:
        msg = f"no dashboard JSON under {root}/<folder>/: run `serambi dashboards generate` (or pass --from DIR)"
        raise DashboardFileError(msg)
    twice = [uid for uid, count in Counter(board.uid for board in found).items() if count > 1]
    if twice:
        msg = f"dashboard uid {twice[0]!r} is used by more than one file under {root}: give each a unique uid"
        raise DashboardFileError(msg)
    return found


def _dashboard_files(root: Traversable) -> Iterator[tuple[Traversable, Traversable]]:
    for folder_dir in sorted(root.iterdir(), key=lambda entry: entry.name):
        if folder_dir.is_dir() and not folder_dir.name.startswith((".", "_")):
            for path in sorted(folder_dir.iterdir(), key=lambda entry: entry.name):
                if path.name.endswith(".json"):
                    yield folder_dir, path


def _folder_of(folder_dir: Traversable) -> Folder:
    if folder_dir.name not in FOLDERS:
        msg = f"unknown dashboard folder {folder_dir.name!r}: expected one of {', '.join(FOLDERS)}"
        raise DashboardFileError(msg)
    return FOLDERS[folder_dir.name]


def _load(path: Traversable, folder: Folder) -> LocalDashboard:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        msg = f"{path}: not readable JSON ({exc}): run `serambi dashboards generate`"
        raise DashboardFileError(msg) from None
    if not isinstance(data, dict) or not isinstance(data.get("uid"), str) or not isinstance(data.get("title"), str):
        msg = f"{path}: not a dashboard (needs a string uid and title): run `serambi dashboards generate`"
        raise DashboardFileError(msg)
    if path.name != f"{data['uid']}.json" or len(data["uid"]) > 40:
        msg = f"{path}: a dashboard file is named <uid>.json with a uid of at most 40 characters (uid {data['uid']!r})"
        raise DashboardFileError(msg)
    model = content_of(data)
    plugins = _point_variables_at_serambi(model)
    return LocalDashboard(data["uid"], data["title"], folder, model, plugins)


def _point_variables_at_serambi(model: dict[str, Any]) -> frozenset[str]:
    """Set each data source variable's current value to Serambi's data source; return the plugins used."""
    plugins = set()
    for variable in model.get("templating", {}).get("list", []):
        source = _BY_PLUGIN.get(variable.get("query", "")) if variable.get("type") == "datasource" else None
        if source is not None:
            plugins.add(source.plugin)
            variable["current"] = {"selected": True, "text": source.name, "value": source.uid}
    return frozenset(plugins)


def grafana_base(url: str) -> tuple[str, str, int | None, str]:
    """``(protocol, host, port, path prefix)`` of Grafana's root URL; credentials in it are refused."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = (
            f"Grafana URL {_shown(url)!r} must be http(s)://host[:port][/path]: fix --grafana-url / SERAMBI_GRAFANA_URL"
        )
        raise PublishConfigError(msg)
    if parts.username or parts.password:
        msg = "the Grafana URL carries credentials: remove them and put the token in SERAMBI_GRAFANA_TOKEN"
        raise PublishConfigError(msg)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    prefix = parts.path.strip("/")
    return parts.scheme, host, parts.port, f"{prefix}/" if prefix else ""


def _shown(url: str) -> str:
    """``url`` without user info, for messages."""
    parts = urlsplit(url.strip())
    if parts.password or parts.username:
        return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    return url.strip()


def clickhouse_body(target: Target) -> dict[str, Any]:
    """The ``POST /api/datasources`` body of the ClickHouse data source (plugin v4 fields, HTTP protocol)."""
    parts = urlsplit(target.clickhouse_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = "set --clickhouse-url / SERAMBI_GRAFANA_CLICKHOUSE_URL to ClickHouse's HTTP URL as Grafana reaches it"
        raise PublishConfigError(msg)
    if parts.username or parts.password:
        msg = f"the ClickHouse URL for Grafana carries credentials: remove them and set {PASSWORD_ENV}"
        raise PublishConfigError(msg)
    if not target.clickhouse_password:
        msg = f"set {PASSWORD_ENV} to the password of ClickHouse's read-only user {READONLY_USER}"
        raise PublishConfigError(msg)
    secure = parts.scheme == "https"
    json_data: dict[str, Any] = {
        "host": parts.hostname,
        "port": parts.port or (8443 if secure else 8123),
        "protocol": "http",
        "secure": secure,
        "username": READONLY_USER,
        "defaultDatabase": target.clickhouse_database,
    }
    if parts.path.strip("/"):
        json_data["path"] = parts.path
    return {
        "uid": CLICKHOUSE.uid,
        "name": CLICKHOUSE.name,
        "type": CLICKHOUSE.plugin,
        "access": "proxy",
        "jsonData": json_data,
        "secureJsonData": {"password": target.clickhouse_password},
    }


def prometheus_body(target: Target) -> dict[str, Any]:
    """The ``POST /api/datasources`` body of the Prometheus data source."""
    parts = urlsplit(target.prometheus_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = "set --prometheus-url / SERAMBI_GRAFANA_PROMETHEUS_URL to Prometheus's URL as Grafana reaches it"
        raise PublishConfigError(msg)
    return {
        "uid": PROMETHEUS.uid,
        "name": PROMETHEUS.name,
        "type": PROMETHEUS.plugin,
        "access": "proxy",
        "url": target.prometheus_url.strip(),
        "jsonData": {"httpMethod": "POST"},
    }


@dataclass
class Change:
    """One object's outcome: ``action`` is create, update or unchanged; ``write`` performs it."""

    kind: str
    uid: str
    title: str
    action: str
    detail: str = ""
    write: Callable[[], str] | None = None


class _NotFound(Exception):
    """Grafana answered 404: the object does not exist (yet)."""


class _Version412(Exception):
    """Grafana answered 412 ``version-mismatch`` to a dashboard save (edited while we published)."""


class _Grafana:
    """grafana-client calls with Grafana's answers mapped onto :mod:`dashboards.errors` (token redacted)."""

    def __init__(self, target: Target) -> None:
        from grafana_client.api import GrafanaApi  # noqa: PLC0415 - heavy import, only when publishing

        protocol, host, port, prefix = grafana_base(target.grafana_url)
        self.url = _shown(target.grafana_url)
        self._token = target.token
        self._api: Any = GrafanaApi(
            auth=target.token, protocol=protocol, host=host, port=port, url_path_prefix=prefix, timeout=TIMEOUT_SECONDS
        )

    def get(self, what: str, call: Callable[[], Any]) -> dict[str, Any] | None:
        """``call()``'s JSON object, or None when Grafana answers 404."""
        try:
            return self._call(what, call, missing_ok=True)
        except _NotFound:
            return None

    def post(self, what: str, call: Callable[[], Any]) -> dict[str, Any]:
        """``call()``'s JSON object; a 412 version-mismatch raises :class:`_Version412`."""
        return self._call(what, call, missing_ok=False)

    @property
    def api(self) -> Any:
        """The grafana-client ``GrafanaApi`` (untyped)."""
        return self._api

    def _call(self, what: str, call: Callable[[], Any], *, missing_ok: bool) -> dict[str, Any]:
        from grafana_client.client import GrafanaException, GrafanaTimeoutError  # noqa: PLC0415
        from niquests.exceptions import RequestException  # noqa: PLC0415

        try:
            result = call()
        except GrafanaTimeoutError:
            msg = f"Grafana at {self.url} did not answer {what} within {TIMEOUT_SECONDS:g} s: check it runs, then retry"
            raise GrafanaUnreachableError(msg) from None
        except RequestException as exc:
            msg = (
                f"cannot reach Grafana at {self.url} ({self._redact(_reason(exc))}): check --grafana-url / "
                "SERAMBI_GRAFANA_URL and that Grafana runs"
            )
            raise GrafanaUnreachableError(msg) from None
        except GrafanaException as exc:
            if exc.status_code == 404 and missing_ok:
                raise _NotFound from None
            raise self._refused(what, exc) from None
        if not isinstance(result, dict):
            msg = f"{self.url} answered {what} with something other than Grafana's JSON: is it Grafana's root URL?"
            raise GrafanaRequestError(msg, 200)
        return result

    def _refused(self, what: str, exc: Any) -> Exception:
        status, body = int(exc.status_code), exc.response
        reason = self._redact(str(body.get("message", "")) if isinstance(body, dict) else str(body or ""))[:200]
        if status == 401:
            msg = (
                f"Grafana at {self.url} refused the token (401 {reason or 'Unauthorized'}): set SERAMBI_GRAFANA_TOKEN "
                "to a valid service-account token of that Grafana"
            )
            return GrafanaAuthError(msg)
        if status == 403:
            msg = (
                f"Grafana at {self.url} denied {what} (403 {reason}): give the service account of "
                "SERAMBI_GRAFANA_TOKEN the Admin role (data sources need it; Editor suffices for dashboards)"
            )
            return GrafanaAuthError(msg)
        if status == 412 and isinstance(body, dict) and body.get("status") == "version-mismatch":
            return _Version412(reason)
        if status == 0:
            return GrafanaUnreachableError(f"cannot reach Grafana at {self.url} ({reason}): check that it runs")
        return GrafanaRequestError(f"Grafana at {self.url} refused {what}: {status} {reason}", status)

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "<token>") if self._token else text


def _reason(exc: Exception) -> str:
    """The short cause inside a urllib3-style error (``Connection refused``), not its whole repr."""
    text = str(exc)
    for pattern in (r"\[Errno -?\d+\] ([^'\")]+)", r"(Failed to resolve '[^']+')", r"(timed out)"):
        if match := re.search(pattern, text):
            return match.group(1).strip()
    return type(exc).__name__


class Publisher:
    """Plans and writes folders, data sources and dashboards into one Grafana.

    ``plan(dashboards)`` reads only; ``apply(changes)`` writes. ``overwrite`` replaces dashboards edited in
    Grafana instead of refusing. Example: ``Publisher(target).publish(load_dashboards(root), say=print)``.
    """

    def __init__(self, target: Target, *, overwrite: bool = False) -> None:
        self.target = target
        self.overwrite = overwrite
        self.grafana = _Grafana(target)

    def publish(self, dashboards: list[LocalDashboard], say: Callable[[str], None], *, dry_run: bool = False) -> None:
        """Plan, then write (unless ``dry_run``), saying one line per object and a summary."""
        changes = self.plan(dashboards)
        if dry_run:
            for change in changes:
                say(_line(change, "would " + change.action if change.action != "unchanged" else "unchanged"))
            say(f"dry run, nothing written to {self.grafana.url}: {_counts(changes, dry_run=True)}")
            return
        self.apply(changes, say)
        say(f"published to {self.grafana.url}: {_counts(changes, dry_run=False)}")

    def plan(self, dashboards: list[LocalDashboard]) -> list[Change]:
        """What publishing would do, read from Grafana; refuses (before any write) when dashboards were edited."""
        changes = [self._plan_folder(folder) for folder in FOLDERS.values()]
        plugins = {plugin for board in dashboards for plugin in board.plugins}
        changes += [self._plan_source(source) for source in (CLICKHOUSE, PROMETHEUS) if source.plugin in plugins]
        edited: list[str] = []
        for board in dashboards:
            change, was_edited = self._plan_dashboard(board)
            changes.append(change)
            if was_edited and not self.overwrite:
                edited.append(f"{board.title!r} ({board.uid}{change.detail})")
        if edited:
            raise _conflict(edited, written=False)
        return changes

    def apply(self, changes: list[Change], say: Callable[[str], None]) -> None:
        """Write the planned changes in order (folders, data sources, dashboards), one line each."""
        for change in changes:
            if change.write is not None:
                try:
                    change.detail = change.write()
                except _Version412:
                    raise _conflict([f"{change.title!r} ({change.uid})"], written=True) from None
                change.action = _DONE[change.action]
            say(_line(change, change.action))

    def _plan_folder(self, folder: Folder) -> Change:
        folders = self.grafana.api.folder
        if self.grafana.get(f"the folder {folder.uid}", lambda: folders.get_folder(folder.uid)) is not None:
            return Change("folder", folder.uid, folder.title, "unchanged")

        def write() -> str:
            self.grafana.post(
                f"creating folder {folder.title!r}", lambda: folders.create_folder(folder.title, folder.uid)
            )
            return ""

        return Change("folder", folder.uid, folder.title, "create", write=write)

    def _plan_source(self, source: DataSource) -> Change:
        sources = self.grafana.api.datasource
        stored = self.grafana.get(f"the data source {source.uid}", lambda: sources.get_datasource_by_uid(source.uid))
        if stored is not None:
            if stored.get("type") != source.plugin:
                msg = (
                    f"data source {source.uid} in Grafana is of type {stored.get('type')!r}, the dashboards need "
                    f"{source.plugin!r}: delete it in Grafana and publish again"
                )
                raise GrafanaRequestError(msg, 409)
            return Change("datasource", source.uid, str(stored.get("name", source.name)), "unchanged")
        body = clickhouse_body(self.target) if source is CLICKHOUSE else prometheus_body(self.target)

        def write() -> str:
            self.grafana.post(f"creating data source {source.name!r}", lambda: sources.create_datasource(body))
            return ""

        return Change("datasource", source.uid, source.name, "create", write=write)

    def _plan_dashboard(self, board: LocalDashboard) -> tuple[Change, bool]:
        dashboards = self.grafana.api.dashboard
        stored = self.grafana.get(f"the dashboard {board.uid}", lambda: dashboards.get_dashboard(board.uid))
        upload = {**board.model, MARKER: {"fingerprint": fingerprint(board.model)}}
        where = f" in {board.folder.title}"
        if stored is None:
            return Change(
                "dashboard", board.uid, board.title, "create", where, self._saver(board, upload, False)
            ), False
        model, meta = stored.get("dashboard", {}), stored.get("meta", {})
        version = model.get("version")
        if content_of(model) == board.model and meta.get("folderUid") == board.folder.uid:
            return Change("dashboard", board.uid, board.title, "unchanged", f"{where}, version {version}"), False
        if meta.get("provisioned"):
            msg = (
                f"dashboard {board.title!r} ({board.uid}) is provisioned from files in that Grafana: update the "
                "provisioned files (deploy/grafana) instead of publishing, or remove that dashboard provider"
            )
            raise GrafanaRequestError(msg, 400)
        marker = model.get(MARKER)
        edited = not (isinstance(marker, dict) and marker.get("fingerprint") == fingerprint(model))
        upload.update(id=model.get("id"), version=version)
        by = f", last saved by {meta['updatedBy']}" if meta.get("updatedBy") else ""
        change = Change("dashboard", board.uid, board.title, "update", f", version {version}{by}")
        change.write = self._saver(board, upload, edited and self.overwrite)
        return change, edited

    def _saver(self, board: LocalDashboard, upload: dict[str, Any], overwrite: bool) -> Callable[[], str]:
        def write() -> str:
            body = {
                "dashboard": upload,
                "folderUid": board.folder.uid,
                "overwrite": overwrite,
                "message": "serambi dashboards publish",
            }
            saved = self.grafana.post(
                f"saving dashboard {board.title!r}", lambda: self.grafana.api.dashboard.update_dashboard(body)
            )
            log.info("saved dashboard %s as version %s", board.uid, saved.get("version"))
            return f" in {board.folder.title}, version {saved.get('version')}"

        return write


def _conflict(edited: list[str], *, written: bool) -> GrafanaConflictError:
    what = "the changes listed above were written" if written else "nothing was written"
    msg = (
        f"{len(edited)} dashboard(s) changed in Grafana since Serambi published them: {'; '.join(edited)}; {what}. "
        "Move those edits into dashboards/ code, or rerun with --overwrite to replace them"
    )
    return GrafanaConflictError(msg, tuple(edited))


_DONE = {"create": "created", "update": "updated"}


def _line(change: Change, action: str) -> str:
    return f"{action:<15} {change.kind:<10} {change.title} ({change.uid}){change.detail}"


def _counts(changes: list[Change], *, dry_run: bool) -> str:
    counts = Counter(change.action for change in changes)
    if dry_run:
        words = (("create", "to create"), ("update", "to update"), ("unchanged", "unchanged"))
    else:
        words = (("created", "created"), ("updated", "updated"), ("unchanged", "unchanged"))
    return ", ".join(f"{counts[action]} {word}" for action, word in words)


def packaged_dashboards() -> Traversable:
    """``dashboards/generated`` as packaged (works from a wheel, without a source checkout)."""
    return resources.files("dashboards") / "generated"


_HELP_EPILOG = """\b
Settings (environment; the token has no option so it stays out of shell history and process lists):
  SERAMBI_GRAFANA_URL                  Grafana's root URL (or --grafana-url)
  SERAMBI_GRAFANA_TOKEN                service-account token: role Admin to create data sources,
                                       Editor when they exist already
  SERAMBI_GRAFANA_CLICKHOUSE_URL       ClickHouse HTTP URL as Grafana reaches it (or --clickhouse-url)
  SERAMBI_GRAFANA_CLICKHOUSE_PASSWORD  password of ClickHouse's read-only user serambi_grafana
  SERAMBI_GRAFANA_PROMETHEUS_URL       Prometheus URL as Grafana reaches it (or --prometheus-url)

\b
Creates folders Central office (serambi-central-office), Agency teams (serambi-agency-teams) and
Operations (serambi-ops) and the data sources serambi-clickhouse and serambi-prometheus when missing
(existing ones are left as they are), then saves each dashboard under its uid. The dashboards'
data source variables open on those two data sources. Example:
  SERAMBI_GRAFANA_TOKEN=glsa_... serambi dashboards publish --grafana-url http://grafana:3000 --dry-run
"""


@click.command("publish", epilog=_HELP_EPILOG)
@click.option("--grafana-url", metavar="URL", default=None, help="Grafana's root URL [env SERAMBI_GRAFANA_URL].")
@click.option(
    "--clickhouse-url",
    metavar="URL",
    default=None,
    help="ClickHouse HTTP URL for Grafana's data source, no credentials [env SERAMBI_GRAFANA_CLICKHOUSE_URL].",
)
@click.option(
    "--prometheus-url",
    metavar="URL",
    default=None,
    help="Prometheus URL for Grafana's data source [env SERAMBI_GRAFANA_PROMETHEUS_URL].",
)
@click.option(
    "--from",
    "source_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Dashboards to publish, as <DIR>/<folder>/<uid>.json [default: the packaged dashboards/generated].",
)
@click.option("--overwrite", is_flag=True, help="Replace dashboards edited in Grafana since the last publish.")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.pass_context
def publish_command(  # noqa: PLR0913 - one parameter per option
    ctx: click.Context,
    grafana_url: str | None,
    clickhouse_url: str | None,
    prometheus_url: str | None,
    source_dir: Path | None,
    overwrite: bool,
    dry_run: bool,
) -> None:
    """Publish the dashboards to a Grafana: folders, data sources, then each dashboard, idempotently.

    Prints one line per object (created, updated or unchanged) and a summary. A dashboard edited in
    Grafana since it was published is refused (exit 1, nothing written) unless --overwrite is given.
    """
    # Imported here: pipeline.cli imports this module, so a module-level import would be circular when
    # dashboards.publish is imported first.
    from pipeline.cli.common import friendly, read_settings_of  # noqa: PLC0415

    @friendly
    def run() -> None:
        settings = read_settings_of(ctx, require_data=False)
        token = settings.grafana_token.get_secret_value()
        try:
            target = Target(
                grafana_url=_required_url(grafana_url or settings.grafana_url),
                token=_required_token(token),
                clickhouse_url=clickhouse_url or settings.grafana_clickhouse_url,
                clickhouse_password=os.environ.get(PASSWORD_ENV, ""),
                clickhouse_database=settings.clickhouse_database,
                prometheus_url=prometheus_url or settings.grafana_prometheus_url,
            )
            boards = load_dashboards(source_dir if source_dir is not None else packaged_dashboards())
            Publisher(target, overwrite=overwrite).publish(boards, click.echo, dry_run=dry_run)
        except DashboardsError as exc:
            raise click.ClickException(str(exc).replace(token, "<token>") if token else str(exc)) from None

    run()


def _required_url(url: str) -> str:
    if not url:
        msg = "no Grafana to publish to: pass --grafana-url URL or set SERAMBI_GRAFANA_URL"
        raise PublishConfigError(msg)
    return url


def _required_token(token: str) -> str:
    if not token:
        msg = "set SERAMBI_GRAFANA_TOKEN to a Grafana service-account token (it has no command-line option)"
        raise PublishConfigError(msg)
    return token
