"""deploy/grafana/: data sources the dashboards' variables find, one provider per generated folder, the plugin."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from dashboards import publish
from dashboards.build import FOLDERS, all_dashboards
from dashboards.common import CLICKHOUSE_PLUGIN, DATABASE, PROMETHEUS_PLUGIN
from pipeline.storage.server_migrations import GRAFANA_PASSWORD_ENV, GRAFANA_USER

ROOT = Path(__file__).resolve().parents[3]
GRAFANA = ROOT / "deploy" / "grafana"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _datasources() -> dict[str, dict[str, Any]]:
    found = _yaml(GRAFANA / "provisioning" / "datasources" / "serambi.yaml")
    assert found["apiVersion"] == 1
    return {d["type"]: d for d in found["datasources"]}


def test_a_data_source_for_each_variable_of_the_dashboards() -> None:
    provisioned = _datasources()
    wanted = {v["query"] for d in all_dashboards() for v in d.model["templating"]["list"] if v["type"] == "datasource"}
    assert wanted == {CLICKHOUSE_PLUGIN, PROMETHEUS_PLUGIN}
    assert wanted <= set(provisioned)


def test_clickhouse_reads_as_the_read_only_user_with_a_password_from_the_environment() -> None:
    clickhouse = _datasources()[CLICKHOUSE_PLUGIN]
    assert clickhouse["jsonData"]["username"] == GRAFANA_USER
    assert clickhouse["jsonData"]["defaultDatabase"] == DATABASE
    assert clickhouse["jsonData"]["protocol"] in {"http", "native"}
    assert "password" not in clickhouse["jsonData"]
    assert clickhouse["secureJsonData"]["password"] == f"${{{GRAFANA_PASSWORD_ENV}}}"
    assert clickhouse["isDefault"] is True


def test_no_literal_secret_in_the_deploy_files() -> None:
    for path in GRAFANA.rglob("*.yaml"):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"\s*(\w*PASSWORD\w*|password):\s*(\S+)", line)
            if match:
                assert match.group(2).startswith("${"), f"{path.name}: {line.strip()}"


def _mounts() -> dict[PurePosixPath, Path]:
    grafana = _yaml(GRAFANA / "compose.yaml")["services"]["grafana"]
    mounts = {}
    for volume in grafana["volumes"]:
        source, target, *_ = volume.split(":")
        if source.startswith("."):
            mounts[PurePosixPath(target)] = (GRAFANA / source).resolve()
    return mounts


def _on_host(container_path: str) -> Path:
    path = PurePosixPath(container_path)
    for target, source in _mounts().items():
        if path.is_relative_to(target):
            return source / path.relative_to(target)
    msg = f"{container_path} is not under a mounted folder of compose.yaml"
    raise AssertionError(msg)


def test_one_provider_per_audience_folder_reading_the_generated_json() -> None:
    providers = _yaml(GRAFANA / "provisioning" / "dashboards" / "serambi.yaml")["providers"]
    assert sorted(p["folder"] for p in providers) == sorted(FOLDERS.values())
    generated = ROOT / "dashboards" / "generated"
    for provider in providers:
        assert provider["type"] == "file"
        folder = _on_host(provider["options"]["path"])
        assert folder.parent == generated
        assert FOLDERS[folder.name] == provider["folder"]
        assert sorted(folder.glob("*.json")), f"{folder} holds no dashboard"
    assert {d.folder for d in all_dashboards()} == {_on_host(p["options"]["path"]).name for p in providers}


def test_the_provisioning_folder_is_mounted_where_grafana_reads_it() -> None:
    assert _mounts()[PurePosixPath("/etc/grafana/provisioning")] == GRAFANA / "provisioning"


def test_the_clickhouse_plugin_is_installed() -> None:
    environment = _yaml(GRAFANA / "compose.yaml")["services"]["grafana"]["environment"]
    plugins = [p.strip().split()[0] for p in environment["GF_INSTALL_PLUGINS"].split(",")]
    assert CLICKHOUSE_PLUGIN in plugins
    assert environment[GRAFANA_PASSWORD_ENV].startswith("${")
    assert "GF_INSTALL_PLUGINS=grafana-clickhouse-datasource" in (GRAFANA / "README.md").read_text(encoding="utf-8")


def test_provisioning_and_publishing_agree_on_uids_and_names() -> None:
    # A Grafana provisioned from deploy/grafana/ and one published to (`serambi dashboards publish`) must hold
    # the same folders and data sources, so switching between the two creates no duplicates.
    providers = _yaml(GRAFANA / "provisioning" / "dashboards" / "serambi.yaml")["providers"]
    provisioned_folders = {_on_host(p["options"]["path"]).name: (p["folderUid"], p["folder"]) for p in providers}
    assert provisioned_folders == {key: (f.uid, f.title) for key, f in publish.FOLDERS.items()}
    sources = _datasources()
    for published in (publish.CLICKHOUSE, publish.PROMETHEUS):
        assert (sources[published.plugin]["uid"], sources[published.plugin]["name"]) == (published.uid, published.name)
