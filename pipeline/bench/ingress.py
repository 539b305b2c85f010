"""``serambi bench ingress``: signed webhook deliveries per second the ingress acknowledges, and their latency.

The whole embedded stack runs (broker, worker, chDB) with the ingress in front of it; a separate process (so
it does not share this one's GIL) sends ``deliveries`` signed Facebook Page ``feed`` deliveries from
``clients`` concurrent connections, as Meta does, and times each one from send to the 200. Each delivery holds
one citizen comment, and every third one also the agency's reply to an earlier comment. After the load the
worker drains, and the stored comments and facts are counted against what was sent: nothing lost, nothing
doubled.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
from pydantic import SecretStr

from pipeline.metrics import Metrics
from pipeline.runtime.ingest import start_ingress
from pipeline.runtime.stack import open_stack
from pipeline.settings import Settings
from schemas.agency import Directory, load_directory
from schemas.events import Platform
from schemas.tables import INTERACTIONS, RESPONSE_FACTS

__all__ = ["IngressBenchOptions", "IngressBenchResult", "delivery", "run_ingress_bench"]

# A throw-away app secret: the benchmark's own ingress checks the load generator's signatures with it.
_SECRET = "serambi-bench-app-secret"  # noqa: S105 - not a credential
_START = 1_764_460_800  # 2025-11-30 00:00 UTC: every delivery is dated after it, one second apart


@dataclass(frozen=True)
class IngressBenchOptions:
    """``deliveries`` signed deliveries from ``clients`` concurrent connections."""

    deliveries: int = 20_000
    clients: int = 32


@dataclass(frozen=True)
class IngressBenchResult:
    """The figures ``serambi bench ingress`` prints (and writes as JSON)."""

    deliveries: int
    clients: int
    events: int
    deliveries_per_s: float
    events_per_s: float
    ack_p50_ms: float
    ack_p99_ms: float
    ack_max_ms: float
    non_200: int
    stored_comments: int
    stored_facts: int
    expected_facts: int

    def as_json(self) -> str:
        """Pretty JSON."""
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2).decode()

    def table(self) -> list[str]:
        """The figures for people."""
        lost = self.deliveries - self.stored_comments
        return [
            f"signed deliveries: {self.deliveries:,} from {self.clients} clients ({self.events:,} events)",
            f"acknowledged:      {self.deliveries_per_s:,.0f} deliveries/s ({self.events_per_s:,.0f} events/s)",
            f"ack latency:       p50 {self.ack_p50_ms:.1f} ms, p99 {self.ack_p99_ms:.1f} ms, "
            f"max {self.ack_max_ms:.0f} ms",
            f"answers not 200:   {self.non_200}",
            f"stored:            {self.stored_comments:,} comments (lost {lost}), "
            f"{self.stored_facts:,} of {self.expected_facts:,} response facts",
        ]


def delivery(page: str, n: int) -> bytes:
    """Delivery ``n``: citizen comment ``n`` on post ``n // 100``, and every third one the reply to comment n - 1."""
    post = f"{page}_9{n // 100:08d}"
    changes: list[dict[str, Any]] = [
        {
            "field": "feed",
            "value": {
                "from": {"id": f"70{n:012d}", "name": "Warga"},
                "item": "comment",
                "verb": "add",
                "post_id": post,
                "parent_id": post,
                "comment_id": f"9{n // 100:08d}_1{n:012d}",
                "created_time": _START + n,
                "message": f"Bila bantuan banjir akan diluluskan? Rujukan {n}",
            },
        }
    ]
    if n % 3 == 0 and n % 100:  # the previous comment is on the same post
        changes.append(
            {
                "field": "feed",
                "value": {
                    "from": {"id": page, "name": "Agensi"},
                    "item": "comment",
                    "verb": "add",
                    "post_id": post,
                    "parent_id": f"9{n // 100:08d}_1{n - 1:012d}",
                    "comment_id": f"9{n // 100:08d}_2{n:012d}",
                    "created_time": _START + n,
                    "message": "Terima kasih, permohonan anda sedang diproses.",
                },
            }
        )
    payload = {"object": "page", "entry": [{"id": page, "time": _START + n, "changes": changes}]}
    return orjson.dumps(payload)


def expected_facts(deliveries: int) -> int:
    """How many comments get an answer: those before every delivery n with n % 3 == 0 and n % 100 != 0."""
    return sum(1 for n in range(deliveries) if n % 3 == 0 and n % 100)


def run_ingress_bench(settings: Settings, options: IngressBenchOptions, say: Any) -> IngressBenchResult:
    """Run the stack and the ingress on a throw-away data dir, load them, drain, count; return the figures."""
    directory = load_directory(settings.agencies_file)
    page = _facebook_page(directory)
    with tempfile.TemporaryDirectory(prefix="serambi-bench-ingress-") as tmp:
        bench_settings = settings.model_copy(
            update={
                "data_dir": Path(tmp),
                "clickhouse_url": SecretStr("") if settings.uses_chdb else settings.clickhouse_url,
                "meta_app_secret": SecretStr(_SECRET),
                "ingest_port": 0,
                "board_port": 0,
                "rollup_refresh_seconds": 0.0,
            }
        )
        return asyncio.run(_run(bench_settings, directory, page, options, say))


async def _run(
    settings: Settings, directory: Directory, page: str, options: IngressBenchOptions, say: Any
) -> IngressBenchResult:
    async with open_stack(settings, Metrics(), lambda line: say("    " + line)) as stack:
        ingress = start_ingress(settings, stack.bootstrap_servers, directory, stack.metrics, epoch=stack.spool_epoch)
        try:
            url = f"{ingress.url.rstrip('/')}/webhooks/meta"
            say(f"1/2 {options.deliveries:,} signed deliveries from {options.clients} clients to {url}...")
            load = await asyncio.to_thread(_load, url, page, options)
        finally:
            await asyncio.to_thread(ingress.stop)
        say(f"    {load['deliveries_per_s']:,.0f} deliveries/s; draining the worker...")
        state = await stack.wait_drained(timeout_s=600)
        say(f"2/2 drained: {state.drained}; counting what was stored...")
        db = stack.store.database
        comments = stack.store.query(
            f"SELECT uniqExact(message_id) FROM {db}.{INTERACTIONS} WHERE author_role = 'citizen'"
        ).rows[0][0]
        facts = stack.store.query(f"SELECT count() FROM {db}.{RESPONSE_FACTS} FINAL").rows[0][0]
    events = options.deliveries + expected_facts(options.deliveries)
    return IngressBenchResult(
        deliveries=options.deliveries,
        clients=options.clients,
        events=events,
        deliveries_per_s=load["deliveries_per_s"],
        events_per_s=events / load["seconds"] if load["seconds"] else 0.0,
        ack_p50_ms=load["p50_ms"],
        ack_p99_ms=load["p99_ms"],
        ack_max_ms=load["max_ms"],
        non_200=load["non_200"],
        stored_comments=int(comments),
        stored_facts=int(facts),
        expected_facts=expected_facts(options.deliveries),
    )


def _facebook_page(directory: Directory) -> str:
    for agency in directory.agencies:
        for account in agency.accounts:
            if account.platform is Platform.FACEBOOK:
                return account.account_id
    msg = "the agency directory has no Facebook page: the ingress benchmark delivers Page feed webhooks"
    raise ValueError(msg)


def _load(url: str, page: str, options: IngressBenchOptions) -> dict[str, Any]:
    # Another process: the client's CPU must not take the server's GIL.
    command = [sys.executable, "-m", "pipeline.bench.ingress_load", url, page, str(options.deliveries)]
    command.append(str(options.clients))
    env = {**os.environ, "SERAMBI_BENCH_INGEST_SECRET": _SECRET}  # not in argv, which `ps` shows
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False, env=env)  # noqa: S603 - our own module
    if done.returncode != 0:
        msg = f"the load generator failed: {done.stderr.decode(errors='replace')[-2000:]}"
        raise RuntimeError(msg)
    figures: dict[str, Any] = json.loads(done.stdout)
    figures.setdefault("wall_seconds", time.perf_counter() - started)
    return figures
