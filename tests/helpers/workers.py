"""``serambi worker`` processes of one consumer group, their probes, and whether the group drained."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import orjson

from pipeline.stream.app import WORKER_GROUP
from pipeline.stream.offsets import HandledOffsets, OffsetReader
from tests.helpers.processes import SERAMBI

_PROBES = re.compile(r"probes and metrics on (http://\S+)")


GROUP_TIMEOUT_S = 180.0
"""How long a test waits for a group to rebalance or drain (a loaded 2-core machine takes tens of seconds)."""


def get_json(url: str) -> tuple[int, dict[str, Any]]:
    """``GET url``: the status and the JSON body, whatever the status (a probe answers 503 with a reason)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, orjson.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


class WorkerProcess:
    """One ``serambi worker`` child: started, probed (``/ready``, ``/health``), stopped or killed."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [SERAMBI, "worker"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.url = self._wait_for_probes()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def _wait_for_probes(self) -> str:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if found := _PROBES.search(line):
                return found.group(1)
        msg = f"worker {self.name} did not start:\n" + "\n".join(self.lines)
        raise AssertionError(msg)

    def output(self) -> str:
        """Everything the worker printed so far."""
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return "\n".join(self.lines)

    def probe(self, path: str) -> tuple[int, dict[str, Any]]:
        """``GET path`` of the worker's probe server: status and JSON body."""
        return get_json(self.url + path)

    def partitions(self) -> set[int] | None:
        """The events partitions the worker consumes, once ready; ``None`` before."""
        status, body = self.probe("/ready")
        return set(body["partitions"]) if status == 200 else None

    def stop(self) -> int:
        """SIGTERM, then wait for the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=120)

    def kill(self) -> None:
        """SIGKILL the worker (no goodbye to the group: its partitions move after the session timeout)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)


def group_drained(bootstrap: str, partitions: int) -> bool:
    """True when the worker group committed every record of its topics."""
    reader = OffsetReader(bootstrap, partitions, WORKER_GROUP)
    try:
        return reader.drain_state(HandledOffsets()).drained
    finally:
        reader.close()
