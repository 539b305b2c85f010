"""The running stack's API on a real stack: who may change the agency directory, and who may read.

Issue 7 item 9: ``POST /agencies`` rewrote an agency's SLA without authentication. Item 11: the API could
be exposed without a token, the data dir and state file were world-readable, and a second start on a
busy data dir failed with a raw chDB error.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from pipeline.errors import StackBusyError, StoreError
from pipeline.metrics import Metrics
from pipeline.runtime.client import StackClient
from pipeline.runtime.stack import open_stack
from pipeline.runtime.statefile import LOCAL_OPENER, client_token
from pipeline.storage.agencies import AGENCY_AUDIT
from schemas.agency import Account, Agency, load_directory
from tests.helpers.live import LiveStack
from tests.helpers.settings import SettingsFactory

COMPANY = Agency(id="acme", name="Acme", tier="federal", accounts=(Account(platform="x", account_id="AcmeCares"),))


@pytest.fixture
def live(settings_factory: SettingsFactory) -> Iterator[LiveStack]:
    stack = LiveStack(settings_factory()).start()
    yield stack
    stack.stop()


def _post(url: str, body: Any, token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(url, data=orjson.dumps(body), method="POST", headers=headers)
    try:
        with LOCAL_OPENER.open(request, timeout=30) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


def _get_status(url: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with LOCAL_OPENER.open(urllib.request.Request(url, headers=headers), timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _audit(live: LiveStack) -> list[tuple[Any, ...]]:
    db = live.settings.clickhouse_database
    sql = f"SELECT agency_id, action, source, definition FROM {db}.{AGENCY_AUDIT} ORDER BY at, agency_id"
    return live.stack.store.query(sql).rows


def test_registration_needs_the_admin_token(live: LiveStack) -> None:
    url = live.stack.api.url + "/agencies"
    body = {"agencies": [COMPANY.model_dump(mode="json")]}
    assert _post(url, body)[0] == 401
    assert _post(url, body, token="guess")[0] == 401
    assert live.stack.agencies.get("acme").name == "acme"  # still the default calendar: nothing registered
    assert _audit(live) == []
    admin = client_token(live.settings)
    assert live.settings.admin_token_file.stat().st_mode & 0o777 == 0o600
    StackClient(live.stack.api.url, token=admin).register([COMPANY])
    assert live.stack.agencies.get("acme") == COMPANY
    [(agency_id, action, source, definition)] = _audit(live)
    assert (agency_id, action, source) == ("acme", "added", "api")
    assert Agency.model_validate_json(definition) == COMPANY


def test_a_directory_agency_cannot_be_changed_through_the_api(live: LiveStack) -> None:
    filed = load_directory(live.settings.agencies_file).agencies[0]
    client = StackClient(live.stack.api.url, token=client_token(live.settings))
    faster = filed.model_copy(update={"sla_hours": filed.sla_hours / 24})
    with pytest.raises(StoreError, match="directory file"):
        client.register([faster])
    assert live.stack.agencies.get(filed.id) == filed
    db = live.settings.clickhouse_database
    sql = f"SELECT sla_hours FROM {db}.agencies FINAL WHERE agency_id = {{agency:String}}"
    stored = live.stack.store.query(sql, {"agency": filed.id})
    assert stored.rows == [(filed.sla_hours,)]
    assert [row[:3] for row in _audit(live)] == [(filed.id, "refused", "api")]
    # A directory agency may gain an account (a twcs company handle), nothing else.
    extra = filed.model_copy(update={"accounts": (*filed.accounts, Account(platform="x", account_id="NewHandle"))})
    client.register([extra])
    assert live.stack.agencies.is_account("x", "NewHandle")
    assert [row[:3] for row in _audit(live)][-1] == (filed.id, "changed", "api")


def test_state_and_data_dir_are_private(live: LiveStack) -> None:
    assert live.settings.data_dir.stat().st_mode & 0o777 == 0o700
    assert live.settings.state_file.stat().st_mode & 0o777 == 0o600


def test_an_api_token_guards_every_route_but_health(settings_factory: SettingsFactory) -> None:
    live = LiveStack(settings_factory(api_token=SecretStr("reader-token"))).start()
    try:
        base = live.stack.api.url
        assert _get_status(base + "/health") == 200
        for route in ("/status", "/drained", "/metrics"):
            assert _get_status(base + route) == 401, route
            assert _get_status(base + route, "reader-token") == 200, route
        assert _post(base + "/query", {"sql": "SELECT 1"})[0] == 401
        assert StackClient(base, token=SecretStr("reader-token")).query("SELECT 1").rows == [(1,)]
        # The reader token reads; it does not change the directory.
        assert _post(base + "/agencies", {"agencies": [COMPANY.model_dump(mode="json")]}, "reader-token")[0] == 401
    finally:
        live.stop()


def test_a_second_start_on_a_busy_data_dir_says_so(live: LiveStack) -> None:
    # As while the first stack starts or stops: its lock is held but its state file is not there.
    live.settings.state_file.unlink()

    async def second() -> None:
        async with open_stack(live.settings, Metrics(CollectorRegistry()), lambda _: None):
            pass

    with pytest.raises(StackBusyError, match="starting or stopping"):
        asyncio.run(second())
