"""Stored needs-a-reply verdicts for tests of the needs-reply figures, whatever the worker stored."""

from __future__ import annotations

from pipeline.storage.store import Store
from schemas.events import AuthorRole
from schemas.tables import INTERACTIONS

__all__ = ["mark_needing_no_reply"]


def mark_needing_no_reply(store: Store, share: int = 3) -> None:
    """Store "needs no reply" for about one citizen message in ``share``, chosen by a hash of its id.

    So the needs-reply figures differ from the plain ones on any data (messages stored unclassified default to
    needing a reply). Redeliveries share the id, so every copy gets the same verdict. The update is synchronous.
    """
    store.command(
        f"ALTER TABLE {store.database}.{INTERACTIONS} UPDATE needs_reply = false "
        f"WHERE author_role = '{AuthorRole.CITIZEN.value}' AND cityHash64(message_id) % {{share:UInt64}} = 0 "
        "SETTINGS mutations_sync = 2",
        {"share": share},
    )
