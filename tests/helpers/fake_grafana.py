"""A fake Grafana HTTP API on 127.0.0.1 for ``serambi dashboards publish`` tests (Grafana cannot be installed here).

It implements the endpoints publishing uses with the request and response shapes of Grafana's HTTP API
documentation (developers/http_api: folder.md, data_source.md, dashboard.md, folder_dashboard_search.md):

- ``GET /api/folders``, ``GET /api/folders/:uid`` (404 when missing), ``POST /api/folders`` (409 when taken)
- ``GET /api/datasources``, ``GET /api/datasources/uid/:uid`` (404), ``POST /api/datasources`` (409 on a taken
  name or uid; ``secureJsonData`` is kept aside and only listed in ``secureJsonFields``)
- ``POST /api/dashboards/db``: create or save by uid; 412 ``version-mismatch`` when the posted version is not
  the stored one and ``overwrite`` is false; 412 ``name-exists`` for another dashboard of the same title in the
  folder; 400 for an unknown ``folderUid``
- ``GET /api/dashboards/uid/:uid`` (dashboard + meta, 404), ``GET /api/search`` (``type``, ``query``,
  ``dashboardUIDs``, ``folderUIDs``)

Every request needs ``Authorization: Bearer <token>``, else 401 ``{"message": "Invalid API key"}``. With
``role="Editor"`` data source creation is 403, as in Grafana. ``requests`` records what was asked (without
the header), ``edit_dashboard`` plays a person saving in Grafana's UI, and ``before_save`` runs before the
next dashboard save (an edit racing a publish).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

__all__ = ["SAMPLE_DASHBOARDS", "FakeGrafana", "Recorded", "running_fake_grafana", "write_dashboards"]

Reply = tuple[int, Any]


@dataclass(frozen=True)
class Recorded:
    """One request the fake served: method, path (with query), JSON body (None without one), status."""

    method: str
    path: str
    body: Any
    status: int


@dataclass
class _Dashboard:
    model: dict[str, Any]
    folder_uid: str
    updated_by: str = "serambi-publisher"


@dataclass
class FakeGrafana:
    """The fake's state and server. ``start()`` it (or use :func:`running_fake_grafana`), then use ``url``."""

    __test__ = False

    token: str
    role: str = "Admin"
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, _Dashboard] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    before_save: Callable[[], None] | None = None
    _ids: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """The fake's root URL, ``http://127.0.0.1:<port>``."""
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        """Serve on a free loopback port in a daemon thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        threading.Thread(target=self._server.serve_forever, name="fake-grafana", daemon=True).start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def writes(self) -> list[Recorded]:
        """The requests that could change state (everything but GET)."""
        return [request for request in self.requests if request.method != "GET"]

    def edit_dashboard(self, uid: str, **changes: Any) -> None:
        """Save ``changes`` into a dashboard the way Grafana's UI does: the version moves on by one."""
        with self._lock:
            stored = self.dashboards[uid]
            stored.model = {**stored.model, **changes, "version": stored.model["version"] + 1}
            stored.updated_by = "someone@agency"

    def search(self, query: str = "") -> list[dict[str, Any]]:
        """``GET /api/search?type=dash-db&query=...`` as Grafana answers it."""
        with self._lock:
            return self._search({"type": ["dash-db"], "query": [query]})

    def dispatch(self, method: str, path: str, body: Any) -> Reply:
        """Answer one authorised request: ``(status, JSON body)``."""
        route = urlsplit(path)
        query = parse_qs(route.query)
        with self._lock:
            for verb, pattern, handle in self._routes():
                if verb == method and (match := re.fullmatch(pattern, route.path)):
                    return handle(*match.groups(), body=body, query=query)
        return 404, {"message": "Not found"}

    def _routes(self) -> list[tuple[str, str, Callable[..., Reply]]]:
        return [
            ("GET", r"/api/folders", self._list_folders),
            ("GET", r"/api/folders/([^/]+)", self._get_folder),
            ("POST", r"/api/folders", self._create_folder),
            ("GET", r"/api/datasources", self._list_datasources),
            ("GET", r"/api/datasources/uid/([^/]+)", self._get_datasource),
            ("POST", r"/api/datasources", self._create_datasource),
            ("GET", r"/api/dashboards/uid/([^/]+)", self._get_dashboard),
            ("POST", r"/api/dashboards/db", self._save_dashboard),
            ("GET", r"/api/search/?", lambda **kw: (200, self._search(kw["query"]))),
        ]

    # Folders ----------------------------------------------------------------------------------------------
    def _list_folders(self, **_: Any) -> Reply:
        return 200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in self.folders.values()]

    def _get_folder(self, uid: str, **_: Any) -> Reply:
        if uid not in self.folders:
            return 404, {"message": "folder not found", "status": "not-found"}
        return 200, self.folders[uid]

    def _create_folder(self, *, body: Any, **_: Any) -> Reply:
        uid, title = body.get("uid") or f"f{self._next_id()}", body.get("title", "")
        if not title:
            return 400, {"message": "folder title cannot be empty"}
        if uid in self.folders or any(f["title"] == title for f in self.folders.values()):
            return 409, {"message": "a folder with the same name or uid already exists"}
        now = _now()
        self.folders[uid] = {
            "id": self._next_id(),
            "uid": uid,
            "title": title,
            "url": f"/dashboards/f/{uid}/{_slug(title)}",
            "hasAcl": False,
            "canSave": True,
            "canEdit": True,
            "canAdmin": True,
            "createdBy": "serambi-publisher",
            "created": now,
            "updatedBy": "serambi-publisher",
            "updated": now,
            "version": 1,
        }
        return 200, self.folders[uid]

    # Data sources -----------------------------------------------------------------------------------------
    def _list_datasources(self, **_: Any) -> Reply:
        return 200, list(self.datasources.values())

    def _get_datasource(self, uid: str, **_: Any) -> Reply:
        if uid not in self.datasources:
            return 404, {"message": "Data source not found"}
        return 200, self.datasources[uid]

    def _create_datasource(self, *, body: Any, **_: Any) -> Reply:
        if self.role != "Admin":
            needed = "You'll need additional permissions to perform this action. Permissions needed: datasources:create"
            return 403, {"message": needed}
        name, uid = body.get("name", ""), body.get("uid") or f"ds{self._next_id()}"
        if any(source["name"] == name for source in self.datasources.values()):
            return 409, {"message": "data source with the same name already exists"}
        if uid in self.datasources:
            return 409, {"message": "data source with the same uid already exists"}
        secure = body.get("secureJsonData") or {}
        self.secrets[uid] = dict(secure)
        source = {
            "id": self._next_id(),
            "uid": uid,
            "orgId": 1,
            "name": name,
            "type": body.get("type", ""),
            "typeLogoUrl": "",
            "access": body.get("access", "proxy"),
            "url": body.get("url", ""),
            "user": body.get("user", ""),
            "database": body.get("database", ""),
            "basicAuth": bool(body.get("basicAuth", False)),
            "basicAuthUser": body.get("basicAuthUser", ""),
            "withCredentials": False,
            "isDefault": bool(body.get("isDefault", False)),
            "jsonData": body.get("jsonData") or {},
            "secureJsonFields": dict.fromkeys(secure, True),
            "version": 1,
            "readOnly": False,
        }
        self.datasources[uid] = source
        return 200, {"datasource": source, "id": source["id"], "message": "Datasource added", "name": name}

    # Dashboards -------------------------------------------------------------------------------------------
    def _get_dashboard(self, uid: str, **_: Any) -> Reply:
        if uid not in self.dashboards:
            return 404, {"message": "Dashboard not found"}
        stored = self.dashboards[uid]
        folder = self.folders.get(stored.folder_uid, {})
        slug = _slug(stored.model.get("title", ""))
        meta = {
            "type": "db",
            "isStarred": False,
            "canSave": True,
            "canEdit": True,
            "slug": slug,
            "url": f"/d/{uid}/{slug}",
            "version": stored.model["version"],
            "folderId": folder.get("id", 0),
            "folderUid": stored.folder_uid,
            "folderTitle": folder.get("title", "Dashboards"),
            "folderUrl": folder.get("url", ""),
            "provisioned": False,
            "updatedBy": stored.updated_by,
        }
        return 200, {"dashboard": stored.model, "meta": meta}

    def _save_dashboard(self, *, body: Any, **_: Any) -> Reply:
        if self.before_save is not None:
            hook, self.before_save = self.before_save, None
            self._lock.release()  # the hook edits through the public, locking methods
            try:
                hook()
            finally:
                self._lock.acquire()
        dashboard, folder_uid = dict(body.get("dashboard") or {}), body.get("folderUid", "")
        overwrite = bool(body.get("overwrite", False))
        if folder_uid and folder_uid not in self.folders:
            return 400, {"message": "folder not found", "status": "not-found"}
        uid = dashboard.get("uid") or f"d{self._next_id()}"
        existing = self.dashboards.get(uid)
        if existing is not None and not overwrite and dashboard.get("version") != existing.model["version"]:
            return 412, {"message": "The dashboard has been changed by someone else", "status": "version-mismatch"}
        namesake = self._namesake(uid, dashboard.get("title", ""), folder_uid)
        if namesake is not None:
            if not overwrite:
                message = "A dashboard with the same name in the folder already exists"
                return 412, {"message": message, "status": "name-exists"}
            del self.dashboards[namesake]
        version = existing.model["version"] + 1 if existing is not None else 1
        ident = existing.model["id"] if existing is not None else self._next_id()
        self.dashboards[uid] = _Dashboard({**dashboard, "id": ident, "uid": uid, "version": version}, folder_uid)
        slug = _slug(dashboard.get("title", ""))
        reply = {"id": ident, "uid": uid, "url": f"/d/{uid}/{slug}", "status": "success", "version": version}
        return 200, {**reply, "slug": slug}

    def _namesake(self, uid: str, title: str, folder_uid: str) -> str | None:
        for other_uid, other in self.dashboards.items():
            if other_uid != uid and other.folder_uid == folder_uid and other.model.get("title") == title:
                return other_uid
        return None

    def _search(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        text = (query.get("query") or [""])[0].lower()
        uids, folder_uids = query.get("dashboardUIDs"), query.get("folderUIDs")
        hits = []
        if query.get("type", ["dash-db"])[0] == "dash-folder":
            return [
                {"id": f["id"], "uid": f["uid"], "title": f["title"], "url": f["url"], "type": "dash-folder"}
                for f in self.folders.values()
                if text in f["title"].lower()
            ]
        for uid, stored in self.dashboards.items():
            title = str(stored.model.get("title", ""))
            if text not in title.lower() or (uids and uid not in uids):
                continue
            if folder_uids and stored.folder_uid not in folder_uids:
                continue
            folder = self.folders.get(stored.folder_uid, {})
            hits.append(
                {
                    "id": stored.model["id"],
                    "uid": uid,
                    "title": title,
                    "url": f"/d/{uid}/{_slug(title)}",
                    "type": "dash-db",
                    "tags": stored.model.get("tags", []),
                    "isStarred": False,
                    "folderId": folder.get("id", 0),
                    "folderUid": stored.folder_uid,
                    "folderTitle": folder.get("title", ""),
                    "folderUrl": folder.get("url", ""),
                    "uri": f"db/{_slug(title)}",
                }
            )
        return sorted(hits, key=lambda hit: hit["title"])

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _handler_for(fake: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                status, reply, body = 400, {"message": "bad request data"}, None
            else:
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    status, reply = 401, {"message": "Invalid API key"}
                else:
                    status, reply = fake.dispatch(method, self.path, body)
            fake.requests.append(Recorded(method, self.path, body, status))
            payload = orjson.dumps(reply)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
            """Silent: the tests read ``fake.requests`` instead."""

    return Handler


@contextmanager
def running_fake_grafana(token: str, role: str = "Admin") -> Iterator[FakeGrafana]:
    """A started :class:`FakeGrafana`, stopped on exit."""
    fake = FakeGrafana(token=token, role=role)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def _variable(name: str, plugin: str) -> dict[str, Any]:
    return {"type": "datasource", "name": name, "query": plugin, "current": {}, "hide": 0}


def _dashboard(uid: str, title: str, *variables: dict[str, Any]) -> dict[str, Any]:
    source = variables[0]["name"] if variables else "datasource"
    return {
        "uid": uid,
        "title": title,
        "id": None,
        "version": 0,
        "schemaVersion": 39,
        "tags": ["serambi"],
        "time": {"from": "now-7d", "to": "now"},
        "templating": {"list": list(variables)},
        "panels": [
            {
                "id": 1,
                "type": "table",
                "title": f"{title}: table",
                "gridPos": {"h": 8, "w": 24, "x": 0, "y": 0},
                "datasource": {"uid": f"${{{source}}}"},
                "targets": [{"refId": "A", "rawSql": "SELECT 1 AS one", "format": 1}],
            }
        ],
    }


_CLICKHOUSE_VARIABLE = _variable("datasource", "grafana-clickhouse-datasource")
# Small stand-ins for dashboards/generated/: <folder>/<uid>.json, one per audience plus a Prometheus one.
SAMPLE_DASHBOARDS: dict[str, dict[str, Any]] = {
    "central-office/serambi-overview.json": _dashboard(
        "serambi-overview", "Cross-agency overview", _CLICKHOUSE_VARIABLE
    ),
    "agency-teams/serambi-agency.json": _dashboard("serambi-agency", "Agency drill-down", _CLICKHOUSE_VARIABLE),
    "ops/serambi-live.json": _dashboard("serambi-live", "Live operations", _CLICKHOUSE_VARIABLE),
    "ops/serambi-pipeline.json": _dashboard(
        "serambi-pipeline", "Pipeline health", _variable("prometheus", "prometheus")
    ),
}


def write_dashboards(root: Path, dashboards: dict[str, dict[str, Any]] | None = None) -> Path:
    """Write ``dashboards`` (default :data:`SAMPLE_DASHBOARDS`) as ``root/<folder>/<uid>.json``; return root."""
    for relative, model in (SAMPLE_DASHBOARDS if dashboards is None else dashboards).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(model, option=orjson.OPT_INDENT_2))
    return root
