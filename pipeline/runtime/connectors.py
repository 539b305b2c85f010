"""The polling and streaming connectors ``serambi connect`` knows: name, platform, credentials, how to build one.

Each entry builds one account's connector from the settings (``SERAMBI_*`` credentials and base URLs) and an
:class:`~connectors.core.contracts.AccountContext`. The connector modules are imported when built, so the CLI's
``--help`` stays light.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import SecretStr

from connectors.core.contracts import AccountContext, PollingSource, StreamSource
from connectors.core.errors import AccountError
from connectors.core.http import HttpClient
from pipeline.errors import ConfigError
from pipeline.settings import Settings
from schemas.events import Platform

__all__ = ["CONNECTORS", "ConnectorSpec"]

Built = PollingSource[Any] | StreamSource[Any]


@dataclass(frozen=True)
class ConnectorSpec:
    """One connector of ``serambi connect``.

    Args:
        name: the CLI name (``serambi connect NAME``).
        platform: the platform whose directory accounts it reads.
        kind: ``poll`` or ``stream``.
        source: the events' ``source`` label and the cursors' key (``poll:youtube``...).
        credential: the setting holding its secret (``""``: none needed).
        description: one line for ``--help``.
        build: one account's connector from the settings, the account and an HTTP client.
        all_accounts: a stream that serves every account at once (one cursor, account ``*``).
    """

    name: str
    platform: Platform
    kind: Literal["poll", "stream"]
    source: str
    credential: str
    description: str
    build: Callable[[Settings, AccountContext, HttpClient], Built]
    all_accounts: bool = False

    def check(self, settings: Settings) -> None:
        """Raise :class:`ConfigError` naming the variable when the connector's credential is not set."""
        if self.credential and not self.secret(settings).get_secret_value():
            msg = (
                f"`serambi connect {self.name}` needs SERAMBI_{self.credential.upper()} (in the environment or a file "
                "of SERAMBI_SECRETS_DIR)"
            )
            raise ConfigError(msg)

    def secret(self, settings: Settings) -> SecretStr:
        """The connector's credential from the settings."""
        value = getattr(settings, self.credential)
        assert isinstance(value, SecretStr)
        return value


def _facebook(settings: Settings, ctx: AccountContext, http: HttpClient) -> Built:
    from connectors.polling.facebook import FacebookPagePoller  # noqa: PLC0415 - loaded when used

    return FacebookPagePoller(
        ctx, http, credentials=settings.meta_access_token, base_url=settings.meta_graph_url,
        app_secret=_app_secret(settings),
    )  # fmt: skip


def _instagram(settings: Settings, ctx: AccountContext, http: HttpClient) -> Built:
    from connectors.polling.instagram import InstagramMediaPoller  # noqa: PLC0415 - loaded when used

    return InstagramMediaPoller(
        ctx, http, credentials=settings.meta_access_token, base_url=settings.meta_graph_url,
        app_secret=_app_secret(settings),
    )  # fmt: skip


def _app_secret(settings: Settings) -> SecretStr | None:
    # With the app secret, Meta's calls carry appsecret_proof (required when the app enforces it).
    return settings.meta_app_secret if settings.meta_app_secret.get_secret_value() else None


def _x(settings: Settings, ctx: AccountContext, http: HttpClient) -> Built:
    from connectors.polling.x import XMentionsPoller  # noqa: PLC0415 - loaded when used

    return XMentionsPoller(
        ctx, http, credentials=settings.x_bearer_token, base_url=settings.x_api_url,
        interval_seconds=settings.connect_interval_seconds,
    )  # fmt: skip


def _x_stream(settings: Settings, ctx: AccountContext, http: HttpClient) -> Built:
    from connectors.streams.x import XFilteredStream  # noqa: PLC0415 - loaded when used

    return XFilteredStream(ctx, credentials=settings.x_bearer_token, base_url=settings.x_api_url)


def _youtube(settings: Settings, ctx: AccountContext, http: HttpClient) -> Built:
    from connectors.polling.youtube import YouTubeCommentsPoller  # noqa: PLC0415 - loaded when used

    return YouTubeCommentsPoller(
        ctx, http, credentials=settings.youtube_api_key, base_url=settings.youtube_api_url,
        daily_quota_units=settings.youtube_daily_quota, interval_seconds=settings.connect_interval_seconds,
    )  # fmt: skip


def _tiktok(settings: Settings, ctx: AccountContext, http: HttpClient) -> Built:
    from connectors.polling.tiktok import TikTokCommentsPoller  # noqa: PLC0415 - loaded when used

    return TikTokCommentsPoller(
        ctx, http, credentials=settings.tiktok_access_token, base_url=settings.tiktok_api_url,
        interval_seconds=settings.connect_interval_seconds,
    )  # fmt: skip


def _mastodon_instance(settings: Settings) -> str | None:
    # Empty: the instance of the account's actor URI (https://social.example/users/agency -> https://social.example).
    return settings.mastodon_instance_url.rstrip("/") or None


def _mastodon_local_id(http: HttpClient, ctx: AccountContext, instance: str | None, token: SecretStr) -> str:
    """The account's id on its instance, looked up from its actor URI (the directory holds URIs: ids are local)."""
    actor = urlsplit(ctx.account.account_id)
    base = instance or f"{actor.scheme}://{actor.netloc}"
    name = actor.path.rstrip("/").rsplit("/", 1)[-1]
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token.get_secret_value() else {}
    response = http.get(f"{base}/api/v1/accounts/lookup", params={"acct": name}, headers=headers)
    found = response.json() if response.status == 200 else None
    if not isinstance(found, dict) or not isinstance(found.get("id"), str):
        raise AccountError(ctx.account.account_id, f"no account {name!r} on {base} (HTTP {response.status})")
    return str(found["id"])


def _mastodon(settings: Settings, ctx: AccountContext, http: HttpClient) -> Built:
    from connectors.polling.mastodon import MastodonPoller  # noqa: PLC0415 - loaded when used

    instance, token = _mastodon_instance(settings), settings.mastodon_access_token
    return MastodonPoller(
        ctx, http, credentials=token, local_account_id=_mastodon_local_id(http, ctx, instance, token),
        instance_url=instance, interval_seconds=settings.connect_interval_seconds,
    )  # fmt: skip


def _mastodon_stream(settings: Settings, ctx: AccountContext, http: HttpClient) -> Built:
    from connectors.streams.mastodon import MastodonStream  # noqa: PLC0415 - loaded when used

    return MastodonStream(
        ctx, http, credentials=settings.mastodon_access_token, instance_url=_mastodon_instance(settings)
    )


def _bluesky(settings: Settings, ctx: AccountContext, http: HttpClient) -> Built:
    from connectors.streams.bluesky import BlueskyJetstream  # noqa: PLC0415 - loaded when used

    return BlueskyJetstream(ctx.directory, ctx.pseudonym, base_url=settings.bluesky_jetstream_url, since=ctx.since)


CONNECTORS: dict[str, ConnectorSpec] = {
    spec.name: spec
    for spec in (
        ConnectorSpec("facebook", Platform.FACEBOOK, "poll", "poll:facebook", "meta_access_token",
                      "Graph API: Page feed, comments and replies, reaction counts", _facebook),
        ConnectorSpec("instagram", Platform.INSTAGRAM, "poll", "poll:instagram", "meta_access_token",
                      "Graph API: media comments and replies", _instagram),
        ConnectorSpec("x", Platform.X, "poll", "poll:x", "x_bearer_token",
                      "X API v2: mentions and the agency's conversations (recent search)", _x),
        ConnectorSpec("x-stream", Platform.X, "stream", "stream:x", "x_bearer_token",
                      "X API v2 filtered stream (reconnects; the poller closes gaps)", _x_stream),
        ConnectorSpec("youtube", Platform.YOUTUBE, "poll", "poll:youtube", "youtube_api_key",
                      "YouTube Data API v3: comment threads and replies per channel", _youtube),
        ConnectorSpec("mastodon", Platform.MASTODON, "poll", "poll:mastodon", "mastodon_access_token",
                      "Mastodon REST: statuses, their replies, notifications", _mastodon),
        ConnectorSpec("mastodon-stream", Platform.MASTODON, "stream", "stream:mastodon", "mastodon_access_token",
                      "Mastodon streaming API (SSE), with a REST catch-up after each reconnect", _mastodon_stream),
        ConnectorSpec("bluesky", Platform.BLUESKY, "stream", "stream:bluesky", "",
                      "Bluesky Jetstream: every directory DID's posts, replies to them, likes, reposts", _bluesky,
                      all_accounts=True),
        ConnectorSpec("tiktok", Platform.TIKTOK, "poll", "poll:tiktok", "tiktok_access_token",
                      "TikTok Business API: comments on the agency's own videos", _tiktok),
    )
}  # fmt: skip
