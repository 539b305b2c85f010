"""Hypothesis strategies: conversations with late, duplicated and out-of-order events, and removals."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import strategies as st

from pipeline.domain.matching import ResponseFact
from schemas.events import AuthorRole, Change, ChangeOp, Interaction, InteractionKind, Platform

__all__ = ["conversations", "reference_first_responses"]


Matchable = Interaction | Change


@st.composite
def _conversation(draw: st.DrawFn, root: str, agency: str, account: str, start: datetime) -> list[Matchable]:
    citizens = [f"ps1:{root}c{i}" for i in range(draw(st.integers(1, 3)))]
    messages: list[Matchable] = []
    for i in range(draw(st.integers(1, 6))):
        minute = draw(st.integers(0, 3000))
        messages.append(
            _event(
                root,
                agency,
                account,
                f"{root}q{i}",
                draw(st.sampled_from(citizens)),
                AuthorRole.CITIZEN,
                root,
                start + timedelta(minutes=minute, milliseconds=i),
            )
        )
    if draw(st.booleans()):
        messages.append(
            _event(
                root,
                agency,
                account,
                f"{root}o",
                "other-agency-account",
                AuthorRole.OTHER_AGENCY,
                root,
                start + timedelta(minutes=draw(st.integers(0, 3000))),
            )
        )
    parents = [m.message_id for m in messages if isinstance(m, Interaction)] + [f"{root}missing"]
    for j in range(draw(st.integers(0, 5))):
        minute = draw(st.integers(0, 4000))
        messages.append(
            _event(
                root,
                agency,
                account,
                f"{root}r{j}",
                account,
                AuthorRole.AGENCY,
                draw(st.sampled_from(parents)),
                start + timedelta(minutes=minute),
            )
        )
    # Removals (citizens deleting, moderators hiding): of asked messages, of an unknown one, sometimes twice.
    asked = [m.message_id for m in messages if isinstance(m, Interaction) and m.author_role is AuthorRole.CITIZEN]
    for k in range(draw(st.integers(0, 2))):
        target = draw(st.sampled_from([*asked, f"{root}gone"]))
        messages.append(
            _removal(root, agency, account, target, k, start + timedelta(minutes=draw(st.integers(0, 4000))))
        )
    return messages


def _removal(root: str, agency: str, account: str, target: str, k: int, at: datetime) -> Change:
    return Change(
        event_id=f"x:{target}:remove:{k}",
        platform=Platform.X,
        agency_id=agency,
        account_id=account,
        created_at=at,
        source="hypothesis",
        op=ChangeOp.REMOVE,
        target_id=target,
        root_id=root,
    )


def conversations(agency: str, account: str, start: datetime, prefix: str = "") -> st.SearchStrategy[list[Matchable]]:
    """A few conversations, then shuffled with some events repeated (arrival order != event order)."""

    @st.composite
    def build(draw: st.DrawFn) -> list[Matchable]:
        events: list[Matchable] = []
        for c in range(draw(st.integers(1, 4))):
            events.extend(draw(_conversation(f"{prefix}k{c}", agency, account, start)))
        duplicates = draw(st.lists(st.sampled_from(events), max_size=4))
        return draw(st.permutations(events + duplicates))

    return build()


def _event(
    root: str, agency: str, account: str, message_id: str, author: str, role: AuthorRole, parent: str, at: datetime
) -> Interaction:
    return Interaction(
        event_id=f"x:{message_id}",
        platform=Platform.X,
        agency_id=agency,
        account_id=account,
        created_at=at,
        source="hypothesis",
        message_id=message_id,
        root_id=root,
        parent_id=parent,
        author_id=author,
        author_role=role,
        kind=InteractionKind.COMMENT if role is not AuthorRole.AGENCY else InteractionKind.REPLY,
    )


def reference_first_responses(events: list[Matchable]) -> dict[str, tuple[datetime, str]]:
    """The matching rule by brute force: message id -> first closure (answered_at, reply id; ``""``: removed)."""
    unique = {e.message_id: e for e in events if isinstance(e, Interaction)}.values()
    citizens = {e.message_id: e for e in unique if e.author_role is AuthorRole.CITIZEN}
    replies = [e for e in unique if e.author_role is AuthorRole.AGENCY and e.parent_id in citizens]
    best: dict[str, tuple[datetime, str]] = {}
    for m in citizens.values():
        for r in replies:
            p = citizens[r.parent_id or ""]
            same = (p.platform, p.account_id, p.root_id) == (m.platform, m.account_id, m.root_id)
            if same and p.author_id == m.author_id and (p.message_id == m.message_id or p.created_at > m.created_at):
                candidate = (r.created_at, r.message_id)
                best[m.message_id] = min(best.get(m.message_id, candidate), candidate)
        for x in events:
            if isinstance(x, Change) and x.op is ChangeOp.REMOVE and x.target_id == m.message_id:
                same = (x.platform, x.account_id, x.root_id) == (m.platform, m.account_id, m.root_id)
                if same:
                    candidate = (x.created_at, "")
                    best[m.message_id] = min(best.get(m.message_id, candidate), candidate)
    return best


def final_facts(facts: list[ResponseFact]) -> dict[str, tuple[datetime, str]]:
    """The best (earliest) fact per message, as the ReplacingMergeTree keeps it."""
    best: dict[str, tuple[datetime, str]] = {}
    for fact in facts:
        candidate = (fact.answered_at, fact.reply_id)
        best[fact.message_id] = min(best.get(fact.message_id, candidate), candidate)
    return best
