"""The Kubernetes manifests (deploy/k8s): each overlay renders with kustomize, validates, and keeps Serambi's rules.

Built-in kinds validate with kubernetes-validate (strict: no unknown field) against a pinned Kubernetes version.
KafkaTopic, KafkaNodePool and ScaledObject validate against their CRDs' schemas vendored in deploy/k8s/crds
(closed like the API server's strict field validation); Kafka, ClickHouseInstallation and
ClickHouseKeeperInstallation (CRDs of hundreds of kB) are checked field by field. NetworkPolicies are checked by
evaluating flows between modelled pods, Strimzi's generated Kafka ingress policy included.
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from pydantic import SecretStr

from pipeline.settings import Settings
from pipeline.stream.app import WORKER_GROUP
from schemas.topics import EVENTS, TOPICS

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
KUBERNETES_VERSION = "1.32"  # the API the manifests target; kubernetes-validate ships its schemas
STRUCTURAL_ONLY = {"Kafka", "ClickHouseInstallation", "ClickHouseKeeperInstallation"}
CRD_GROUPS = ("kafka.strimzi.io/", "keda.sh/", "clickhouse.altinity.com/", "clickhouse-keeper.altinity.com/")
ROLES = ("worker", "ingest", "web", "connect")
NAMESPACE = "serambi"


@dataclass(frozen=True)
class Expect:
    """What the issue asks of an overlay."""

    partitions: int
    min_workers: int
    brokers: int
    shards: int
    replicas: int
    keepers: int


EXPECTED = {
    "dev": Expect(partitions=6, min_workers=2, brokers=3, shards=1, replicas=1, keepers=1),
    "production": Expect(partitions=12, min_workers=3, brokers=3, shards=2, replicas=2, keepers=3),
}


@dataclass(frozen=True)
class Render:
    """One overlay rendered by ``kubectl kustomize``."""

    overlay: str
    docs: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [d for d in self.of_kind(kind) if name is None or d["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.overlay}: expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    @property
    def config(self) -> dict[str, str]:
        data: dict[str, str] = self.one("ConfigMap")["data"]
        return data

    def workloads(self) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
        """(role, Deployment or Job, pod template) of every Serambi workload."""
        for doc in self.of_kind("Deployment") + self.of_kind("Job"):
            template = doc["spec"]["template"]
            yield template["metadata"]["labels"]["app.kubernetes.io/component"], doc, template

    def pod_of(self, role: str) -> dict[str, Any]:
        templates = [t for r, _, t in self.workloads() if r == role]
        assert templates, f"{self.overlay}: no workload of role {role}"
        return templates[0]


def _kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        why = "kubectl not installed (it renders deploy/k8s with its built-in kustomize v5)"
        if os.environ.get("CI"):
            pytest.fail(why)  # in CI a skipped manifest check would let a broken overlay ship
        pytest.skip(why)
    return path


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def render(request: pytest.FixtureRequest) -> Render:
    overlay: str = request.param
    done = subprocess.run(
        [_kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"kubectl kustomize overlays/{overlay} failed: {done.stderr}"
    return Render(overlay, [d for d in yaml.safe_load_all(done.stdout) if d])


# --- schemas -------------------------------------------------------------------------------------------------


def _closed(schema: Any) -> Any:
    """The schema with every object that lists ``properties`` closed, as strict field validation treats it."""
    if isinstance(schema, dict):
        out = {key: _closed(value) for key, value in schema.items()}
        open_object = "additionalProperties" in out or out.get("x-kubernetes-preserve-unknown-fields")
        if "properties" in out and not open_object:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


@functools.cache
def _crd_validators() -> dict[tuple[str, str], Draft202012Validator]:
    """(apiVersion, kind) -> a validator of the vendored schema in deploy/k8s/crds."""
    validators = {}
    for path in sorted((K8S / "crds").glob("*.schema.yaml")):
        crd = yaml.safe_load(path.read_text())
        schema = _closed({**crd["openAPIV3Schema"], "$defs": crd.get("$defs", {})})
        validators[(f"{crd['group']}/{crd['version']}", crd["kind"])] = Draft202012Validator(schema)
    return validators


def _schema_errors(doc: dict[str, Any]) -> list[str]:
    where = f"{doc['kind']}/{doc['metadata']['name']}"
    if doc["apiVersion"].startswith(CRD_GROUPS):
        # The custom resource's metadata is an ordinary ObjectMeta: validate it as a ConfigMap's.
        errors = _schema_errors({"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc["metadata"]})
        if doc["kind"] in STRUCTURAL_ONLY:
            return errors
        validator = _crd_validators().get((doc["apiVersion"], doc["kind"]))
        if validator is None:
            return [*errors, f"{where}: no vendored schema for {doc['apiVersion']} in deploy/k8s/crds"]
        return errors + [f"{where}: {'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{where}: {'.'.join(map(str, error.path))}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [f"{where}: {error.message}"]
    return []


def test_every_resource_validates_against_its_schema(render: Render) -> None:
    errors = [error for doc in render.docs for error in _schema_errors(doc)]
    assert not errors, "\n".join(errors)
    kinds = {d["kind"] for d in render.docs if d["apiVersion"].startswith(CRD_GROUPS)}
    assert kinds == STRUCTURAL_ONLY | {"KafkaTopic", "KafkaNodePool", "ScaledObject"}


def test_validation_rejects_unknown_and_mistyped_fields(render: Render) -> None:
    topic = copy.deepcopy(render.one("KafkaTopic", EVENTS.name))
    topic["spec"]["partition"] = 3
    assert _schema_errors(topic), "a misspelt KafkaTopic field must not validate"
    scaled = copy.deepcopy(render.one("ScaledObject"))
    scaled["spec"]["maxReplicaCount"] = "12"
    assert _schema_errors(scaled), "a string replica count must not validate"
    worker = copy.deepcopy(render.one("Deployment", "serambi-worker"))
    worker["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    assert _schema_errors(worker), "strict mode must reject an unknown Deployment field"


# --- the operators' big resources, field by field -----------------------------------------------------------


def test_kafka_runs_kraft_with_node_pools(render: Render) -> None:
    kafka = render.one("Kafka")
    name, spec = kafka["metadata"]["name"], kafka["spec"]
    assert kafka["metadata"]["annotations"] == {"strimzi.io/node-pools": "enabled", "strimzi.io/kraft": "enabled"}
    assert "zookeeper" not in spec
    assert spec["entityOperator"]["topicOperator"] == {}  # it turns the KafkaTopics into topics
    (listener,) = spec["kafka"]["listeners"]
    assert render.config["SERAMBI_KAFKA_BOOTSTRAP_SERVERS"] == f"{name}-kafka-bootstrap:{listener['port']}"
    assert spec["kafka"]["config"]["auto.create.topics.enable"] is False
    pools = {p["metadata"]["name"]: p for p in render.of_kind("KafkaNodePool")}
    assert {p["metadata"]["labels"]["strimzi.io/cluster"] for p in pools.values()} == {name}
    by_role = {role: p["spec"]["replicas"] for p in pools.values() for role in p["spec"]["roles"]}
    assert by_role["controller"] % 2 == 1, "a KRaft quorum needs an odd number of controllers"
    assert by_role["broker"] == EXPECTED[render.overlay].brokers
    assert by_role["broker"] >= max(t["spec"]["replicas"] for t in render.of_kind("KafkaTopic"))


def test_clickhouse_cluster_matches_the_settings(render: Render) -> None:
    chi, chk = render.one("ClickHouseInstallation"), render.one("ClickHouseKeeperInstallation")
    expect = EXPECTED[render.overlay]
    (cluster,) = chi["spec"]["configuration"]["clusters"]
    assert cluster["name"] == render.config["SERAMBI_CLICKHOUSE_CLUSTER"]
    assert cluster["layout"] == {"shardsCount": expect.shards, "replicasCount": expect.replicas}
    (keeper_cluster,) = chk["spec"]["configuration"]["clusters"]
    assert keeper_cluster["layout"]["replicasCount"] == expect.keepers  # odd: a Raft quorum
    port = int(chk["spec"]["configuration"]["settings"]["keeper_server/tcp_port"])
    # The operator names Keeper's client service keeper-<name>.
    assert chi["spec"]["configuration"]["zookeeper"]["nodes"] == [
        {"host": f"keeper-{chk['metadata']['name']}", "port": port}
    ]
    users = chi["spec"]["configuration"]["users"]
    secret, key = users["serambi_writer/k8s_secret_password"].split("/")
    assert key in _readme_secrets()[secret]
    assert users["serambi_writer/access_management"] == 1  # `db migrate` creates the read-only user


def test_topics_are_the_declared_ones(render: Render) -> None:
    topics = {t["metadata"]["name"]: t["spec"] for t in render.of_kind("KafkaTopic")}
    assert set(topics) == {t.name for t in TOPICS}
    partitions = int(render.config["SERAMBI_PARTITIONS"])
    assert partitions == EXPECTED[render.overlay].partitions
    for declared in TOPICS:
        spec = topics[declared.name]
        assert spec["partitions"] == (declared.partitions or partitions), declared.name
        assert spec["config"]["retention.ms"] == declared.retention_ms, declared.name
        assert (spec["replicas"], spec["config"]["min.insync.replicas"]) == (3, 2), declared.name
    kafka = render.one("Kafka")["metadata"]["name"]
    assert {t["metadata"]["labels"]["strimzi.io/cluster"] for t in render.of_kind("KafkaTopic")} == {kafka}


# --- workloads -----------------------------------------------------------------------------------------------

PORT_SETTING = {
    "worker": "SERAMBI_WORKER_METRICS_PORT",
    "ingest": "SERAMBI_INGEST_PORT",
    "web": "SERAMBI_BOARD_PORT",
    "connect": "SERAMBI_CONNECT_METRICS_PORT",
}


def _project_version() -> str:
    version: str = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    return version


HARDENED = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _check_pod(render: Render, role: str, template: dict[str, Any]) -> None:
    pod = template["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    context = {key: container["securityContext"].get(key) for key in HARDENED}
    assert context == HARDENED, role
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][bound]), f"{role}: {bound}"
    assert container["image"] == f"ghcr.io/serambi/serambi:{_project_version()}"
    assert container["command"][:2] == ["serambi", "db" if role == "migrate" else role]
    assert container["envFrom"] == [{"configMapRef": {"name": render.one("ConfigMap")["metadata"]["name"]}}]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    assert "emptyDir" in mounts[render.config["SERAMBI_DATA_DIR"]]
    assert "emptyDir" in mounts["/tmp"]
    assert "projected" in mounts[render.config["SERAMBI_SECRETS_DIR"]]
    agencies = Path(render.config["SERAMBI_AGENCIES_FILE"])
    assert mounts[str(agencies.parent)]["configMap"]["name"] == "serambi-agencies"


def test_every_workload_is_hardened(render: Render) -> None:
    roles = [role for role, _, _ in render.workloads()]
    assert sorted(roles) == sorted([*ROLES, "migrate"])
    for role, _, template in render.workloads():
        _check_pod(render, role, template)


def test_probes_answer_on_the_configured_ports(render: Render) -> None:
    for role, doc, template in render.workloads():
        if doc["kind"] == "Job":
            continue
        (container,) = template["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert list(ports.values()) == [int(render.config[PORT_SETTING[role]])], role
        ready = "/ready" if role == "worker" else "/health"
        for probe, path in (("livenessProbe", "/health"), ("readinessProbe", ready)):
            get = container[probe]["httpGet"]
            assert (get["path"], get["port"] in ports) == (path, True), f"{role} {probe}"
        if annotations := template["metadata"].get("annotations"):
            assert int(annotations["prometheus.io/port"]) in ports.values(), role


def test_workers_roll_one_at_a_time(render: Render) -> None:
    worker = render.one("Deployment", "serambi-worker")
    assert worker["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 60
    assert "replicas" not in worker["spec"], "KEDA owns the worker count; a re-apply must not reset it"
    if render.overlay == "production":
        assert worker["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"] == {
            "cpu": "1",
            "memory": "1536Mi",
        }


def test_workers_never_outnumber_partitions(render: Render) -> None:
    events = render.one("KafkaTopic", EVENTS.name)["spec"]["partitions"]
    scalers = [s for s in render.of_kind("ScaledObject") if s["spec"]["scaleTargetRef"]["name"] == "serambi-worker"]
    assert len(scalers) == 1
    spec = scalers[0]["spec"]
    assert EXPECTED[render.overlay].min_workers == spec["minReplicaCount"] <= spec["maxReplicaCount"] <= events
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    assert (trigger["metadata"]["consumerGroup"], trigger["metadata"]["topic"]) == (WORKER_GROUP, EVENTS.name)
    # KEDA runs in its own namespace: the address must name ours.
    host, port = render.config["SERAMBI_KAFKA_BOOTSTRAP_SERVERS"].split(":")
    assert render.one("Kafka")["metadata"]["namespace"] == NAMESPACE
    assert trigger["metadata"]["bootstrapServers"] == f"{host}.{NAMESPACE}.svc:{port}"


def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A label selector's verdict (matchLabels and matchExpressions)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value, values = labels.get(expr["key"]), expr.get("values", [])
        ok = {
            "In": value in values,
            "NotIn": value not in values,
            "Exists": value is not None,
            "DoesNotExist": value is None,
        }[expr["operator"]]
        if not ok:
            return False
    return True


def test_every_role_has_a_disruption_budget_and_a_network_policy(render: Render) -> None:
    budgets = render.of_kind("PodDisruptionBudget")
    policies = [p for p in render.of_kind("NetworkPolicy") if p["spec"]["podSelector"]]
    for role in ROLES:
        labels = render.pod_of(role)["metadata"]["labels"]
        assert [b for b in budgets if _selects(b["spec"]["selector"], labels)], f"no PDB for {role}"
        assert [p for p in policies if _selects(p["spec"]["podSelector"], labels)], f"no NetworkPolicy for {role}"
    worker = render.pod_of("worker")["metadata"]["labels"]
    (budget,) = [b for b in budgets if _selects(b["spec"]["selector"], worker)]
    assert budget["spec"] == {"maxUnavailable": 1, "selector": budget["spec"]["selector"]}
    deny = render.one("NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_services_reach_their_pods(render: Render) -> None:
    for service in render.of_kind("Service"):
        pods = [
            t
            for _, _, t in render.workloads()
            if _selects({"matchLabels": service["spec"]["selector"]}, t["metadata"]["labels"])
        ]
        assert pods, f"Service {service['metadata']['name']} selects no pod"
        names = {p["name"] for t in pods for c in t["spec"]["containers"] for p in c["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= names
    exposed = {s["spec"]["selector"]["app.kubernetes.io/component"] for s in render.of_kind("Service")}
    assert exposed == set(ROLES)


# --- network policies, evaluated -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    """A pod's namespace and labels, or (``ip``) an address outside the cluster; ``name`` for messages."""

    name: str
    namespace: str = ""
    labels: Mapping[str, str] | None = None
    ip: str = ""


def _peer_matches(peer: Mapping[str, Any], policy_namespace: str, pod: Pod) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        if not pod.ip:
            return False  # cluster pods are selected by labels here; their addresses are private anyway
        address = ipaddress.ip_address(pod.ip)
        excepted = any(address in ipaddress.ip_network(cidr) for cidr in block.get("except", []))
        return address in ipaddress.ip_network(block["cidr"]) and not excepted
    if pod.labels is None:
        return False
    if "namespaceSelector" in peer:
        namespace_ok = _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": pod.namespace})
    else:
        namespace_ok = pod.namespace == policy_namespace
    return namespace_ok and _selects(peer.get("podSelector", {}), pod.labels)


def _side_allows(policies: list[dict[str, Any]], kind: str, me: Pod, peer: Pod, port: int, protocol: str) -> bool:
    """Whether ``me``'s policies of ``kind`` (Ingress/Egress) let traffic to/from ``peer`` on ``port`` pass."""
    if me.labels is None:
        return True  # outside the cluster: no policy of ours
    mine = [
        p
        for p in policies
        if p["metadata"]["namespace"] == me.namespace
        and kind in p["spec"]["policyTypes"]
        and _selects(p["spec"]["podSelector"], me.labels)
    ]
    if not mine:
        return True
    peers_key = "from" if kind == "Ingress" else "to"
    for policy in mine:
        for rule in policy["spec"].get(kind.lower(), []):
            peers, ports = rule.get(peers_key), rule.get("ports")
            peer_ok = not peers or any(_peer_matches(p, policy["metadata"]["namespace"], peer) for p in peers)
            port_ok = not ports or any((p["port"], p.get("protocol", "TCP")) == (port, protocol) for p in ports)
            if peer_ok and port_ok:
                return True
    return False


def _strimzi_policy(kafka: dict[str, Any]) -> dict[str, Any]:
    """The ingress policy Strimzi generates for the brokers: each listener's port from its networkPolicyPeers."""
    rules = []
    for listener in kafka["spec"]["kafka"]["listeners"]:
        rule: dict[str, Any] = {"ports": [{"port": listener["port"], "protocol": "TCP"}]}
        if peers := listener.get("networkPolicyPeers"):
            rule["from"] = peers
        rules.append(rule)
    return {
        "metadata": {"namespace": kafka["metadata"]["namespace"]},
        "spec": {
            "podSelector": {"matchLabels": {"strimzi.io/cluster": kafka["metadata"]["name"]}},
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    }


@dataclass(frozen=True)
class Cluster:
    """The rendered policies (plus Strimzi's) and the pods they are about."""

    policies: list[dict[str, Any]]
    pods: dict[str, Pod]

    def allowed(self, src: str, dst: str, port: int) -> bool:
        """Whether ``src`` reaches ``dst`` on ``port``: its egress and the destination's ingress both let it."""
        protocol = "UDP" if port == 53 else "TCP"
        source, destination = self.pods[src], self.pods[dst]
        egress = _side_allows(self.policies, "Egress", source, destination, port, protocol)
        return egress and _side_allows(self.policies, "Ingress", destination, source, port, protocol)


def _cluster(render: Render) -> Cluster:
    kafka, chi, chk = (
        render.one(k)["metadata"]["name"] for k in ("Kafka", "ClickHouseInstallation", "ClickHouseKeeperInstallation")
    )
    others = [
        Pod(
            "broker",
            NAMESPACE,
            {"strimzi.io/cluster": kafka, "strimzi.io/kind": "Kafka", "strimzi.io/broker-role": "true"},
        ),
        Pod("clickhouse", NAMESPACE, {"clickhouse.altinity.com/chi": chi, "clickhouse.altinity.com/cluster": chi}),
        Pod("keeper", NAMESPACE, {"clickhouse-keeper.altinity.com/chk": chk}),
        Pod("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"}),
        Pod("ingress controller", "ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}),
        Pod("keda", "keda", {"app": "keda-operator"}),
        Pod("dns", "kube-system", {"k8s-app": "kube-dns"}),
        Pod("stranger", NAMESPACE, {"app": "other"}),  # another pod of the namespace
        Pod("outsider", "default", {"app": "other"}),  # a pod of another namespace
        Pod("internet", ip="203.0.113.10"),
        Pod("private address", ip="10.1.2.3"),
    ]
    pods = {role: Pod(role, NAMESPACE, render.pod_of(role)["metadata"]["labels"]) for role in (*ROLES, "migrate")}
    pods |= {pod.name: pod for pod in others}
    return Cluster([*render.of_kind("NetworkPolicy"), _strimzi_policy(render.one("Kafka"))], pods)


def test_network_flows_end_to_end(render: Render) -> None:
    cluster = _cluster(render)
    flows = [
        ("worker", "broker", 9092, True),
        ("worker", "clickhouse", 8123, True),
        ("ingest", "broker", 9092, True),
        ("web", "clickhouse", 8123, True),
        ("connect", "broker", 9092, True),
        ("connect", "clickhouse", 8123, True),
        ("connect", "internet", 443, True),
        ("migrate", "clickhouse", 8123, True),
        ("keda", "broker", 9092, True),
        ("prometheus", "worker", 8791, True),
        ("prometheus", "ingest", 8790, True),
        ("prometheus", "connect", 8793, True),
        ("prometheus", "web", 8780, True),
        ("ingress controller", "ingest", 8790, True),
        ("ingress controller", "web", 8780, True),
        ("clickhouse", "keeper", 2181, True),
        ("clickhouse", "clickhouse", 9009, True),
        ("keeper", "keeper", 9444, True),
        ("web", "broker", 9092, False),
        ("ingest", "clickhouse", 8123, False),
        ("migrate", "broker", 9092, False),
        ("worker", "keeper", 2181, False),
        ("connect", "private address", 443, False),
        ("stranger", "clickhouse", 8123, False),
        ("stranger", "broker", 9092, False),
        ("outsider", "keeper", 2181, False),
    ]
    flows += [(role, "dns", 53, True) for role in (*ROLES, "migrate")]
    wrong = [
        f"{s} -> {d}:{port} not {'allowed' if ok else 'denied'}"
        for s, d, port, ok in flows
        if cluster.allowed(s, d, port) != ok
    ]
    assert not wrong, "\n".join(wrong)


def test_each_side_names_exactly_its_peers(render: Render) -> None:
    """Each side on its own (defence in depth): whom a pod's egress lets it reach, whom its ingress lets in."""
    cluster = _cluster(render)
    port = {role: int(render.config[PORT_SETTING[role]]) for role in ROLES}
    port |= {"broker": 9092, "clickhouse": 8123, "keeper": 2181, "internet": 443, "private address": 443}
    targets = ["broker", "clickhouse", "keeper", "internet", "private address", *ROLES]
    sources = ["prometheus", "ingress controller", "keda", "stranger", "outsider", "broker", "clickhouse", "keeper"]
    sources += [*ROLES, "migrate"]

    def side(kind: str, me: str, peers: list[str]) -> set[str]:
        pod = cluster.pods[me]
        if kind == "Egress":
            return {p for p in peers if _side_allows(cluster.policies, kind, pod, cluster.pods[p], port[p], "TCP")}
        return {p for p in peers if _side_allows(cluster.policies, kind, pod, cluster.pods[p], port[me], "TCP")}

    assert {role: side("Egress", role, targets) for role in (*ROLES, "migrate")} == {
        "worker": {"broker", "clickhouse"},
        "ingest": {"broker"},
        "web": {"clickhouse"},
        "connect": {"broker", "clickhouse", "internet"},
        "migrate": {"clickhouse"},
    }
    assert {name: side("Ingress", name, sources) for name in (*ROLES, "broker", "clickhouse", "keeper")} == {
        "worker": {"prometheus"},
        "ingest": {"prometheus", "ingress controller"},
        "web": {"ingress controller", "prometheus"},
        "connect": {"prometheus"},
        "broker": {"worker", "ingest", "connect", "keda"},
        "clickhouse": {"worker", "web", "connect", "migrate", "clickhouse"},
        "keeper": {"clickhouse", "keeper"},
    }


# --- secrets and configuration -------------------------------------------------------------------------------

SECRET_FIELDS = {name for name, field in Settings.model_fields.items() if field.annotation is SecretStr}


def _readme_secrets() -> dict[str, set[str]]:
    """Secret or ConfigMap name -> the keys README.md's ``kubectl create`` commands give it."""
    text = (K8S / "README.md").read_text().replace("\\\n", " ")
    made: dict[str, set[str]] = {}
    for line in text.splitlines():
        if match := re.search(r"kubectl .*create (?:secret generic|configmap) ([a-z0-9-]+)", line):
            keys = re.findall(r"--from-(?:literal|file)=([A-Za-z0-9._-]+)=", line)
            made.setdefault(match.group(1), set()).update(keys)
    return made


def test_no_secret_is_committed(render: Render) -> None:
    assert not render.of_kind("Secret")
    committed = [p for p in K8S.rglob("*.yaml") if re.search(r"^kind:\s*Secret\b", p.read_text(), re.MULTILINE)]
    assert not committed


def test_mounted_secrets_are_the_documented_ones(render: Render) -> None:
    made = _readme_secrets()
    for role, _, template in render.workloads():
        for volume in template["spec"]["volumes"]:
            for source in volume.get("projected", {}).get("sources", []):
                secret = source["secret"]
                assert secret["name"] in made, f"{role}: README.md does not create Secret {secret['name']}"
                # Without items every key becomes a file named like it: each must then be a setting's name.
                files = {i["key"]: i["path"] for i in secret.get("items", [])} or {k: k for k in made[secret["name"]]}
                for key, path in files.items():
                    assert key in made[secret["name"]], f"{role}: README.md does not give {secret['name']} {key}"
                    setting = path.removeprefix("SERAMBI_").lower()
                    assert setting in SECRET_FIELDS, f"{role}: {path} is not a secret setting"
    assert Path(render.config["SERAMBI_AGENCIES_FILE"]).name in made["serambi-agencies"]


def test_configuration_names_real_settings(render: Render) -> None:
    names = set(render.config)
    for _, _, template in render.workloads():
        names |= {e["name"] for c in template["spec"]["containers"] for e in c.get("env", [])}
    settings = {f"SERAMBI_{name.upper()}" for name in Settings.model_fields} | {"SERAMBI_SECRETS_DIR"}
    assert names <= settings, f"not settings: {sorted(names - settings)}"
    # An environment variable wins over the secret file of the same name: secrets never come from here.
    assert not {n for n in names if n.removeprefix("SERAMBI_").lower() in SECRET_FIELDS}
