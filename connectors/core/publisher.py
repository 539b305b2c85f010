"""What every connector shares: validate, pseudonymise, batch per partition, produce, dead-letter."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson
from pydantic import ValidationError

from connectors.core.contracts import Parsed, Rejected
from connectors.core.errors import InvalidInput, PublishError
from connectors.core.metrics import ConnectorMetrics
from schemas.agency import Directory
from schemas.events import EVENT_ADAPTER, AuthorRole, Change, Event, Interaction, Post, Reaction, conversation_key
from schemas.privacy import Pseudonymizer
from schemas.records import CursorMark, encode_batch, make_dead_letter, validation_reason
from schemas.timeutil import EventBounds, utc_now
from schemas.topics import DEAD_LETTER, EVENTS, partition_for

__all__ = ["PageMark", "Publisher", "RecordSink"]


class RecordSink(Protocol):
    """Where records go: Kafka in production (:class:`connectors.core.kafka.KafkaRecordSink`)."""

    def send(self, topic: str, partition: int | None, key: bytes | None, value: bytes) -> None:
        """Queue one record for delivery."""

    def flush(self) -> None:
        """Block until every queued record is acknowledged; raise ``PublishError`` otherwise."""

    def close(self) -> None:
        """Flush and release the connection."""


@dataclass(frozen=True)
class PageMark:
    """Where a connector's page ended: ``state`` (its ``snapshot()``, JSON-able) of ``account`` at ``source``."""

    source: str
    account: str
    state: Any
    fetched_at: datetime


class Publisher:
    """Turns connector output into batch records on the events topic.

    Every event is validated, citizens' ids are replaced by keyed pseudonyms *before* anything
    leaves the process, and events are grouped per partition (one conversation, one partition) into
    batch records of at most ``max_batch`` events, sent after ``linger_seconds`` at the latest.
    Input that fails goes to the dead-letter topic with the reason; it is never dropped silently: invalid
    events (``schema``), accounts missing from the directory (``unknown_account``) and events whose time is
    outside ``bounds`` on ``wall_clock`` (``out_of_range``: default before 2006 or more than 24 h ahead;
    the pipeline passes ``SERAMBI_EARLIEST_EVENT`` and ``SERAMBI_MAX_FUTURE_HOURS``).
    """

    def __init__(  # noqa: PLR0913 - a connector's whole context, all keyword-only
        self,
        sink: RecordSink,
        *,
        pseudonymizer: Pseudonymizer,
        partitions: int,
        source: str,
        metrics: ConnectorMetrics | None = None,
        directory: Directory | None = None,
        max_batch: int = 500,
        linger_seconds: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        bounds: EventBounds = EventBounds(),  # noqa: B008 - frozen, so one shared default is safe
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._sink = sink
        self._pseudo = pseudonymizer
        self._partitions = partitions
        self.source = source
        self._metrics = metrics or ConnectorMetrics()
        self._directory = directory
        self._max_batch = max_batch
        self._linger = linger_seconds
        self._clock = clock
        self._bounds = bounds
        self._wall_clock = wall_clock
        self._buffers: dict[int, list[Event]] = {}
        self._holding = False
        self._oldest: float | None = None
        self._handles = frozenset(
            name.lower()
            for agency in (directory.agencies if directory else ())
            for account in agency.accounts
            for name in (account.handle, account.account_id)
            if name
        )
        self.published = 0
        self.dead_lettered = 0

    def publish(self, event: Event | Mapping[str, Any]) -> bool:
        """Validate and queue one event; dead-letter it and return ``False`` if it is invalid."""
        try:
            valid = self._validate(event)
        except InvalidInput as exc:
            raw = event.model_dump(mode="json") if not isinstance(event, Mapping) else event
            self.dead_letter(exc.reason, raw, error_type=exc.error_type)
            return False
        partition = partition_for(conversation_key(valid), self._partitions)
        buffer = self._buffers.setdefault(partition, [])
        buffer.append(valid)
        if self._oldest is None:
            self._oldest = self._clock()
        if self._holding:  # a page's events are sent together, with its cursor
            return True
        if len(buffer) >= self._max_batch:
            self._send(partition)
        elif self._clock() - self._oldest >= self._linger:
            self.flush(wait=False)
        return True

    def publish_page(self, items: Sequence[Parsed], mark: PageMark) -> int:
        """Publish a connector's page with its cursor, and wait for Kafka; return how many events were accepted.

        The page's valid events are grouped per partition into records of at most ``max_batch`` events, each
        carrying one part of the cursor (a page without events: one record with the cursor alone), so the
        worker stores the cursor with the events; rejected items and invalid events are dead-lettered. Raises
        ``PublishError`` like :meth:`flush`: the cursor then was not delivered and the page is fetched again.
        """
        self.flush(wait=False)  # what was buffered before belongs to no page
        self._holding = True
        published = 0
        try:
            for item in items:
                if isinstance(item, Rejected):
                    self.dead_letter(item.reason, item.raw, error_type=item.error_type)
                else:
                    published += self.publish(item)
        finally:
            self._holding = False
        records = [
            (partition, events[start : start + self._max_batch])
            for partition, events in sorted(self._buffers.items())
            for start in range(0, len(events), self._max_batch)
        ]
        self._buffers.clear()
        self._oldest = None
        if not records:  # nothing new: the cursor still moves, on the partition of the connector's account
            records = [(partition_for(f"{mark.source}:{mark.account}", self._partitions), [])]
        seq = time.time_ns()
        state = orjson.dumps(mark.state).decode()
        for part, (partition, events) in enumerate(records):
            cursor = CursorMark(
                source=mark.source,
                account=mark.account,
                seq=seq,
                part=part,
                parts=len(records),
                state=state,
                fetched_at=mark.fetched_at,
            )
            self._produce(partition, events, cursor, f"{mark.source}:{mark.account}")
        self.flush()
        return published

    def publish_json(self, raw: bytes | str) -> bool:
        """Publish one event given as JSON text; non-JSON input is dead-lettered."""
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            self.dead_letter(f"payload is not JSON: {exc}", text, error_type="not_json")
            return False
        if not isinstance(payload, dict):
            self.dead_letter("payload is not a JSON object", payload, error_type="invalid")
            return False
        return self.publish(payload)

    def dead_letter(self, reason: str, raw: Any, *, error_type: str = "invalid") -> None:
        """Send input that cannot be used to the dead-letter topic, scrubbed of citizen ids."""
        letter = make_dead_letter(self._pseudo, self.source, "connector", reason, raw, error_type)
        self._sink.send(DEAD_LETTER.name, None, self.source.encode(), letter)
        self._metrics.dead_letters.labels("connector", error_type).inc()
        self.dead_lettered += 1

    def flush(self, *, wait: bool = True) -> None:
        """Send every buffered batch; with ``wait`` block until Kafka acknowledged them."""
        for partition in list(self._buffers):
            self._send(partition)
        self._oldest = None
        if wait:
            try:
                self._sink.flush()
            except PublishError as exc:
                self._metrics.publish_failures.labels(self.source).inc(exc.failed)
                raise

    def close(self) -> None:
        """Send what is buffered, wait for Kafka's acknowledgement and close the sink."""
        try:
            self.flush()
        finally:
            self._sink.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, partition: int) -> None:
        events = self._buffers.pop(partition, [])
        if events:
            self._produce(partition, events)

    def _produce(
        self, partition: int, events: list[Event], cursor: CursorMark | None = None, empty_key: str = ""
    ) -> None:
        # One batch record, keyed by its first conversation (a cursor-only record: by the connector's account).
        key = (conversation_key(events[0]) if events else empty_key).encode()
        self._sink.send(EVENTS.name, partition, key, encode_batch(events, cursor))
        self._metrics.records_published.labels(self.source).inc()
        for event in events:
            self._metrics.events_published.labels(self.source, event.platform.value, event.type).inc()
        self.published += len(events)

    def _validate(self, event: Event | Mapping[str, Any]) -> Event:
        try:
            valid = EVENT_ADAPTER.validate_python(event) if isinstance(event, Mapping) else event
        except ValidationError as exc:
            raise InvalidInput(validation_reason(exc), error_type="schema") from exc
        if out_of_range := self._bounds.reason(valid.created_at, self._wall_clock()):
            raise InvalidInput(out_of_range, error_type="out_of_range")
        if self._directory is not None and not _known_account(self._directory, valid):
            reason = f"account {valid.platform.value}:{valid.account_id} of agency {valid.agency_id!r}"
            msg = f"{reason} is not in the agency directory"
            raise InvalidInput(msg, error_type="unknown_account")
        return self._pseudonymise(valid)

    def _pseudonymise(self, event: Event) -> Event:
        platform = event.platform.value
        if isinstance(event, Post | Interaction | Change) and event.text and "@" in event.text:
            # Citizens' handles in text would undo their pseudonyms: only agencies' stay readable.
            event = event.model_copy(update={"text": self._pseudo.mentions(platform, event.text, self._handles)})
        if isinstance(event, Interaction):
            changes: dict[str, Any] = {}
            if event.author_role is AuthorRole.CITIZEN:
                changes["author_id"] = self._pseudo.pseudonym(platform, event.author_id)
            if event.parent_author_id and not self._is_agency(platform, event.parent_author_id):
                changes["parent_author_id"] = self._pseudo.pseudonym(platform, event.parent_author_id)
            return event.model_copy(update=changes) if changes else event
        if isinstance(event, Change) and event.author_id and not self._agency_author(event):
            return event.model_copy(update={"author_id": self._pseudo.pseudonym(platform, event.author_id)})
        if isinstance(event, Reaction) and event.author_id and not self._is_agency(platform, event.author_id):
            return event.model_copy(update={"author_id": self._pseudo.pseudonym(platform, event.author_id)})
        return event

    def _agency_author(self, change: Change) -> bool:
        # As for interactions, the connector's role decides; without one, the directory does.
        if change.author_role in (AuthorRole.AGENCY, AuthorRole.OTHER_AGENCY):
            return True
        return self._is_agency(change.platform.value, change.author_id or "")

    def _is_agency(self, platform: str, account_id: str) -> bool:
        return self._directory is not None and self._directory.owner_of(platform, account_id) is not None


def _known_account(directory: Directory, event: Event) -> bool:
    owner = directory.owner_of(event.platform, event.account_id)
    return owner is not None and owner.id == event.agency_id
