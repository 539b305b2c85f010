"""Prometheus and Alertmanager as child processes on loopback, watching a running stack (demo and tests).

Both come from the system (Debian ``prometheus`` and ``prometheus-alertmanager``); :func:`find_binaries` says
whether they are installed. :class:`MonitoringStack` writes their configs, Serambi's alert rules (package data:
an installed wheel has them) and their storage under one directory, and starts them on free ports: Prometheus
scrapes the stack's ``/metrics``, evaluates the rules and sends alerts to the Alertmanager, which groups them
and notifies a webhook (or nobody). Nothing here is production: ``deploy/`` holds that configuration.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml
from pydantic import SecretStr

from pipeline.errors import MonitoringError
from pipeline.kafka.broker import free_port, spawn_child
from pipeline.runtime.statefile import LOCAL_OPENER, write_private

__all__ = [
    "INSTALL_HINT",
    "JOB",
    "Binaries",
    "MonitoringError",
    "MonitoringOptions",
    "MonitoringStack",
    "alertmanager_config",
    "find_binaries",
    "prometheus_config",
    "rules_text",
    "write_prometheus_files",
]

log = logging.getLogger(__name__)

JOB = "serambi-worker"
"""The scrape job's name: the rules' PipelineStalled matches ``up{job="serambi-worker"}``."""
INSTALL_HINT = "apt-get install prometheus prometheus-alertmanager, or `make tools`"
RECEIVER = "serambi"
_RULES = "alert_rules/serambi.rules.yml"  # in this package: deploy/prometheus/rules/ links to it
_STOP_TIMEOUT_S = 5.0
_POLL_S = 0.1


@dataclass(frozen=True)
class Binaries:
    """Paths of the Prometheus and Alertmanager executables."""

    prometheus: str
    alertmanager: str


def find_binaries() -> Binaries | None:
    """The installed Prometheus and Alertmanager (Debian's is ``prometheus-alertmanager``), else ``None``."""
    prometheus = shutil.which("prometheus")
    alertmanager = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if prometheus is None or alertmanager is None:
        return None
    return Binaries(prometheus, alertmanager)


@dataclass(frozen=True)
class MonitoringOptions:
    """Timings of the monitoring stack; the defaults suit the demo, tests use 1 s everywhere.

    Args:
        scrape_interval_s: Prometheus scrapes the stack this often (default 5).
        evaluation_interval_s: Prometheus evaluates the rules this often (default 5).
        group_wait_s: Alertmanager waits this long before a new group's first notification (default 5).
        group_interval_s: and this long between notifications of a changed group, resolves included (default 30).
        repeat_interval_s: a group that did not change is notified again after this (default 4 h).
        resolve_timeout_s: an alert Prometheus stops sending counts as resolved after this (default 5 min).
        webhook_url: Alertmanager POSTs its notifications here (``None``: a receiver that does nothing).
        start_timeout_s: how long each process may take to answer ``/-/ready`` (default 30).

    Example: ``MonitoringOptions(scrape_interval_s=1, evaluation_interval_s=1, group_wait_s=1, webhook_url=url)``.
    """

    scrape_interval_s: float = 5.0
    evaluation_interval_s: float = 5.0
    group_wait_s: float = 5.0
    group_interval_s: float = 30.0
    repeat_interval_s: float = 4 * 3600.0
    resolve_timeout_s: float = 300.0
    webhook_url: str | None = None
    start_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("scrape_interval_s", "evaluation_interval_s", "group_interval_s", "repeat_interval_s"):
            if getattr(self, name) < 0.001:
                msg = f"{name} must be at least 1 ms, got {getattr(self, name)}"
                raise ValueError(msg)


def rules_text() -> str:
    """Serambi's alert rules (the file ``deploy/prometheus/rules/serambi.rules.yml`` links to)."""
    return resources.files("pipeline.runtime").joinpath(_RULES).read_text(encoding="utf-8")


def prometheus_config(
    api_url: str, alertmanager: str, rules: Path, options: MonitoringOptions, credentials_file: Path | None = None
) -> dict[str, Any]:
    """Prometheus' configuration: scrape ``<api_url>/metrics`` as :data:`JOB`, load ``rules``, alert ``alertmanager``.

    ``credentials_file`` holds the API's bearer token (Prometheus reads it; the token is never in the config).
    """
    url = urllib.parse.urlsplit(api_url)
    if url.scheme not in {"http", "https"} or not url.netloc:
        msg = f"the stack's API URL {api_url!r} is not http(s)://host:port"
        raise ValueError(msg)
    job: dict[str, Any] = {
        "job_name": JOB,
        "scheme": url.scheme,
        "metrics_path": url.path.rstrip("/") + "/metrics",
        "static_configs": [{"targets": [url.netloc]}],
    }
    if credentials_file is not None:
        job["authorization"] = {"type": "Bearer", "credentials_file": str(credentials_file)}
    scrape = _duration(options.scrape_interval_s)
    return {
        "global": {
            "scrape_interval": scrape,
            # Prometheus refuses a timeout longer than the interval (the default 10 s is, at 1 s).
            "scrape_timeout": scrape,
            "evaluation_interval": _duration(options.evaluation_interval_s),
        },
        "rule_files": [str(rules)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [job],
    }


def alertmanager_config(options: MonitoringOptions) -> dict[str, Any]:
    """Alertmanager's configuration: one route, grouped by alert and agency, to the webhook or to nobody."""
    receiver: dict[str, Any] = {"name": RECEIVER}
    if options.webhook_url is not None:
        receiver["webhook_configs"] = [{"url": options.webhook_url, "send_resolved": True}]
    return {
        "global": {"resolve_timeout": _duration(options.resolve_timeout_s)},
        "route": {
            "receiver": RECEIVER,
            "group_by": ["alertname", "agency"],
            "group_wait": _duration(options.group_wait_s),
            "group_interval": _duration(options.group_interval_s),
            "repeat_interval": _duration(options.repeat_interval_s),
        },
        "receivers": [receiver],
    }


def write_prometheus_files(
    directory: Path, api_url: str, alertmanager: str, options: MonitoringOptions, token: SecretStr | None
) -> Path:
    """Write ``prometheus.yml``, the rules and the token file (0600, only with a token) into ``directory``.

    Return the config's path. The token goes into ``api.token`` only: the config names the file.
    """
    rules = directory / "rules" / "serambi.rules.yml"
    write_private(rules, rules_text())
    token_file = directory / "api.token"
    credentials: Path | None = None
    if token is not None and token.get_secret_value():
        write_private(token_file, token.get_secret_value())
        credentials = token_file
    else:
        token_file.unlink(missing_ok=True)  # no token now: none of an earlier run stays behind
    config = directory / "prometheus.yml"
    write_private(config, _yaml(prometheus_config(api_url, alertmanager, rules, options, credentials)))
    return config


def _duration(seconds: float) -> str:
    """A Prometheus duration: whole seconds as ``5s``, else milliseconds (``1500ms``)."""
    ms = max(round(seconds * 1000), 0)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


@dataclass
class _Child:
    name: str
    log_path: Path
    url: str = ""
    process: subprocess.Popen[bytes] | None = None


class MonitoringStack:
    """Prometheus scraping a stack's ``/metrics`` with Serambi's alert rules, and an Alertmanager; children of ours.

    Everything lives under ``directory``: ``prometheus.yml``, ``alertmanager.yml``, ``rules/``, the storage
    (``prometheus/``, ``alertmanager/``) and the logs (``prometheus.log``, ``alertmanager.log``). Both listen on
    free ports of ``host``; Alertmanager's cluster gossip is off. Start it from a thread that outlives it: Linux
    sends the parent-death signal when the *thread* that started a child ends.

    Args:
        binaries: from :func:`find_binaries`.
        directory: where configs, storage and logs go (created 0700).
        api_url: the stack's local API (``api_url`` of its state file).
        token: the API's bearer token (``SERAMBI_API_TOKEN``), if it has one: written 0600 for Prometheus.
        options: timings and the webhook (default :class:`MonitoringOptions`).
        host: the loopback address both listen on (default ``127.0.0.1``).

    Example::

        with MonitoringStack(find_binaries(), data_dir / "monitoring", api_url).start() as monitoring:
            monitoring.wait_scraping(30)
            print(monitoring.prometheus_url, monitoring.alertmanager_url)
    """

    def __init__(  # noqa: PLR0913 - the stack's whole context
        self,
        binaries: Binaries,
        directory: Path,
        api_url: str,
        *,
        token: SecretStr | None = None,
        options: MonitoringOptions | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.binaries = binaries
        self.directory = directory
        self.api_url = api_url
        self.options = options or MonitoringOptions()
        self.host = host
        self._token = token
        self._alertmanager = _Child("Alertmanager", directory / "alertmanager.log")
        self._prometheus = _Child("Prometheus", directory / "prometheus.log")

    @property
    def prometheus_url(self) -> str:
        """Prometheus' web UI and API, once started."""
        return self._prometheus.url

    @property
    def alertmanager_url(self) -> str:
        """Alertmanager's web UI and API, once started."""
        return self._alertmanager.url

    def start(self) -> Self:
        """Start Alertmanager, then Prometheus; return once both answer ``/-/ready`` (else :class:`MonitoringError`)."""
        write_private(self.directory / "alertmanager.yml", _yaml(alertmanager_config(self.options)))
        try:
            self._start(self._alertmanager, self._alertmanager_args)
            alertmanager = urllib.parse.urlsplit(self.alertmanager_url).netloc
            write_prometheus_files(self.directory, self.api_url, alertmanager, self.options, self._token)
            self._start(self._prometheus, self._prometheus_args)
        except BaseException:
            self.stop()
            raise
        log.info("Prometheus on %s, Alertmanager on %s", self.prometheus_url, self.alertmanager_url)
        return self

    def _alertmanager_args(self, address: str) -> list[str]:
        return [
            self.binaries.alertmanager,
            f"--config.file={self.directory / 'alertmanager.yml'}",
            f"--storage.path={self.directory / 'alertmanager'}",
            f"--web.listen-address={address}",
            "--cluster.listen-address=",  # no gossip: a single Alertmanager, nothing else listens
        ]

    def _prometheus_args(self, address: str) -> list[str]:
        return [
            self.binaries.prometheus,
            f"--config.file={self.directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.directory / 'prometheus'}",
            f"--web.listen-address={address}",
        ]

    def _start(self, child: _Child, args: Callable[[str], list[str]]) -> None:
        # A free port can be taken between our probe and the child's bind: a child that exits at once is retried.
        why = ""
        for _attempt in range(3):
            port = free_port(self.host)
            child.url = f"http://{self.host}:{port}"
            process = child.process = self._spawn(child, args(f"{self.host}:{port}"))
            if self._wait_ready(child):
                return
            code = process.poll()
            self._stop(child)
            if code is None:
                why = f"did not answer {child.url}/-/ready within {self.options.start_timeout_s:.0f} s"
                break
            why = f"exited with code {code}"
        msg = f"{child.name} ({args('')[0]}) {why}; see {child.log_path}"
        raise MonitoringError(msg)

    def _spawn(self, child: _Child, args: list[str]) -> subprocess.Popen[bytes]:
        self.directory.mkdir(parents=True, exist_ok=True)
        # Like the embedded broker: they must not outlive us, even if we are SIGKILLed.
        return spawn_child(args, child.log_path)

    def _wait_ready(self, child: _Child) -> bool:
        deadline = time.monotonic() + self.options.start_timeout_s
        while time.monotonic() < deadline:
            if child.process is None or child.process.poll() is not None:
                return False
            if _get(child.url + "/-/ready") is not None:
                return True
            time.sleep(_POLL_S)  # polling a child process's readiness, not test synchronisation
        return False

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result of an instant PromQL query (``[]`` when Prometheus does not answer)."""
        answer = _get(f"{self.prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
        result = (answer or {}).get("data", {}).get("result", [])
        return list(result) if isinstance(result, list) else []

    def scraping(self) -> bool:
        """Whether Prometheus' last scrape of the stack succeeded (``up == 1``)."""
        return any(sample["value"][1] == "1" for sample in self.query(f'up{{job="{JOB}"}}'))

    def alertmanager_discovered(self) -> bool:
        """Whether Prometheus lists our Alertmanager as active (it sends alerts only then)."""
        answer = _get(self.prometheus_url + "/api/v1/alertmanagers") or {}
        active = answer.get("data", {}).get("activeAlertmanagers", [])
        return any(self.alertmanager_url in str(entry.get("url", "")) for entry in active)

    def wait_scraping(self, timeout_s: float) -> None:
        """Wait until Prometheus scraped the stack and found the Alertmanager (the first takes ~5 s after start)."""
        deadline = time.monotonic() + timeout_s
        while not ((scraped := self.scraping()) and self.alertmanager_discovered()):
            for child in (self._prometheus, self._alertmanager):
                if child.process is None or child.process.poll() is not None:
                    msg = f"{child.name} is not running; see {child.log_path}"
                    raise MonitoringError(msg)
            if time.monotonic() >= deadline:
                missing = "could not scrape the stack's /metrics" if not scraped else "found no active Alertmanager"
                msg = (
                    f"Prometheus {missing} within {timeout_s:.0f} s; see {self.prometheus_url}/targets and "
                    f"{self._prometheus.log_path}"
                )
                raise MonitoringError(msg)
            time.sleep(_POLL_S)  # polling the children's state, not test synchronisation

    def stop(self) -> None:
        """Stop Prometheus, then Alertmanager (terminate, kill after 5 s); safe to call twice."""
        self._stop(self._prometheus)
        self._stop(self._alertmanager)

    @staticmethod
    def _stop(child: _Child) -> None:
        process, child.process = child.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s; killed", child.name, _STOP_TIMEOUT_S)
            process.kill()
            process.wait(timeout=_STOP_TIMEOUT_S)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def _get(url: str) -> dict[str, Any] | None:
    """GET a JSON (or any 2xx) answer from a child on loopback; ``None`` while it does not answer."""
    try:
        with LOCAL_OPENER.open(url, timeout=2) as response:
            body = response.read()
    except (OSError, ValueError):
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        return {}  # /-/ready answers text
    return answer if isinstance(answer, dict) else {}


def _yaml(document: dict[str, Any]) -> str:
    return "# Generated by serambi (pipeline/runtime/monitoring.py); rewritten at every start.\n" + yaml.safe_dump(
        document, sort_keys=False
    )
