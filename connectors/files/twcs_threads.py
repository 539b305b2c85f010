"""The tweets of a twcs.csv and their threads: one CSV row into a :class:`Tweet`, and who owns each thread.

Customers' tweets are owned by the company that replied to them, else the company they reply to, else the
first company they @mention; company tweets inherit the owner of their parent. :mod:`connectors.files.twcs`
turns the owned tweets into interactions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from connectors.core.errors import InvalidInput
from schemas.timeutil import event_time

__all__ = ["Threads", "Tweet", "clean_row", "parse_row"]

_TWITTER_TIME = "%a %b %d %H:%M:%S %z %Y"
_FLOAT_ID = re.compile(r"^(\d+)\.0*$")  # pandas writes ids of NaN-holding columns as floats: "3.0"
_NULLS = frozenset({"", "nan", "none", "null"})
_MENTION = re.compile(r"@(\w+)")


@dataclass(frozen=True)
class Tweet:
    """One valid row: ``inbound`` tweets are customers', the others a company's (its handle in ``author_id``)."""

    tweet_id: str
    author_id: str
    inbound: bool
    created_at: datetime
    text: str
    response_ids: tuple[str, ...]
    parent_id: str | None

    def row(self) -> dict[str, str]:
        """The tweet as a normalised CSV row (for a dead letter)."""
        return {
            "tweet_id": self.tweet_id,
            "author_id": self.author_id,
            "inbound": str(self.inbound),
            "created_at": self.created_at.isoformat(),
            "text": self.text,
            "response_tweet_id": ",".join(self.response_ids),
            "in_response_to_tweet_id": self.parent_id or "",
        }


class Threads:
    """Parents, children, roots and owners of the tweets of one file.

    Args:
        tweets: every valid tweet of the file by ``tweet_id``.

    >>> Threads(tweets).owner(tweets["8"])  # "PosMalaysiaX"  # doctest: +SKIP
    """

    def __init__(self, tweets: dict[str, Tweet]) -> None:
        self.tweets = tweets
        self._children: dict[str, list[Tweet]] = {}
        for tweet in tweets.values():
            if tweet.parent_id in tweets:
                self._children.setdefault(tweet.parent_id, []).append(tweet)
        self._handles: dict[str, str] = {}
        for tweet in tweets.values():
            if not tweet.inbound:
                self._handles.setdefault(tweet.author_id.lower(), tweet.author_id)
        self._owners: dict[str, str | None] = {}

    def parent(self, tweet: Tweet) -> Tweet | None:
        """The tweet this one answers, when it is in the file."""
        return self.tweets.get(tweet.parent_id) if tweet.parent_id else None

    def root(self, tweet: Tweet) -> str:
        """The highest ancestor present in the file (a dangling parent id stops the walk)."""
        seen = {tweet.tweet_id}
        parent = self.parent(tweet)
        while parent is not None and parent.tweet_id not in seen:  # a cycle stops the walk too
            tweet = parent
            seen.add(tweet.tweet_id)
            parent = self.parent(tweet)
        return tweet.tweet_id

    def owner(self, tweet: Tweet) -> str | None:
        """Handle of the company whose thread this tweet is in, or ``None`` for a company-less tweet."""
        chain: list[Tweet] = []  # outbound tweets inherit the owner of their parent, walked iteratively
        seen: set[str] = set()
        current: Tweet | None = tweet
        while current is not None and not current.inbound and current.tweet_id not in self._owners:
            if current.tweet_id in seen:
                break
            seen.add(current.tweet_id)
            chain.append(current)
            current = self.parent(current)
        base: str | None = None
        if current is not None:
            base = self._owners[current.tweet_id] if current.tweet_id in self._owners else self._customer(current)
        for outbound in reversed(chain):
            base = base or outbound.author_id
            self._owners[outbound.tweet_id] = base
        return base

    def _customer(self, tweet: Tweet) -> str | None:
        if not tweet.inbound:  # only reached on a cycle of company tweets
            return None
        if tweet.tweet_id not in self._owners:
            self._owners[tweet.tweet_id] = self._replier(tweet) or self._addressee(tweet)
        return self._owners[tweet.tweet_id]

    def _replier(self, tweet: Tweet) -> str | None:
        replies = {t.tweet_id: t for t in self._children.get(tweet.tweet_id, [])}
        replies.update({i: self.tweets[i] for i in tweet.response_ids if i in self.tweets})
        company = [t for t in replies.values() if not t.inbound]
        return min(company, key=lambda t: t.created_at).author_id if company else None

    def _addressee(self, tweet: Tweet) -> str | None:
        parent = self.parent(tweet)
        if parent is not None and not parent.inbound:
            return parent.author_id
        for mention in _MENTION.findall(tweet.text):
            if mention.lower() in self._handles:
                return self._handles[mention.lower()]
        return None


def clean_row(row: Mapping[str, str]) -> dict[str, str]:
    """A plain ``str -> str`` copy: DictReader puts surplus fields under ``None`` and fills short rows with ``None``."""
    clean: dict[str, str] = {}
    for key, value in row.items():
        if key is None:
            clean["__extra__"] = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
        else:
            clean[str(key)] = "" if value is None else str(value)
    return clean


def parse_row(row: dict[str, str]) -> Tweet:
    """One cleaned row as a tweet; :class:`InvalidInput` (``invalid_row``) saying what is wrong otherwise."""
    if "__extra__" in row:
        _invalid("row has more fields than the header (unquoted comma or newline?)")
    tweet_id = _norm_id(row.get("tweet_id"))
    if tweet_id is None:
        _invalid("tweet_id is missing")
    author_id = _norm_id(row.get("author_id"))
    if author_id is None:
        _invalid(f"author_id of tweet {tweet_id} is missing")
    inbound = row.get("inbound", "").strip().lower()
    if inbound not in {"true", "false"}:
        _invalid(f"inbound of tweet {tweet_id} is {row.get('inbound')!r}, expected True or False")
    responses = (_norm_id(part) for part in row.get("response_tweet_id", "").split(","))
    return Tweet(
        tweet_id=tweet_id,
        author_id=author_id,
        inbound=inbound == "true",
        created_at=_parse_time(tweet_id, row.get("created_at", "")),
        text=row.get("text", ""),
        response_ids=tuple(r for r in responses if r is not None),
        parent_id=_norm_id(row.get("in_response_to_tweet_id")),
    )


def _parse_time(tweet_id: str, value: str) -> datetime:
    text = value.strip()
    try:
        parsed: datetime | None = datetime.strptime(text, _TWITTER_TIME)  # noqa: DTZ007 - the format has %z
    except ValueError:
        parsed = None
    if parsed is None:
        try:  # pandas re-exports may hold ISO-8601 instead; only with an offset, naive times are ambiguous
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
    if parsed is None or parsed.tzinfo is None:
        _invalid(f"created_at of tweet {tweet_id} is {value!r}, expected like 'Tue Oct 31 22:10:47 +0000 2017'")
    try:  # bounded before it is shifted to UTC: a time near year 1 or 9999 would overflow there
        return event_time(parsed, f"created_at of tweet {tweet_id}")
    except ValueError as exc:
        _invalid(str(exc))


def _norm_id(value: str | None) -> str | None:
    text = (value or "").strip()
    if text.lower() in _NULLS:
        return None
    match = _FLOAT_ID.match(text)
    return match.group(1) if match else text


def _invalid(reason: str) -> NoReturn:
    raise InvalidInput(reason, error_type="invalid_row")
