"""An agency team's views: its accounts, when citizens write and how fast they are answered, its messages.

Each view reads the agencies the binding chooses (the dashboards' ``$agency``; one agency on the board's
agency page). Every rule is a fragment of :mod:`pipeline.storage.sql.fragments`.
"""

from __future__ import annotations

from pipeline.storage.sql.binding import Binding
from pipeline.storage.sql.viewspec import Audience, Column, Unit, View

__all__ = ["VIEWS"]


def _stub(columns: tuple[Column, ...]) -> str:
    # Placeholder until the view's SQL lands: the right columns, no rows.
    return "SELECT " + ", ".join(f"{_NULLS[c.unit]} AS {c.name}" for c in columns) + " WHERE 0"


_NULLS = {
    Unit.TEXT: "''",
    Unit.COUNT: "toUInt64(0)",
    Unit.RATIO: "toNullable(0.0)",
    Unit.SECONDS: "toNullable(0.0)",
    Unit.TIME: "toDateTime64(0, 3, 'UTC')",
    Unit.HOUR: "toUInt8(0)",
    Unit.WEEKDAY: "toUInt8(1)",
    Unit.URL: "toNullable('')",
}

ACCOUNTS = (
    Column("agency_id", Unit.TEXT, "the agency's id"),
    Column("account_id", Unit.TEXT, "the account's id on its platform"),
    Column("platform", Unit.TEXT, "facebook, instagram, x, youtube, mastodon, bluesky or tiktok"),
    Column("citizen_messages", Unit.COUNT, "citizen messages asked in the window"),
    Column("answered", Unit.COUNT, "of them, answered before the window's end"),
    Column("reply_rate", Unit.RATIO, "answered / (answered + overdue)"),
    Column("sla_compliance", Unit.RATIO, "answered within the SLA / (answered + overdue)"),
    Column("median_response_seconds", Unit.SECONDS, "median time to the first reply"),
    Column("two_way_ratio", Unit.RATIO, "replies / (replies + posts)"),
    Column("backlog", Unit.COUNT, "messages unanswered at the window's end"),
    Column("class", Unit.TEXT, "dinner_party, mixed, soapbox or insufficient_data"),
)
ARRIVALS_HEATMAP = (
    Column("weekday", Unit.WEEKDAY, "ISO weekday the message was asked (1 = Monday), UTC"),
    Column("hour", Unit.HOUR, "hour of day it was asked, UTC"),
    Column("citizen_messages", Unit.COUNT, "citizen messages asked then, in the window"),
)
RESPONSE_HEATMAP = (
    Column("weekday", Unit.WEEKDAY, "ISO weekday the message was asked (1 = Monday), UTC"),
    Column("hour", Unit.HOUR, "hour of day it was asked, UTC"),
    Column("answered", Unit.COUNT, "of those messages, answered by the window's end"),
    Column("median_response_seconds", Unit.SECONDS, "their median time to the first reply"),
)
RESPONSE_DISTRIBUTION = (
    Column("bucket", Unit.TEXT, "a response-time band, e.g. '<= 15 min'"),
    Column("upper_seconds", Unit.SECONDS, "the band's upper bound (NULL for the last, open band)"),
    Column("answered", Unit.COUNT, "messages of the window first answered within the band"),
)
STRATEGY_MIX = (
    Column("time", Unit.TIME, "the day, 00:00 UTC"),
    Column("push_posts", Unit.COUNT, "posts without an official link"),
    Column("pull_posts", Unit.COUNT, "posts linking to an official domain"),
    Column("agency_replies", Unit.COUNT, "replies to citizens (networking)"),
)
UNANSWERED = (
    Column("agency_id", Unit.TEXT, "the agency's id"),
    Column("account_id", Unit.TEXT, "the account the message was written to"),
    Column("platform", Unit.TEXT, "its platform"),
    Column("message_id", Unit.TEXT, "the message's id on its platform"),
    Column("asked_at", Unit.TIME, "when it was written"),
    Column("age_seconds", Unit.SECONDS, "its age at the window's end"),
    Column("status", Unit.TEXT, "pending (within the SLA) or overdue"),
    Column("link", Unit.URL, "the message on its platform, when its ids make one (else NULL)"),
)


def _view(name: str, title: str, columns: tuple[Column, ...], description: str, time: str | None = None) -> View:
    return View(name, title, Audience.AGENCY, columns, lambda db, b: _stub(columns), time, description)


VIEWS = (
    _view("agency_accounts", "Accounts and platforms", ACCOUNTS, "Each account's figures over the window."),
    _view("arrivals_heatmap", "When citizens write", ARRIVALS_HEATMAP, "Citizen messages by weekday and hour."),
    _view("response_heatmap", "How fast, by when they wrote", RESPONSE_HEATMAP, "Median response by weekday, hour."),
    _view("response_distribution", "Response-time distribution", RESPONSE_DISTRIBUTION, "Answered messages by band."),
    _view("strategy_mix", "Push, pull and networking", STRATEGY_MIX, "Output per day by strategy.", "time"),
    _view("unanswered", "Unanswered messages", UNANSWERED, "Oldest first, up to the limit."),
)
_ = Binding
