"""``serambi dashboards publish`` against a fake Grafana speaking Grafana's documented HTTP API (issue 10, item 5).

Contract: the first publish creates the folders, data sources and every dashboard; a second one writes
nothing and reports everything unchanged (no duplicates, versions kept); a changed dashboard is saved in place
(version + 1); a dashboard edited in Grafana is refused without --overwrite and replaced with it; a bad token,
a missing setting or an unreachable Grafana is one clear line and exit 1; the token shows up nowhere.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from dashboards.publish import MARKER, fingerprint, packaged_dashboards
from pipeline.cli import main
from pipeline.cli.common import configure_logging
from tests.helpers.fake_grafana import SAMPLE_DASHBOARDS, FakeGrafana, running_fake_grafana, write_dashboards

TOKEN = "glsa_FakeServiceAccountToken_0123456789abcdef"
PASSWORD = "read-only-pass-4f1c"
FOLDERS = {
    "serambi-central-office": "Central office",
    "serambi-agency-teams": "Agency teams",
    "serambi-ops": "Operations",
}
UIDS = {model["uid"] for model in SAMPLE_DASHBOARDS.values()}
OBJECTS = len(FOLDERS) + 2 + len(UIDS)  # folders, ClickHouse and Prometheus, dashboards


@pytest.fixture
def fake() -> Iterator[FakeGrafana]:
    with running_fake_grafana(TOKEN) as grafana:
        yield grafana


@pytest.fixture
def boards(tmp_path: Path) -> Path:
    return write_dashboards(tmp_path / "generated")


def _env(tmp_path: Path, **overrides: str | None) -> dict[str, str | None]:
    # None unsets: the developer's own SERAMBI_GRAFANA_* must not leak into the test.
    env: dict[str, str | None] = {
        "SERAMBI_DATA_DIR": str(tmp_path / "data"),
        "SERAMBI_CONFIG_FILE": None,
        "SERAMBI_GRAFANA_URL": None,
        "SERAMBI_GRAFANA_TOKEN": TOKEN,
        "SERAMBI_GRAFANA_CLICKHOUSE_URL": None,
        "SERAMBI_GRAFANA_CLICKHOUSE_PASSWORD": PASSWORD,
        "SERAMBI_GRAFANA_PROMETHEUS_URL": None,
    }
    env.update(overrides)
    return env


def _publish(url: str, boards: Path, *args: str, **env: str | None) -> Result:
    command = [
        "dashboards",
        "publish",
        "--grafana-url",
        url,
        "--from",
        str(boards),
        "--clickhouse-url",
        "http://clickhouse.internal:8123",
        "--prometheus-url",
        "http://prometheus.internal:9090",
        *args,
    ]
    return CliRunner().invoke(main, command, env=_env(boards.parent, **env))


def _ok(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def _fails(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # a ClickException, not a traceback
    assert "Traceback" not in result.output
    return result.output


def _rewrite(boards: Path, uid: str, **changes: Any) -> None:
    path = next(boards.glob(f"*/{uid}.json"))
    path.write_bytes(orjson.dumps({**orjson.loads(path.read_bytes()), **changes}))


def test_first_publish_creates_folders_data_sources_and_every_dashboard(fake: FakeGrafana, boards: Path) -> None:
    lines = _ok(_publish(fake.url, boards))

    assert {uid: folder["title"] for uid, folder in fake.folders.items()} == FOLDERS
    assert set(fake.dashboards) == UIDS
    assert fake.dashboards["serambi-overview"].folder_uid == "serambi-central-office"
    assert fake.dashboards["serambi-agency"].folder_uid == "serambi-agency-teams"
    assert {fake.dashboards[uid].folder_uid for uid in ("serambi-live", "serambi-pipeline")} == {"serambi-ops"}
    assert {uid: stored.model["version"] for uid, stored in fake.dashboards.items()} == dict.fromkeys(UIDS, 1)

    clickhouse, prometheus = fake.datasources["serambi-clickhouse"], fake.datasources["serambi-prometheus"]
    assert clickhouse["type"] == "grafana-clickhouse-datasource"
    assert clickhouse["jsonData"] == {
        "host": "clickhouse.internal",
        "port": 8123,
        "protocol": "http",
        "secure": False,
        "username": "serambi_grafana",
        "defaultDatabase": "serambi",
    }
    assert fake.secrets["serambi-clickhouse"] == {"password": PASSWORD}
    assert clickhouse["secureJsonFields"] == {"password": True}
    assert (prometheus["type"], prometheus["url"]) == ("prometheus", "http://prometheus.internal:9090")

    variables = fake.dashboards["serambi-overview"].model["templating"]["list"]
    assert variables[0]["current"]["value"] == "serambi-clickhouse"
    variables = fake.dashboards["serambi-pipeline"].model["templating"]["list"]
    assert variables[0]["current"]["value"] == "serambi-prometheus"

    assert sum(line.startswith("created ") for line in lines) == OBJECTS, lines
    assert lines[-1].endswith(f"{OBJECTS} created, 0 updated, 0 unchanged"), lines


def test_second_publish_reports_all_unchanged_and_duplicates_nothing(fake: FakeGrafana, boards: Path) -> None:
    _ok(_publish(fake.url, boards))
    ids = {uid: stored.model["id"] for uid, stored in fake.dashboards.items()}
    writes_after_first = len(fake.writes())

    lines = _ok(_publish(fake.url, boards))

    assert len(fake.writes()) == writes_after_first, "a second publish of the same files must write nothing"
    assert all(line.startswith("unchanged ") for line in lines[:-1]), lines
    assert len(lines) == OBJECTS + 1
    assert lines[-1].endswith(f"0 created, 0 updated, {OBJECTS} unchanged"), lines
    assert {uid: stored.model["id"] for uid, stored in fake.dashboards.items()} == ids
    assert {stored.model["version"] for stored in fake.dashboards.values()} == {1}
    hits = fake.search()
    assert sorted(hit["uid"] for hit in hits) == sorted(UIDS), "one dashboard per uid, no copies"
    assert len(fake.folders) == len(FOLDERS)
    assert len(fake.datasources) == 2


def test_a_changed_dashboard_is_updated_in_place(fake: FakeGrafana, boards: Path) -> None:
    _ok(_publish(fake.url, boards))
    _rewrite(boards, "serambi-live", title="Live operations (v2)")

    lines = _ok(_publish(fake.url, boards))

    stored = fake.dashboards["serambi-live"]
    assert (stored.model["title"], stored.model["version"]) == ("Live operations (v2)", 2)
    assert stored.model[MARKER] == {"fingerprint": fingerprint(stored.model)}
    assert [hit["uid"] for hit in fake.search("Live operations")] == ["serambi-live"], "renamed in place, no copy"
    assert {uid: s.model["version"] for uid, s in fake.dashboards.items() if uid != "serambi-live"} == dict.fromkeys(
        UIDS - {"serambi-live"}, 1
    )
    updated = [line for line in lines if line.startswith("updated ")]
    assert updated == ["updated         dashboard  Live operations (v2) (serambi-live) in Operations, version 2"]
    assert lines[-1].endswith(f"0 created, 1 updated, {OBJECTS - 1} unchanged"), lines


def test_a_dashboard_edited_in_grafana_is_refused_until_overwrite(fake: FakeGrafana, boards: Path) -> None:
    _ok(_publish(fake.url, boards))
    fake.edit_dashboard("serambi-overview", title="Overview, tuned by hand", description="edited in the UI")
    writes_before = len(fake.writes())

    output = _fails(_publish(fake.url, boards))

    assert "'Cross-agency overview' (serambi-overview, version 2, last saved by someone@agency)" in output
    assert "--overwrite" in output
    assert "nothing was written" in output
    assert len(fake.writes()) == writes_before
    assert fake.dashboards["serambi-overview"].model["description"] == "edited in the UI"

    lines = _ok(_publish(fake.url, boards, "--overwrite"))

    stored = fake.dashboards["serambi-overview"].model
    assert (stored["title"], stored["version"]) == ("Cross-agency overview", 3)
    assert "description" not in stored
    assert any(line.startswith("updated ") and "(serambi-overview)" in line for line in lines), lines
    _ok(_publish(fake.url, boards))  # and the next plain publish is content again
    assert fake.dashboards["serambi-overview"].model["version"] == 3


def test_an_edit_racing_the_publish_is_grafanas_412_version_conflict(fake: FakeGrafana, boards: Path) -> None:
    _ok(_publish(fake.url, boards))
    _rewrite(boards, "serambi-agency", title="Agency drill-down (v2)")
    fake.before_save = lambda: fake.edit_dashboard("serambi-agency", description="saved meanwhile")

    output = _fails(_publish(fake.url, boards))

    assert "'Agency drill-down (v2)' (serambi-agency)" in output
    assert "--overwrite" in output
    refused = [request for request in fake.requests if request.path == "/api/dashboards/db"][-1]
    assert (refused.status, refused.body["overwrite"], refused.body["dashboard"]["version"]) == (412, False, 1)
    assert fake.dashboards["serambi-agency"].model["description"] == "saved meanwhile"

    _ok(_publish(fake.url, boards, "--overwrite"))

    stored = fake.dashboards["serambi-agency"].model
    assert (stored["title"], stored["version"], "description" in stored) == ("Agency drill-down (v2)", 3, False)


def test_a_bad_token_is_a_clear_error_without_the_token(fake: FakeGrafana, boards: Path) -> None:
    wrong = "glsa_WrongToken_fedcba9876543210"

    output = _fails(_publish(fake.url, boards, SERAMBI_GRAFANA_TOKEN=wrong))

    assert "refused the token (401 Invalid API key)" in output
    assert "SERAMBI_GRAFANA_TOKEN" in output
    assert wrong not in output
    assert TOKEN not in output
    assert fake.writes() == []
    assert {request.status for request in fake.requests} == {401}


def test_a_token_without_the_admin_role_is_told_which_role(boards: Path) -> None:
    with running_fake_grafana(TOKEN, role="Editor") as editor_only:
        output = _fails(_publish(editor_only.url, boards))

    assert "403" in output
    assert "Admin role" in output
    assert "SERAMBI_GRAFANA_TOKEN" in output


def test_no_token_is_refused_before_any_request(fake: FakeGrafana, boards: Path) -> None:
    output = _fails(_publish(fake.url, boards, SERAMBI_GRAFANA_TOKEN=None))

    assert "set SERAMBI_GRAFANA_TOKEN" in output
    assert fake.requests == []


def test_no_clickhouse_password_is_refused_before_any_write(fake: FakeGrafana, boards: Path) -> None:
    output = _fails(_publish(fake.url, boards, SERAMBI_GRAFANA_CLICKHOUSE_PASSWORD=None))

    assert "SERAMBI_GRAFANA_CLICKHOUSE_PASSWORD" in output
    assert "serambi_grafana" in output
    assert fake.writes() == []


def test_an_unreachable_grafana_names_its_url(boards: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"  # bound, not listening: refused

        output = _fails(_publish(url, boards))

    assert f"cannot reach Grafana at {url} (Connection refused)" in output
    assert "SERAMBI_GRAFANA_URL" in output


def test_the_url_comes_from_the_setting_when_no_option_is_given(fake: FakeGrafana, boards: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["dashboards", "publish", "--from", str(boards), "--dry-run"],
        env=_env(
            boards.parent,
            SERAMBI_GRAFANA_URL=fake.url,
            SERAMBI_GRAFANA_CLICKHOUSE_URL="https://clickhouse.internal",
            SERAMBI_GRAFANA_PROMETHEUS_URL="http://prometheus.internal:9090",
        ),
    )

    assert _ok(result)[-1] == f"dry run, nothing written to {fake.url}: {OBJECTS} to create, 0 to update, 0 unchanged"


def test_dry_run_shows_what_would_change_and_writes_nothing(fake: FakeGrafana, boards: Path) -> None:
    lines = _ok(_publish(fake.url, boards, "--dry-run"))

    assert fake.writes() == []
    assert sum(line.startswith("would create ") for line in lines) == OBJECTS, lines

    _ok(_publish(fake.url, boards))
    _rewrite(boards, "serambi-pipeline", title="Pipeline health (v2)")
    writes = len(fake.writes())

    lines = _ok(_publish(fake.url, boards, "--dry-run"))

    assert len(fake.writes()) == writes
    assert [line for line in lines if line.startswith("would update ")] == [
        "would update    dashboard  Pipeline health (v2) (serambi-pipeline), version 1, last saved by serambi-publisher"
    ]
    assert fake.dashboards["serambi-pipeline"].model["title"] == "Pipeline health"


def test_the_token_is_in_no_output_and_no_log_line(
    fake: FakeGrafana, boards: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")  # clickhouse-connect, imported by the suite, raises its level
    try:
        outputs = [_publish(fake.url, boards, "-vv").output]
        _rewrite(boards, "serambi-live", title="Live operations (v2)")
        outputs.append(_publish(fake.url, boards, "-vv").output)
        outputs.append(_publish(fake.url, boards, "-vv", SERAMBI_GRAFANA_TOKEN=TOKEN + "x").output)  # 401 path
    finally:
        configure_logging(0)  # -vv in this process must not outlive the test

    assert any("saved dashboard serambi-live as version 2" in record.getMessage() for record in caplog.records)
    assert any("/api/dashboards/db" in record.getMessage() for record in caplog.records), "HTTP debug lines ran"
    captured = capsys.readouterr()
    for text in (*outputs, caplog.text, captured.out, captured.err):
        assert TOKEN not in text
        assert PASSWORD not in text


def test_help_documents_the_settings_and_offers_no_token_option() -> None:
    result = CliRunner().invoke(main, ["dashboards", "publish", "--help"])

    assert result.exit_code == 0, result.output
    for text in ("--grafana-url", "--overwrite", "--dry-run", "--from", "SERAMBI_GRAFANA_TOKEN", "serambi_grafana"):
        assert text in result.output
    assert "--token" not in result.output


def test_the_packaged_dashboards_publish(fake: FakeGrafana, tmp_path: Path) -> None:
    generated = packaged_dashboards()
    if not any(entry.is_dir() and any(entry.iterdir()) for entry in generated.iterdir()):
        pytest.skip("dashboards/generated/ is still empty (run `serambi dashboards generate`)")
    command = ["dashboards", "publish", "--grafana-url", fake.url, "--clickhouse-url", "http://clickhouse:8123"]
    command += ["--prometheus-url", "http://prometheus:9090"]

    first = _ok(CliRunner().invoke(main, command, env=_env(tmp_path)))
    second = _ok(CliRunner().invoke(main, command, env=_env(tmp_path)))

    assert fake.dashboards, first
    assert {uid: stored.model["version"] for uid, stored in fake.dashboards.items()} == dict.fromkeys(
        fake.dashboards, 1
    )
    assert all(line.startswith("unchanged ") for line in second[:-1]), second
