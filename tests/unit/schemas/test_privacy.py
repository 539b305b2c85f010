from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from schemas.privacy import PREFIX, Pseudonymizer


def test_same_citizen_same_pseudonym_and_key_matters() -> None:
    a, b = Pseudonymizer(SecretStr("key-a")), Pseudonymizer(SecretStr("key-b"))
    assert a.pseudonym("x", "115712") == a.pseudonym("x", "115712")
    assert a.pseudonym("x", "115712") != b.pseudonym("x", "115712")
    assert a.pseudonym("x", "115712") != a.pseudonym("x", "115713")
    assert a.pseudonym("x", "115712").startswith(PREFIX)
    assert "115712" not in a.pseudonym("x", "115712")


def test_pseudonymising_twice_is_a_no_op() -> None:
    p = Pseudonymizer(SecretStr("k"))
    once = p.pseudonym("facebook", "7012345678901234")
    assert p.pseudonym("facebook", once) == once


def test_scrub_replaces_author_fields_at_any_depth() -> None:
    p = Pseudonymizer(SecretStr("k"))
    raw = {"platform": "x", "author_id": "115712", "nested": [{"user_id": "999"}], "text": "hi"}
    scrubbed = p.scrub(raw)
    assert scrubbed["author_id"] == p.pseudonym("x", "115712")
    assert scrubbed["nested"][0]["user_id"] == p.pseudonym("x", "999")
    assert scrubbed["text"] == "hi"


def test_mask_text_hides_ids_handles_and_emails() -> None:
    masked = Pseudonymizer.mask_text("user 7012345678901234 @aisyah mail a.b@example.my ok 42")
    assert "7012345678901234" not in masked
    assert "@aisyah" not in masked
    assert "a.b@example.my" not in masked
    assert masked.endswith("ok 42")


def test_mentions_of_citizens_become_pseudonyms_agency_handles_stay() -> None:
    p = Pseudonymizer(SecretStr("k"))
    text = p.mentions("x", "@700001 sila DM @AskPetronasX, email a@b.my", frozenset({"askpetronasx"}))
    assert "700001" not in text
    assert f"@{p.pseudonym('x', '700001')}" in text
    assert "@AskPetronasX" in text
    assert "a@b.my" in text  # an e-mail is not a mention


def test_mask_text_hides_author_fields_of_broken_json() -> None:
    masked = Pseudonymizer.mask_text('{"author_id": "john_doe", "text": "hi"')
    assert "john_doe" not in masked
    assert '"text": "hi"' in masked


def test_mentions_keep_dotted_agency_handles_and_stay_idempotent() -> None:
    p = Pseudonymizer(SecretStr("k"))
    keep = frozenset({"kesihatan.awam"})
    text = p.mentions("instagram", "@kesihatan.awam tolong @ali.baba dan @ali.x", keep)
    assert text.startswith("@kesihatan.awam tolong ")
    assert f"@{p.pseudonym('instagram', 'ali.baba')}" in text
    assert f"@{p.pseudonym('instagram', 'ali.x')}" in text
    assert "ali.baba" not in text
    assert p.mentions("instagram", text, keep) == text
    assert p.mentions("mastodon", "hi @ana@social.example", frozenset()) == (
        f"hi @{p.pseudonym('mastodon', 'ana@social.example')}"
    )
    assert p.mentions("x", "see https://medium.com/@ali/post", frozenset()) == "see https://medium.com/@ali/post"


# Every form a citizen handle takes in real posts (issue 7 item 10: `.@handle` leaked on X).
_LETTERS = st.characters(categories=("Lu", "Ll", "Lo", "Nd"))
_INNER = st.one_of(_LETTERS, st.just("_"))
_BEFORE = (
    "",
    "hi ",
    "@ps1: ",
    ".",
    "thanks.",
    "(",
    '"',
    "\n",
    "RT ",
    "!",
    ",",
    ";",
    "-",
    "cc:",
    "«",
    "，",
    "—",
    "a\n.",
)
_AFTER = ("", " ", ":", ".", ",", ")", '"', "!", "?", "\n", " tolong", "'s", "…", "».")
_DOMAIN = st.from_regex(r"[a-z0-9][a-z0-9-]{0,8}(\.[a-z]{2,6}){1,2}", fullmatch=True)


@st.composite
def _handles(draw: st.DrawFn) -> str:
    first, last = draw(_LETTERS), draw(_LETTERS)
    middle = draw(st.lists(st.one_of(_INNER, st.just(".")), max_size=12).map("".join))
    handle = first + middle.replace("..", "._") + last if draw(st.booleans()) else first
    return handle + "@" + draw(_DOMAIN) if draw(st.booleans()) else handle  # Mastodon: user@server.tld


@settings(max_examples=400, deadline=None)
@given(
    handle=_handles(),
    before=st.sampled_from(_BEFORE),
    after=st.sampled_from(_AFTER),
    platform=st.sampled_from(["x", "instagram", "mastodon", "facebook"]),
)
def test_no_citizen_handle_form_survives_mentions(handle: str, before: str, after: str, platform: str) -> None:
    p = Pseudonymizer(SecretStr("k"))
    keep = frozenset({"askjpj"})
    text = f"{before}@{handle}{after} cc @AskJPJ, mail ali.baba@example.my"
    out = p.mentions(platform, text, keep)
    pseudonym = f"@{p.pseudonym(platform, handle)}"
    assert pseudonym in out, (text, out)
    citizen_part, rest = out.split(" cc ")
    assert f"@{handle}" not in citizen_part.replace(pseudonym, ""), (text, out)
    assert rest == "@AskJPJ, mail ali.baba@example.my"  # agency handle and e-mail stay
    assert p.mentions(platform, out, keep) == out
