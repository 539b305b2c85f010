"""The pure parts of publishing: loading generated dashboards, fingerprints, URLs and data source bodies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from dashboards.errors import DashboardFileError, PublishConfigError
from dashboards.publish import (
    CLICKHOUSE,
    FOLDERS,
    MARKER,
    PROMETHEUS,
    Target,
    clickhouse_body,
    content_of,
    fingerprint,
    grafana_base,
    load_dashboards,
    packaged_dashboards,
    prometheus_body,
)
from tests.helpers.fake_grafana import SAMPLE_DASHBOARDS, write_dashboards

TOKEN = "glsa_UnitTestToken_0123456789"


def _target(**overrides: Any) -> Target:
    values: dict[str, Any] = {
        "grafana_url": "http://grafana:3000",
        "token": TOKEN,
        "clickhouse_url": "http://clickhouse:8123",
        "clickhouse_password": "pw-1",
        "prometheus_url": "http://prometheus:9090",
    }
    return Target(**{**values, **overrides})


def test_dashboards_load_with_their_audience_folder_sorted(tmp_path: Path) -> None:
    boards = load_dashboards(write_dashboards(tmp_path))

    assert [(board.folder.uid, board.uid) for board in boards] == [
        ("serambi-agency-teams", "serambi-agency"),
        ("serambi-central-office", "serambi-overview"),
        ("serambi-ops", "serambi-live"),
        ("serambi-ops", "serambi-pipeline"),
    ]
    assert {board.uid: board.plugins for board in boards}["serambi-pipeline"] == {"prometheus"}
    assert {board.uid: board.plugins for board in boards}["serambi-live"] == {"grafana-clickhouse-datasource"}


def test_loading_drops_grafanas_id_and_version_and_points_variables_at_serambi(tmp_path: Path) -> None:
    overview = next(board for board in load_dashboards(write_dashboards(tmp_path)) if board.uid == "serambi-overview")

    assert "id" not in overview.model
    assert "version" not in overview.model
    variable = overview.model["templating"]["list"][0]
    assert variable["current"] == {"selected": True, "text": CLICKHOUSE.name, "value": CLICKHOUSE.uid}


def test_a_variable_of_another_plugin_is_left_alone(tmp_path: Path) -> None:
    loki = {"type": "datasource", "name": "logs", "query": "loki", "current": {"value": "mine"}}
    model = {**SAMPLE_DASHBOARDS["ops/serambi-live.json"], "templating": {"list": [loki]}}
    (board,) = load_dashboards(write_dashboards(tmp_path, {"ops/serambi-live.json": model}))

    assert board.model["templating"]["list"] == [loki]
    assert board.plugins == frozenset()


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"finance/x.json": {"uid": "x", "title": "X"}}, "unknown dashboard folder 'finance'"),
        ({"ops/x.json": {"uid": "y", "title": "X"}}, "named <uid>.json"),
        ({"ops/x.json": {"title": "X"}}, "needs a string uid and title"),
        ({"ops/x.json": [1, 2]}, "needs a string uid and title"),
        (
            {"ops/x.json": {"uid": "x", "title": "X"}, "agency-teams/x.json": {"uid": "x", "title": "X2"}},
            "more than one",
        ),
        ({"ops/notes.txt": "not a dashboard"}, "no dashboard JSON"),
    ],
)
def test_a_bad_tree_is_a_dashboard_file_error(tmp_path: Path, files: dict[str, Any], expected: str) -> None:
    for relative, content in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else orjson.dumps(content))

    with pytest.raises(DashboardFileError, match=expected):
        load_dashboards(tmp_path)


def test_unreadable_json_and_a_missing_tree_say_to_generate(tmp_path: Path) -> None:
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "x.json").write_text("{not json", encoding="utf-8")

    with pytest.raises(DashboardFileError, match=r"not readable JSON.*serambi dashboards generate"):
        load_dashboards(tmp_path)
    with pytest.raises(DashboardFileError, match=r"no dashboards at .*serambi dashboards generate"):
        load_dashboards(tmp_path / "missing")


def test_the_packaged_tree_is_dashboards_generated() -> None:
    assert packaged_dashboards().name == "generated"
    assert set(FOLDERS) == {"central-office", "agency-teams", "ops"}


def test_content_and_fingerprint_ignore_id_version_marker_and_key_order() -> None:
    model = {"uid": "u", "title": "T", "panels": [{"id": 1, "type": "stat"}]}
    stored = {"version": 7, MARKER: {"fingerprint": "x"}, "id": 42, "panels": [{"type": "stat", "id": 1}], **model}

    assert content_of(stored) == model
    assert fingerprint(stored) == fingerprint(model)
    assert fingerprint({**model, "title": "T2"}) != fingerprint(model)
    assert fingerprint(model).startswith("sha256:")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://grafana:3000", ("http", "grafana", 3000, "")),
        ("https://ops.example.org/grafana/", ("https", "ops.example.org", None, "grafana/")),
        ("http://[::1]:3000/", ("http", "[::1]", 3000, "")),
    ],
)
def test_grafana_base_splits_the_root_url(url: str, expected: tuple[str, str, int | None, str]) -> None:
    assert grafana_base(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("grafana:3000", "must be http"),
        ("ftp://grafana", "must be http"),
        ("http://admin:s3cret@grafana:3000", "carries credentials"),
    ],
)
def test_a_bad_grafana_url_is_a_config_error_without_its_password(url: str, expected: str) -> None:
    with pytest.raises(PublishConfigError, match=expected) as caught:
        grafana_base(url)
    assert "s3cret" not in str(caught.value)


def test_the_clickhouse_data_source_uses_the_read_only_user_and_a_secure_password() -> None:
    body = clickhouse_body(_target(clickhouse_url="https://ch.example.org/proxy", clickhouse_database="serambi_prod"))

    assert (body["uid"], body["type"], body["access"]) == (CLICKHOUSE.uid, "grafana-clickhouse-datasource", "proxy")
    assert body["jsonData"] == {
        "host": "ch.example.org",
        "port": 8443,
        "protocol": "http",
        "secure": True,
        "username": "serambi_grafana",
        "defaultDatabase": "serambi_prod",
        "path": "/proxy",
    }
    assert body["secureJsonData"] == {"password": "pw-1"}
    assert "pw-1" not in orjson.dumps(body["jsonData"]).decode()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"clickhouse_url": ""}, "SERAMBI_GRAFANA_CLICKHOUSE_URL"),
        ({"clickhouse_url": "http://u:p@ch:8123"}, "carries credentials"),
        ({"clickhouse_password": ""}, "SERAMBI_GRAFANA_CLICKHOUSE_PASSWORD"),
    ],
)
def test_a_clickhouse_data_source_without_url_or_password_is_a_config_error(
    overrides: dict[str, str], expected: str
) -> None:
    with pytest.raises(PublishConfigError, match=expected):
        clickhouse_body(_target(**overrides))


def test_the_prometheus_data_source_needs_a_url() -> None:
    body = prometheus_body(_target())

    assert (body["uid"], body["type"], body["url"]) == (PROMETHEUS.uid, "prometheus", "http://prometheus:9090")
    with pytest.raises(PublishConfigError, match="SERAMBI_GRAFANA_PROMETHEUS_URL"):
        prometheus_body(_target(prometheus_url=""))


def test_a_target_never_shows_its_secrets() -> None:
    shown = repr(_target())

    assert TOKEN not in shown
    assert "pw-1" not in shown
