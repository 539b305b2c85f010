"""Kaggle "Customer Support on Twitter" (twcs.csv): companies' support threads as canonical interactions.

Every outbound author (``inbound=False``) is treated as an agency account on X. Customers' tweets are
owned by the company whose thread they are in (:class:`connectors.files.twcs_threads.Threads`); a tweet with
no company at all is skipped (counted). A company replying inside a thread another company owns is an
inter-agency message (``other_agency``) in that thread. Invalid rows are returned, never dropped, so they
are dead-lettered.

>>> source = TwcsSource(Path("twcs.csv"))  # doctest: +SKIP
>>> directory = source.prepare(directory); source.publish(publisher)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import ValidationError

from connectors.core.contracts import EventSink, FileSource, Progress, Rejected, publish_all
from connectors.core.errors import ConnectorError, InvalidInput
from connectors.files import FILE_FORMATS
from connectors.files.twcs_threads import Threads, Tweet, clean_row, parse_row
from schemas.agency import Account, Agency, Directory
from schemas.events import AuthorRole, Interaction, InteractionKind, Platform, make_event_id
from schemas.privacy import Pseudonymizer
from schemas.records import POISON, poison_reason, validation_reason

__all__ = ["SOURCE", "TwcsResult", "TwcsSource", "agency_slug", "check_header", "directory_with", "parse_twcs"]

SOURCE = "twcs"
REQUIRED_COLUMNS = ("tweet_id", "author_id", "inbound", "created_at", "text", "in_response_to_tweet_id")
_OTHER_SEPARATORS = {";": "';'", "\t": "tab", "|": "'|'"}


@dataclass(frozen=True)
class TwcsResult:
    """What one file gave.

    Args:
        events: the interactions of tweets in a company's thread, in file order.
        agencies: outbound handle -> agency id.
        skipped: tweets in no company's thread.
        invalid: rows that are not tweets (``error_type="invalid_row"``), with their row as ``raw``.
    """

    events: list[Interaction]
    agencies: dict[str, str]
    skipped: int
    invalid: list[Rejected]


def agency_slug(handle: str) -> str:
    """Agency id for a company handle: lowercase ``[a-z0-9_-]``, e.g. ``"AmazonHelp" -> "amazonhelp"``."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", handle.lower()).lstrip("-_")[:64]
    return slug or "x-" + hashlib.sha256(handle.encode()).hexdigest()[:12]


def parse_twcs(rows: Iterable[Mapping[str, str]], *, directory: Directory | None = None) -> TwcsResult:
    """Turn a whole twcs.csv (``csv.DictReader`` rows) into interactions; pure, order-independent.

    ``directory`` (default none): when a handle already belongs to a directory agency on X, its events
    carry that agency's id instead of the handle's slug.
    """
    tweets, invalid = _tweets(rows)
    agencies = _agencies(tweets, directory)
    threads = Threads(tweets)
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
            invalid.append(Rejected(f"tweet {tweet.tweet_id}: {validation_reason(exc)}", tweet.row(), "invalid_row"))
        except Exception as exc:  # validation missed a case: one tweet must not abort the whole import
            invalid.append(Rejected(f"tweet {tweet.tweet_id}: {poison_reason(exc)}", tweet.row(), POISON))
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


class TwcsSource(FileSource):
    """Reads a twcs.csv file, adds its companies to the directory and publishes its interactions oldest first.

    Args:
        path: the CSV file (the Kaggle export, or a pandas re-export with an index column).

    >>> source = TwcsSource(Path("twcs.csv")); full = source.prepare(directory)  # doctest: +SKIP
    >>> source.summary  # '... 15 tweets to import, 2 companies, 1 skipped ...'  # doctest: +SKIP
    """

    format: ClassVar[str] = SOURCE
    description: ClassVar[str] = FILE_FORMATS[SOURCE]

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._result: TwcsResult | None = None

    def read(self, *, directory: Directory | None = None) -> TwcsResult:
        """Parse the whole file; :class:`ConnectorError` (one line: what to do) when it is not a twcs.csv at all."""
        # newline="" keeps newlines inside quoted text; utf-8-sig also reads files saved with a BOM.
        try:
            with self.path.open(newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                check_header(self.path, reader.fieldnames)
                return parse_twcs(reader, directory=directory)
        except UnicodeDecodeError:
            msg = (
                f"{self.path} is not UTF-8 text, so not a TWCS CSV file (binary, or another encoding): "
                "re-save it as UTF-8 CSV, or import it with the format it has (serambi import --help)"
            )
            raise ConnectorError(msg) from None
        except csv.Error as exc:  # e.g. NUL bytes: a binary file that happens to decode
            msg = f"{self.path} is not a TWCS CSV file ({exc}); check that it is the CSV export, not a binary file"
            raise ConnectorError(msg) from None

    @property
    def result(self) -> TwcsResult:
        """The parsed file: as :meth:`prepare` read it, else read now without a directory."""
        if self._result is None:
            self._result = self.read()
        return self._result

    def prepare(self, directory: Directory) -> Directory:
        """Parse the file; return ``directory`` plus its companies as agencies on X (:func:`directory_with`)."""
        self._result = self.read(directory=directory)
        return directory_with(directory, self._result.agencies)

    @property
    def summary(self) -> str:
        """Tweets to import, companies, skipped tweets and invalid rows."""
        r = self.result
        return (
            f"{self.path}: {len(r.events):,} tweets to import, {len(r.agencies)} companies, "
            f"{r.skipped:,} skipped (no company), {len(r.invalid):,} invalid rows (dead-lettered)"
        )

    def publish(self, sink: EventSink, progress: Progress | None = None) -> int:
        """Dead-letter the invalid rows, publish the events oldest first, flush; return how many were published."""
        # Customers' ids are @mentioned in text: the publisher scrubs author_id but not free text.
        invalid = [dataclasses.replace(r, raw=_masked(r.raw)) for r in self.result.invalid]
        events = sorted(self.result.events, key=lambda e: e.created_at)
        return publish_all(sink, [*invalid, *events], progress)


def check_header(path: Path, fieldnames: Sequence[str] | None) -> None:
    """:class:`ConnectorError` naming the missing columns, with a hint when the file uses another separator."""
    header = list(fieldnames or ())
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if not missing:
        return
    line = ",".join(header)
    if "\x00" in line:
        msg = f"{path} is not a TWCS CSV file (NUL bytes in its header: binary?); check that it is the CSV export"
        raise ConnectorError(msg)
    msg = f"{path} is not a twcs.csv file: missing columns {', '.join(missing)}"
    for separator, name in _OTHER_SEPARATORS.items():
        if sum(column in line.split(separator) for column in REQUIRED_COLUMNS) > len(REQUIRED_COLUMNS) // 2:
            msg += f"; it looks {name}-separated, TWCS files are comma-separated: re-export it with commas"
            break
    else:
        if not header:
            msg += " (the file is empty)"
        msg += f"; its header must name {', '.join(REQUIRED_COLUMNS)}"
    raise ConnectorError(msg)


def _tweets(rows: Iterable[Mapping[str, str]]) -> tuple[dict[str, Tweet], list[Rejected]]:
    tweets: dict[str, Tweet] = {}
    invalid: list[Rejected] = []
    for number, row in enumerate(rows, start=1):
        clean = clean_row(row)
        try:
            tweet = parse_row(clean)
            if tweet.tweet_id in tweets:
                msg = f"duplicate tweet_id {tweet.tweet_id}"
                raise InvalidInput(msg, error_type="invalid_row")
        except InvalidInput as exc:
            invalid.append(Rejected(f"row {number}: {exc.reason}", clean, exc.error_type))
            continue
        tweets[tweet.tweet_id] = tweet
    return tweets, invalid


def _interaction(tweet: Tweet, owner: str, agency_id: str, threads: Threads) -> Interaction:
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


def _agencies(tweets: dict[str, Tweet], directory: Directory | None) -> dict[str, str]:
    agencies: dict[str, str] = {}
    for tweet in tweets.values():
        if not tweet.inbound and tweet.author_id not in agencies:
            known = directory.owner_of(Platform.X, tweet.author_id) if directory is not None else None
            agencies[tweet.author_id] = known.id if known is not None else agency_slug(tweet.author_id)
    return agencies


def _x_account(handle: str) -> Account:
    return Account(platform=Platform.X, account_id=handle, handle=handle)


def _masked(row: dict[str, str]) -> dict[str, str]:
    return {**row, "text": Pseudonymizer.mask_text(row["text"])} if "text" in row else row
