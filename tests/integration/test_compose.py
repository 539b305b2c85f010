"""The container deployment checked with the real tools: docker-compose 1.29 ``config``, promtool 2.42 and bash.

No Docker engine runs here, so nothing is started: ``docker-compose config`` validates deploy/compose/docker-compose.yml
against the compose schema and prints it resolved (anchors merged, paths absolute), and the tests assert on that;
the Dockerfile is read as text. ``make test`` installs docker-compose and promtool (the ``tools`` target); a missing
tool skips a test here, and fails it in CI (``CI`` set), where a skip would let a broken deployment ship.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.topics import TOPICS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"

SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|KEY")
# An exact version (1.2.3, v2.53.4, 26.8.19.9), optionally with a digest: never `latest` or a moving `11.6`.
PINNED_IMAGE = re.compile(r"^[\w.\-/]+:v?\d+\.\d+\.\d+[\w.\-]*(@sha256:[0-9a-f]{64})?$")
PINNED_BASE = re.compile(r"^[\w.\-/]+:\d+\.\d+\.\d+[\w.\-]*@sha256:[0-9a-f]{64}$")
PUBLISHED = {"web": 8780, "ingest": 8790, "grafana": 3000}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        why = f"{name} not installed (`make tools`: apt-get install docker-compose prometheus)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return path


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``docker-compose config`` of the file, with none of the operator's overrides (environment or .env)."""
    empty_env_file = tmp_path_factory.mktemp("compose") / "empty.env"
    empty_env_file.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SERAMBI_", "COMPOSE_", "DOCKER_"))}
    result = subprocess.run(
        [_tool("docker-compose"), "--env-file", str(empty_env_file), "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = yaml.safe_load(result.stdout)
    return parsed


def _services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = config["services"]
    return services


def _is_serambi(service: dict[str, Any]) -> bool:
    return str(service["image"]).startswith("serambi:")


def _long_running(service: dict[str, Any]) -> bool:
    return service.get("restart") != "no"


def _command(service: dict[str, Any]) -> list[str]:
    return list(service.get("command") or [])


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Target -> source of a service's volumes (1.29 prints ``source:target:mode``, compose v2 a mapping)."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            mounts[volume["target"]] = volume["source"]
        else:
            source, target = str(volume).split(":")[:2]
            mounts[target] = source
    return mounts


def _workers(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in _services(config).items() if _is_serambi(s) and _command(s) == ["worker"]}


def test_every_image_is_pinned_to_an_exact_version(config: dict[str, Any]) -> None:
    images = {name: service["image"] for name, service in _services(config).items()}
    unpinned = {name: image for name, image in images.items() if not PINNED_IMAGE.match(image)}
    assert not unpinned, f"images without an exact version: {unpinned}"
    assert {"apache/kafka:3.9.1", "serambi:0.1.0"} <= set(images.values())


def test_every_long_running_service_has_a_healthcheck(config: dict[str, Any]) -> None:
    missing = [
        name
        for name, service in _services(config).items()
        if _long_running(service) and not service.get("healthcheck", {}).get("test")
    ]
    assert not missing, f"long-running services without a healthcheck: {missing}"
    one_shot = sorted(name for name, service in _services(config).items() if not _long_running(service))
    assert one_shot == ["kafka-topics", "migrate"]


def test_every_service_runs_as_a_non_root_user_without_privileges(config: dict[str, Any]) -> None:
    for name, service in _services(config).items():
        user = str(service.get("user", ""))
        uid = user.split(":", 1)[0]
        assert uid.isdigit(), f"{name}: user {user!r} is not numeric"
        assert int(uid) != 0, f"{name} runs as root"
        assert service.get("cap_drop") == ["ALL"], f"{name} keeps capabilities"
        assert "no-new-privileges:true" in service.get("security_opt", []), f"{name} may gain privileges"
        assert not service.get("privileged"), name


def test_serambi_roles_share_one_image_on_a_read_only_root(config: dict[str, Any]) -> None:
    serambi = {name: s for name, s in _services(config).items() if _is_serambi(s)}
    assert set(serambi) == {"migrate", "worker-1", "worker-2", "ingest", "web"}
    assert len({s["image"] for s in serambi.values()}) == 1
    for name, service in serambi.items():
        assert service.get("read_only") is True, name
        assert any(str(t).startswith("/tmp") for t in service.get("tmpfs", [])), f"{name}: no tmpfs for /tmp"
        assert "/var/lib/serambi" in _mounts(service), f"{name}: no volume at the data dir /var/lib/serambi"
    assert {tuple(_command(s)) for s in serambi.values()} == {("db", "migrate"), ("worker",), ("ingest",), ("web",)}


def test_no_secret_in_the_environment_only_secret_files(config: dict[str, Any]) -> None:
    for name, service in _services(config).items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key) and value:
                assert str(value).startswith("/run/secrets"), f"{name}: {key} holds a literal value, not a file"
    secrets = config["secrets"]
    assert secrets
    for name, secret in secrets.items():
        assert Path(secret["file"]) == COMPOSE_DIR / "secrets" / name, f"secret {name} is not ./secrets/{name}"
    for name, service in _services(config).items():
        if _is_serambi(service):
            assert service["environment"]["SERAMBI_SECRETS_DIR"] == "/run/secrets", name
            targets = {s.get("target", s["source"]) for s in service.get("secrets", [])}
            assert all(t.startswith("SERAMBI_") for t in targets), f"{name}: {targets}"


def test_only_the_board_ingress_and_grafana_publish_on_loopback(config: dict[str, Any]) -> None:
    published: dict[str, set[int]] = {}
    for name, service in _services(config).items():
        for port in service.get("ports", []):
            if isinstance(port, dict):
                host_ip, target = port.get("host_ip"), int(port["target"])
            else:
                host_ip, _, target_text = str(port).rsplit(":", 2)
                target = int(target_text.split("/")[0])
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond loopback"
            published.setdefault(name, set()).add(target)
    assert published == {name: {port} for name, port in PUBLISHED.items()}


def test_at_least_two_workers_each_with_its_own_data_dir(config: dict[str, Any]) -> None:
    workers = _workers(config)
    count = sum(int(w.get("deploy", {}).get("replicas", 1)) for w in workers.values())
    assert count >= 2
    data_dirs = [_mounts(w)["/var/lib/serambi"] for w in workers.values()]
    assert len(set(data_dirs)) == len(workers), f"workers share a data dir: {data_dirs}"
    for name, worker in workers.items():
        assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
        assert worker["depends_on"]["kafka-topics"]["condition"] == "service_completed_successfully", name


def test_migrate_runs_once_for_the_cluster_before_the_readers(config: dict[str, Any]) -> None:
    services = _services(config)
    migrate = services["migrate"]
    assert _command(migrate) == ["db", "migrate"]
    assert migrate["environment"]["SERAMBI_CLICKHOUSE_CLUSTER"] == "serambi"
    assert {d["condition"] for d in migrate["depends_on"].values()} == {"service_healthy"}
    for name in ("web", "grafana"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_kafka_is_a_three_node_kraft_cluster(config: dict[str, Any]) -> None:
    services = _services(config)
    brokers = {
        name: s for name, s in services.items() if s["image"].startswith("apache/kafka") and name != "kafka-topics"
    }
    assert sorted(brokers) == ["kafka-1", "kafka-2", "kafka-3"]
    voters = {b["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"] for b in brokers.values()}
    assert voters == {"1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"}
    assert {b["environment"]["KAFKA_NODE_ID"] for b in brokers.values()} == {"1", "2", "3"}
    assert all("controller" in b["environment"]["KAFKA_PROCESS_ROLES"] for b in brokers.values())
    bootstrap = ",".join(f"{name}:9092" for name in sorted(brokers))
    for name, service in services.items():
        if _is_serambi(service) or name == "kafka-topics":
            assert service["environment"]["SERAMBI_KAFKA_BOOTSTRAP_SERVERS"] == bootstrap, name


def test_the_topic_job_creates_the_topics_of_schemas_topics(config: dict[str, Any]) -> None:
    script = (COMPOSE_DIR / "kafka" / "create-topics.sh").read_text()
    created = {m[1]: (m[2], int(m[3])) for m in re.finditer(r"^create (\S+) (\S+) (\d+)", script, re.M)}
    expected = {t.name: (str(t.partitions or '"$partitions"'), t.retention_ms) for t in TOPICS}
    assert created == expected
    assert "--replication-factor 3" in script
    assert "--config min.insync.replicas=2" in script
    partitions = {
        s["environment"]["SERAMBI_PARTITIONS"]
        for name, s in _services(config).items()
        if _is_serambi(s) or name == "kafka-topics"
    }
    assert partitions == {"12"}
    result = subprocess.run(["bash", "-n", str(COMPOSE_DIR / "kafka" / "create-topics.sh")], check=False)
    assert result.returncode == 0


def test_init_secrets_writes_every_secret_file_compose_reads(config: dict[str, Any], tmp_path: Path) -> None:
    target = tmp_path / "secrets"
    result = subprocess.run(
        ["bash", str(COMPOSE_DIR / "init-secrets.sh"), str(target)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert {p.name for p in target.iterdir()} == set(config["secrets"])
    assert target.stat().st_mode & 0o777 == 0o700
    assert "/secrets/" in (COMPOSE_DIR / ".gitignore").read_text().split(), "the secrets must never be committed"
    read = {p.name: p.read_text() for p in target.iterdir()}
    assert (
        read["clickhouse_writer_url"] == f"http://serambi_writer:{read['clickhouse_writer_password']}@clickhouse-1:8123"
    )
    assert read["clickhouse_migrate_url"] == f"http://serambi:{read['clickhouse_admin_password']}@clickhouse-1:8123"
    assert read["clickhouse_reader_url"] == (
        f"http://serambi_grafana:{read['grafana_clickhouse_password']}@clickhouse-2:8123"
    )
    assert len(read["pseudonym_key"]) == 48
    assert read["pseudonym_key"] != read["api_token"]
    # A second run keeps what exists: the pseudonym key must never change behind the operator's back.
    subprocess.run(["bash", str(COMPOSE_DIR / "init-secrets.sh"), str(target)], capture_output=True, check=True)
    assert (target / "pseudonym_key").read_text() == read["pseudonym_key"]


def test_clickhouse_cluster_files_agree_with_the_services(config: dict[str, Any]) -> None:
    folder = COMPOSE_DIR / "clickhouse"
    servers = sorted(n for n, s in _services(config).items() if s["image"].startswith("clickhouse/clickhouse-server"))
    assert servers == ["clickhouse-1", "clickhouse-2"]
    cluster = ET.parse(folder / "config.d" / "remote_servers.xml").getroot().find("remote_servers/serambi")
    assert cluster is not None
    assert [h.text for h in cluster.iterfind("shard/replica/host")] == servers
    macros = ET.parse(folder / "config.d" / "macros.xml").getroot().find("macros")
    assert macros is not None
    replica = macros.find("replica")
    assert replica is not None
    assert replica.get("from_env") == "CLICKHOUSE_REPLICA"
    assert {_services(config)[s]["environment"]["CLICKHOUSE_REPLICA"] for s in servers} == set(servers)
    keeper = ET.parse(folder / "config.d" / "keeper.xml").getroot().findtext("zookeeper/node/host")
    assert keeper in _services(config)
    users = ET.parse(folder / "users.d" / "serambi.xml").getroot().find("users")
    assert users is not None
    for user in ("serambi", "serambi_writer"):
        password = users.find(f"{user}/password")
        assert password is not None, user
        assert password.get("from_env"), f"{user}'s password is not from a secret"
    for path in folder.rglob("*.xml"):
        ET.parse(path)  # well-formed


def test_bind_mounted_files_exist(config: dict[str, Any]) -> None:
    for name, service in _services(config).items():
        for source in _mounts(service).values():
            if source.startswith("/"):
                assert Path(source).exists(), f"{name} mounts {source}, which does not exist"


def _prometheus_config() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load((COMPOSE_DIR / "prometheus" / "prometheus.yml").read_text())
    return parsed


def test_prometheus_config_passes_promtool_with_the_mounted_rules(config: dict[str, Any], tmp_path: Path) -> None:
    prometheus = _services(config)["prometheus"]
    mounted = {Path(target): Path(source) for target, source in _mounts(prometheus).items() if source.startswith("/")}
    rules = {
        target.name: source for target, source in mounted.items() if target.parent == Path("/etc/prometheus/rules")
    }
    assert set(rules) == {p.name for p in RULES_DIR.glob("*.yml")}, "every rules file is mounted, and only those"
    # The container's layout in a temporary folder: promtool resolves the paths against the config's folder.
    (tmp_path / "rules").mkdir()
    (tmp_path / "secrets").mkdir()
    shutil.copy(mounted[Path("/etc/prometheus/prometheus.yml")], tmp_path / "prometheus.yml")
    for name, source in rules.items():
        assert source.is_file(), source
        shutil.copy(source, tmp_path / "rules" / name)
    for secret in prometheus.get("secrets", []):
        target = Path(secret["target"])
        assert target.parent == Path("/etc/prometheus/secrets"), target
        (tmp_path / "secrets" / target.name).write_text("token")
    result = subprocess.run(
        [_tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rule files found" in result.stdout


def test_prometheus_scrapes_every_role_and_alerts_to_alertmanager(config: dict[str, Any]) -> None:
    services = _services(config)
    prometheus = _prometheus_config()
    targets = {
        job["job_name"]: {t.split(":")[0] for sc in job["static_configs"] for t in sc["targets"]}
        for job in prometheus["scrape_configs"]
    }
    assert targets["serambi-worker"] == set(_workers(config))
    assert targets["serambi-ingress"] == {"ingest"}
    assert targets["serambi-web"] == {"web"}
    scraped = set().union(*targets.values())
    roles = {n for n, s in services.items() if _is_serambi(s) and _long_running(s)}
    assert roles <= scraped
    assert scraped - {"localhost"} <= set(services)
    alertmanagers = {
        t for am in prometheus["alerting"]["alertmanagers"] for sc in am["static_configs"] for t in sc["targets"]
    }
    assert alertmanagers == {"alertmanager:9093"}


def test_grafana_reuses_the_provisioning_with_the_plugin_pinned(config: dict[str, Any]) -> None:
    grafana = _services(config)["grafana"]
    plugin, _, version = grafana["environment"]["GF_INSTALL_PLUGINS"].partition(" ")
    assert plugin == "grafana-clickhouse-datasource"
    assert re.fullmatch(r"4\.\d+\.\d+", version), version
    sources = set(_mounts(grafana).values())
    assert str(ROOT / "deploy" / "grafana" / "provisioning") in sources
    assert str(ROOT / "dashboards" / "generated") in sources


# --- the image --------------------------------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined, heredoc bodies skipped."""
    found: list[tuple[str, str]] = []
    lines = iter(DOCKERFILE.read_text().splitlines())
    for first in lines:
        if not first.strip() or first.lstrip().startswith("#"):
            continue
        line = first
        while line.endswith("\\"):
            line = line[:-1] + " " + next(lines).strip()
        keyword, _, rest = line.strip().partition(" ")
        found.append((keyword.upper(), rest.strip()))
        if heredoc := re.search(r"<<'?(\w+)'?", rest):
            for body in lines:
                if body.strip() == heredoc[1]:
                    break
    return found


def test_dockerfile_is_multi_stage_on_a_pinned_base() -> None:
    froms = [args for keyword, args in _instructions() if keyword == "FROM"]
    assert len(froms) >= 2
    bases = {args.split()[0] for args in froms}
    assert len(bases) == 1, f"builder and runtime differ: {bases}"
    base = bases.pop()
    assert PINNED_BASE.match(base), f"{base} is not pinned by version and digest"
    assert base.startswith("python:3.11.")
    labels = " ".join(args for keyword, args in _instructions() if keyword == "LABEL")
    assert base.split("@")[1] in labels  # org.opencontainers.image.base.digest says the same
    for label in ("title", "version", "revision", "source", "licenses", "base.name", "base.digest"):
        assert f"org.opencontainers.image.{label}=" in labels, label


def test_dockerfile_installs_the_lock_with_hashes_then_the_project() -> None:
    commands = [c.strip() for keyword, args in _instructions() if keyword == "RUN" for c in args.split("&&")]
    sync = [c for c in commands if "uv pip sync" in c]
    assert len(sync) == 1, sync
    assert "--require-hashes" in sync[0]
    assert sync[0].endswith(" requirements.lock")
    uv = [c for c in commands if "pip install" in c and "uv.txt" in c]  # uv itself, from the lock's own hashes
    assert len(uv) == 1, uv
    assert "--require-hashes" in uv[0]
    project = [c for c in commands if re.search(r"pip install .*--no-deps .*\s\.$", c)]
    assert len(project) == 1, "Serambi itself, without its dependencies"
    assert " -e " not in project[0], "not editable: the image has no checkout"


def test_the_runtime_stage_runs_serambi_as_a_numeric_non_root_user() -> None:
    instructions = _instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    runtime = instructions[last_from:]
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1]), users
    assert ("ENTRYPOINT", '["serambi"]') in runtime
    assert ("CMD", '["--help"]') in runtime
    assert not [args for keyword, args in instructions if keyword == "HEALTHCHECK"]  # per role, in compose/k8s
    copies = [args for keyword, args in runtime if keyword == "COPY"]
    assert copies == ["--from=builder /opt/venv /opt/venv"], "the runtime stage copies the venv only"
    env = " ".join(args for keyword, args in runtime if keyword == "ENV")
    for setting in ("SERAMBI_DATA_DIR=/var/lib/serambi", "HOME=/tmp", "TMPDIR=/tmp", "PYTHONDONTWRITEBYTECODE=1"):
        assert setting in env, setting


def test_dockerignore_lets_in_exactly_what_the_build_copies() -> None:
    patterns = [p for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and not p.startswith("#")]
    assert patterns[0] == "*", "an allow-list: no .venv, data dir or secrets enter the build context"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied = set()
    for keyword, args in _instructions():
        if keyword == "COPY" and not args.startswith("--from"):
            copied |= {source.rstrip("/") for source in args.split()[:-1]}
    assert copied == allowed
