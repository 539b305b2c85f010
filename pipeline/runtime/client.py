"""Client of a running stack's local API (see :mod:`pipeline.web.api`)."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any, Literal

import orjson
from pydantic import SecretStr

from pipeline.errors import ConfigError, PipelineError, StoreError
from pipeline.runtime.statefile import LOCAL_OPENER, StackState, client_token, read_state
from pipeline.settings import Settings
from pipeline.storage.query import Parameters, QueryResult, bind_values
from schemas.agency import Agency
from schemas.privacy import Pseudonymizer

__all__ = ["StackClient", "running_stack"]


class StackClient:
    """Talks to ``serambi demo``/``serambi run`` in another process. Example: ``StackClient(url).health()``.

    Args:
        base_url: the stack's API, from its state file.
        timeout_s: per request (default 30).
        token: sent as ``Authorization: Bearer``; the stack's admin token
            (:func:`~pipeline.runtime.statefile.client_token`) for :meth:`register`, ``SERAMBI_API_TOKEN``
            when the stack requires one for reads. Empty: no header.
    """

    def __init__(self, base_url: str, timeout_s: float = 30.0, token: SecretStr | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout_s
        self._token = token or SecretStr("")

    def health(self) -> dict[str, Any]:
        """The stack's health document."""
        return dict(self._call("GET", "/health"))

    def check_key(self, key: SecretStr) -> None:
        """Refuse to publish with another pseudonym key than the stack's: one citizen, one pseudonym."""
        if self.health().get("pseudonym_key_fingerprint") != Pseudonymizer(key).fingerprint:
            msg = (
                "this shell's SERAMBI_PSEUDONYM_KEY differs from the running stack's: the same citizen would get "
                "two pseudonyms; use the stack's key (same environment or data dir)"
            )
            raise ConfigError(msg)

    def drained(self) -> dict[str, Any]:
        """Whether everything on the topics is stored in ClickHouse, with the lag."""
        return dict(self._call("GET", "/drained"))

    def register(self, agencies: list[Agency]) -> None:
        """Register agencies (e.g. companies found by an import) with the running stack (needs its admin token).

        Agencies of the stack's directory file cannot be changed this way (the stack answers 409 and this
        raises :class:`~pipeline.errors.StoreError` saying so).
        """
        if agencies:
            self._call("POST", "/agencies", {"agencies": [a.model_dump(mode="json") for a in agencies]})

    def query(self, sql: str, parameters: Parameters | None = None, *, read_only: Literal[True] = True) -> QueryResult:
        """Run a read-only query in the stack's ClickHouse; values travel in ``parameters``.

        The API runs nothing but read-only queries, so ``read_only`` can only be ``True`` (it is there to
        match :class:`~pipeline.storage.query.QueryEngine`). Values are sent in their wire form
        (:func:`~pipeline.storage.query.bind_values`: datetimes as UTC text) and bound by the stack's store.
        """
        if read_only is not True:  # the annotation says so; callers without a type checker hear it here
            msg = "the running stack's API runs read-only queries only"
            raise ValueError(msg)
        payload: dict[str, Any] = {"sql": sql}
        if parameters:
            payload["parameters"] = bind_values(parameters)
        body = self._call("POST", "/query", payload)
        return QueryResult(tuple(body["columns"]), [tuple(row) for row in body["rows"]])

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = orjson.dumps(payload) if payload is not None else None
        headers = {"Content-Type": "application/json"}
        if token := self._token.get_secret_value():
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(  # noqa: S310 - loopback URL from our own state file
            self.base_url + path, data=data, method=method, headers=headers
        )
        try:
            with LOCAL_OPENER.open(request, timeout=self._timeout) as response:
                return orjson.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = orjson.loads(exc.read() or b"{}").get("error", exc.reason)
            msg = f"stack API {path}: {detail}"
            raise StoreError(msg) from exc
        except (urllib.error.URLError, OSError) as exc:
            msg = f"running stack at {self.base_url} did not answer: {exc}; is it still up?"
            raise PipelineError(msg) from exc


def running_stack(settings: Settings) -> tuple[StackState, StackClient] | None:
    """The stack running on this data dir and a client of its API (with this user's token), else ``None``."""
    state = read_state(settings.state_file)
    if state is None:
        return None
    return state, StackClient(state.api_url, token=client_token(settings))
