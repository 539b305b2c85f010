"""Kaggle "Customer Support on Twitter" (twcs.csv): companies' support threads as canonical interactions.

Every outbound author (``inbound=False``) is treated as an agency account on X. Customers' tweets are
owned by the company that replied to them, else the company they reply to, else the first company they
@mention; a tweet with no company at all is skipped (counted). A company replying inside a thread another
company owns is an inter-agency message (``other_agency``) in that thread. Invalid rows are returned, never
dropped, so the caller dead-letters them.

>>> result = TwcsConnector(Path("twcs.csv")).read()  # doctest: +SKIP
>>> TwcsConnector(Path("twcs.csv")).publish(publisher, result)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from connectors.core.errors import ConnectorError, InvalidInput
from connectors.core.publisher import Publisher
from schemas.agency import Account, Agency, Directory
from schemas.events import AuthorRole, Interaction, InteractionKind, Platform, make_event_id
from schemas.privacy import Pseudonymizer
from schemas.records import validation_reason

__all__ = ["SOURCE", "TwcsConnector", "TwcsResult", "agency_slug", "directory_with", "parse_twcs"]

SOURCE = "twcs"
REQUIRED_COLUMNS = ("tweet_id", "author_id", "inbound", "created_at", "text", "in_response_to_tweet_id")
_TWITTER_TIME = "%a %b %d %H:%M:%S %z %Y"
_FLOAT_ID = re.compile(r"^(\d+)\.0*$")  # pandas writes ids of NaN-holding columns as floats: "3.0"
_NULLS = frozenset({"", "nan", "none", "null"})
_MENTION = re.compile(r"@(\w+)")
_PROGRESS_EVERY = 1000


@dataclass(frozen=True)
class TwcsResult:
    """What one file gave: events, outbound handles -> agency ids, skipped tweets, invalid rows."""

    events: list[Interaction]
    agencies: dict[str, str]
    skipped: int
    invalid: list[tuple[str, dict[str, str]]]


@dataclass(frozen=True)
class _Tweet:
    tweet_id: str
    author_id: str
    inbound: bool
    created_at: datetime
    text: str
    response_ids: tuple[str, ...]
    parent_id: str | None


def agency_slug(handle: str) -> str:
    """Agency id for a company handle: lowercase ``[a-z0-9_-]``, e.g. ``"AmazonHelp" -> "amazonhelp"``."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", handle.lower()).lstrip("-_")[:64]
    return slug or "x-" + hashlib.sha256(handle.encode()).hexdigest()[:12]


def parse_twcs(rows: Iterable[Mapping[str, str]], *, directory: Directory | None = None) -> TwcsResult:
    """Turn a whole twcs.csv (``csv.DictReader`` rows) into interactions; pure, order-independent.

    ``directory``: when a handle already belongs to a directory agency on X, its events carry that
    agency's id instead of the handle's slug.
    """
    tweets: dict[str, _Tweet] = {}
    invalid: list[tuple[str, dict[str, str]]] = []
    for number, row in enumerate(rows, start=1):
        clean = _clean(row)
        try:
            tweet = _parse_row(clean)
            if tweet.tweet_id in tweets:
                msg = f"duplicate tweet_id {tweet.tweet_id}"
                raise InvalidInput(msg, error_type="invalid_row")
        except InvalidInput as exc:
            invalid.append((f"row {number}: {exc.reason}", clean))
            continue
        tweets[tweet.tweet_id] = tweet
    agencies = _agencies(tweets, directory)
    threads = _Threads(tweets)
    events: list[Interaction] = []
    skipped = 0
    for tweet in tweets.values():
        owner = threads.owner(tweet)
        if owner is None:
            skipped += 1
            continue
        try:
            events.append(_interaction(tweet, owner, agencies[owner], threads))
        except ValidationError as exc:
            invalid.append((f"tweet {tweet.tweet_id}: {validation_reason(exc)}", _row_of(tweet)))
    return TwcsResult(events=events, agencies=agencies, skipped=skipped, invalid=invalid)


def directory_with(directory: Directory, agencies: Mapping[str, str]) -> Directory:
    """A new directory where every handle not yet owned on X is an account of agency ``agencies[handle]``.

    Unknown agency ids become federal agencies named after their first handle, in UTC; a known id gets
    the account added to its existing accounts.
    """
    wanted: dict[str, list[str]] = {}
    for handle, agency_id in agencies.items():
        if directory.owner_of(Platform.X, handle) is None:
            wanted.setdefault(agency_id, []).append(handle)
    updated: list[Agency] = []
    for agency in directory.agencies:
        extra = tuple(_x_account(h) for h in wanted.pop(agency.id, []))
        updated.append(agency.model_copy(update={"accounts": agency.accounts + extra}) if extra else agency)
    for agency_id, handles in wanted.items():
        accounts = tuple(_x_account(h) for h in handles)
        updated.append(Agency(id=agency_id, name=handles[0], tier="federal", timezone="UTC", accounts=accounts))
    return Directory(agencies=tuple(updated))


class TwcsConnector:
    """Reads a twcs.csv file and publishes its interactions in event-time order.

    ``path``: the CSV file (the Kaggle export, or a pandas re-export with an index column).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, *, directory: Directory | None = None) -> TwcsResult:
        """Parse the whole file; raise :class:`ConnectorError` when it is not a twcs.csv at all."""
        # newline="" keeps newlines inside quoted text; utf-8-sig also reads files saved with a BOM.
        with self.path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                msg = f"{self.path} is not a twcs.csv file: missing columns {missing}"
                raise ConnectorError(msg)
            return parse_twcs(reader, directory=directory)

    def publish(
        self, publisher: Publisher, result: TwcsResult, *, progress: Callable[[int], None] | None = None
    ) -> int:
        """Dead-letter the invalid rows, publish the events oldest first, flush; return how many were published.

        ``progress`` (default none) is called with the running count every 1,000 events and at the end.
        """
        for reason, row in result.invalid:
            publisher.dead_letter(reason, _masked(row), error_type="invalid_row")
        published = 0
        for number, event in enumerate(sorted(result.events, key=lambda e: e.created_at), start=1):
            published += publisher.publish(event)
            if progress is not None and number % _PROGRESS_EVERY == 0:
                progress(published)
        publisher.flush()
        if progress is not None:
            progress(published)
        return published


class _Threads:
    """Parents, children, roots and owners of the tweets of one file."""

    def __init__(self, tweets: dict[str, _Tweet]) -> None:
        self.tweets = tweets
        self._children: dict[str, list[_Tweet]] = {}
        for tweet in tweets.values():
            if tweet.parent_id in tweets:
                self._children.setdefault(tweet.parent_id, []).append(tweet)
        self._handles: dict[str, str] = {}
        for tweet in tweets.values():
            if not tweet.inbound:
                self._handles.setdefault(tweet.author_id.lower(), tweet.author_id)
        self._owners: dict[str, str | None] = {}

    def parent(self, tweet: _Tweet) -> _Tweet | None:
        return self.tweets.get(tweet.parent_id) if tweet.parent_id else None

    def root(self, tweet: _Tweet) -> str:
        """The highest ancestor present in the file (a dangling parent id stops the walk)."""
        seen = {tweet.tweet_id}
        parent = self.parent(tweet)
        while parent is not None and parent.tweet_id not in seen:  # a cycle stops the walk too
            tweet = parent
            seen.add(tweet.tweet_id)
            parent = self.parent(tweet)
        return tweet.tweet_id

    def owner(self, tweet: _Tweet) -> str | None:
        """Handle of the company whose thread this tweet is in, or ``None`` for a company-less tweet."""
        chain: list[_Tweet] = []  # outbound tweets inherit the owner of their parent, walked iteratively
        seen: set[str] = set()
        current: _Tweet | None = tweet
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

    def _customer(self, tweet: _Tweet) -> str | None:
        if not tweet.inbound:  # only reached on a cycle of company tweets
            return None
        if tweet.tweet_id not in self._owners:
            self._owners[tweet.tweet_id] = self._replier(tweet) or self._addressee(tweet)
        return self._owners[tweet.tweet_id]

    def _replier(self, tweet: _Tweet) -> str | None:
        replies = {t.tweet_id: t for t in self._children.get(tweet.tweet_id, [])}
        replies.update({i: self.tweets[i] for i in tweet.response_ids if i in self.tweets})
        company = [t for t in replies.values() if not t.inbound]
        return min(company, key=lambda t: t.created_at).author_id if company else None

    def _addressee(self, tweet: _Tweet) -> str | None:
        parent = self.parent(tweet)
        if parent is not None and not parent.inbound:
            return parent.author_id
        for mention in _MENTION.findall(tweet.text):
            if mention.lower() in self._handles:
                return self._handles[mention.lower()]
        return None


def _interaction(tweet: _Tweet, owner: str, agency_id: str, threads: _Threads) -> Interaction:
    if tweet.inbound:
        role = AuthorRole.CITIZEN
    else:
        role = AuthorRole.AGENCY if tweet.author_id == owner else AuthorRole.OTHER_AGENCY
    parent = threads.parent(tweet)
    return Interaction(
        event_id=make_event_id(Platform.X, tweet.tweet_id),
        platform=Platform.X,
        agency_id=agency_id,
        account_id=owner,
        created_at=tweet.created_at,
        source=SOURCE,
        kind=InteractionKind.REPLY if tweet.parent_id else InteractionKind.MENTION,
        message_id=tweet.tweet_id,
        root_id=threads.root(tweet),
        parent_id=tweet.parent_id,
        author_id=tweet.author_id,
        author_role=role,
        parent_author_id=parent.author_id if parent is not None else None,
        text=tweet.text or None,
    )


def _parse_row(row: dict[str, str]) -> _Tweet:
    if "__extra__" in row:
        msg = "row has more fields than the header (unquoted comma or newline?)"
        raise InvalidInput(msg, error_type="invalid_row")
    tweet_id = _norm_id(row.get("tweet_id"))
    if tweet_id is None:
        msg = "tweet_id is missing"
        raise InvalidInput(msg, error_type="invalid_row")
    author_id = _norm_id(row.get("author_id"))
    if author_id is None:
        msg = f"author_id of tweet {tweet_id} is missing"
        raise InvalidInput(msg, error_type="invalid_row")
    inbound = row.get("inbound", "").strip().lower()
    if inbound not in {"true", "false"}:
        msg = f"inbound of tweet {tweet_id} is {row.get('inbound')!r}, expected True or False"
        raise InvalidInput(msg, error_type="invalid_row")
    responses = (_norm_id(part) for part in row.get("response_tweet_id", "").split(","))
    return _Tweet(
        tweet_id=tweet_id,
        author_id=author_id,
        inbound=inbound == "true",
        created_at=_parse_time(tweet_id, row.get("created_at", "")),
        text=row.get("text", ""),
        response_ids=tuple(r for r in responses if r is not None),
        parent_id=_norm_id(row.get("in_response_to_tweet_id")),
    )


def _parse_time(tweet_id: str, value: str) -> datetime:
    try:
        return datetime.strptime(value.strip(), _TWITTER_TIME).astimezone(UTC)
    except ValueError:
        pass
    try:  # pandas re-exports may hold ISO-8601 instead; only with an offset, naive times are ambiguous
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        msg = f"created_at of tweet {tweet_id} is {value!r}, expected like 'Tue Oct 31 22:10:47 +0000 2017'"
        raise InvalidInput(msg, error_type="invalid_row")
    return parsed.astimezone(UTC)


def _norm_id(value: str | None) -> str | None:
    text = (value or "").strip()
    if text.lower() in _NULLS:
        return None
    match = _FLOAT_ID.match(text)
    return match.group(1) if match else text


def _clean(row: Mapping[str, str]) -> dict[str, str]:
    """A plain ``str -> str`` copy: DictReader puts surplus fields under ``None`` and fills short rows with ``None``."""
    clean: dict[str, str] = {}
    for key, value in row.items():
        if key is None:
            clean["__extra__"] = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
        else:
            clean[str(key)] = "" if value is None else str(value)
    return clean


def _agencies(tweets: dict[str, _Tweet], directory: Directory | None) -> dict[str, str]:
    agencies: dict[str, str] = {}
    for tweet in tweets.values():
        if not tweet.inbound and tweet.author_id not in agencies:
            known = directory.owner_of(Platform.X, tweet.author_id) if directory is not None else None
            agencies[tweet.author_id] = known.id if known is not None else agency_slug(tweet.author_id)
    return agencies


def _x_account(handle: str) -> Account:
    return Account(platform=Platform.X, account_id=handle, handle=handle)


def _row_of(tweet: _Tweet) -> dict[str, str]:
    return {
        "tweet_id": tweet.tweet_id,
        "author_id": tweet.author_id,
        "inbound": str(tweet.inbound),
        "created_at": tweet.created_at.isoformat(),
        "text": tweet.text,
        "response_tweet_id": ",".join(tweet.response_ids),
        "in_response_to_tweet_id": tweet.parent_id or "",
    }


def _masked(row: dict[str, str]) -> dict[str, str]:
    """Customers' ids are @mentioned in text; the publisher scrubs ``author_id`` but not free text."""
    return {**row, "text": Pseudonymizer.mask_text(row["text"])} if "text" in row else row
