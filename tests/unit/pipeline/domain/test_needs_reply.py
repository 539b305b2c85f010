"""The needs-a-reply classifier on exact cases: every rule, cue kind, normalisation step and language."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.domain import lexicons, needs_reply
from pipeline.domain.needs_reply import Verdict, classify, clear_cache, redact, tokens

PSEUDONYM = "@ps1:0123456789abcdef0123456789abcdef"


def _case(text: str | None, needs_reply: bool, reason: str, language: str) -> object:
    return pytest.param(text, Verdict(needs_reply, reason, language), id=f"{reason}|{text!r}"[:80])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Rule 1: nothing left to read.
        _case(None, False, "empty", "mixed"),
        _case("", False, "empty", "mixed"),
        _case("  \n ", False, "empty", "mixed"),
        _case("!!!", False, "no words", "mixed"),
        _case("???", True, "question mark", "mixed"),  # "???" under a post still asks
        _case(PSEUDONYM, False, "tag only", "mixed"),
        _case(f"{PSEUDONYM} @ps1:ffeeddccbbaa99887766554433221100", False, "tag only", "mixed"),
        _case("@jiran_sebelah", False, "tag only", "mixed"),
        _case("https://www.jpj.gov.my/x?y=1", False, "link only", "mixed"),
        _case("😂😂", False, "emoji only", "mixed"),
        _case("🙏", False, "emoji only", "mixed"),
        _case("❤️👍", False, "emoji only", "mixed"),
    ],
)
def test_messages_without_words(text: str | None, expected: Verdict) -> None:
    assert classify(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Malay question words, with and without a question mark.
        _case("bila air nak ada balik", True, "question word: bila", "ms"),
        _case("Bila keputusan SPM keluar", True, "question word: bila", "ms"),
        _case("Kenapa lambat sangat", True, "question word: kenapa", "ms"),
        _case("knp lmbt sgt", True, "question word: kenapa", "ms"),  # knp -> kenapa
        _case("camne nak mohon", True, "question word: macam mana nak", "ms"),  # camne -> macam mana
        _case("mcm mana ni", True, "question word: macam mana ini", "ms"),
        _case("Klinik kat mana yang buka", True, "question word: kat mana", "ms"),
        _case("apa status permohonan saya", True, "question word: apa status", "ms"),
        _case("berapa lama proses ni", True, "question word: berapa lama", "ms"),
        _case("Siapa yang jaga jalan ni", True, "question word: siapa yang", "ms"),
        _case("adakah sekolah dibuka esok", True, "question word: adakah", "ms"),
        _case("Nak tanya pasal bantuan", True, "question word: nak tanya", "ms"),
        _case("nk tny sikit", True, "question word: nak tanya", "ms"),  # nk -> nak, tny -> tanya
        _case("Boleh saya tahu syarat", True, "question word: boleh saya tahu", "ms"),
        # The particles: ke, tak and blm at the end of a clause ask yes or no.
        _case("Pejabat buka ke hari ni", True, "question word: buka ke", "ms"),
        _case("dah bayar, betul ke ni", True, "question word: betul ke", "ms"),
        _case("klinik buka hari sabtu tak", True, "question word: tidak", "ms"),
        _case("klinik buka hari sabtu x", True, "question word: tidak", "ms"),  # x -> tidak
        _case("dah siap blm", True, "question word: belum", "ms"),
        # English question words need a question's shape.
        _case("When will the water come back", True, "question word: when will", "en"),
        _case("how to renew my passport", True, "question word: how to", "en"),
        _case("Why so slow", True, "question word: why", "en"),
        _case("Is the office open today", True, "question word: is", "en"),
        _case("Can I pay online", True, "question word: can i", "en"),
        _case("Hello, any update?", True, "question word: any update", "en"),
        _case("Deadline extended or not", True, "question word: or not", "en"),
        # Code-mixed.
        _case("mcm mana nak renew lesen", True, "question word: macam mana nak", "mixed"),
        _case("Salam, nak tanya sikit pasal passport renewal", True, "question word: nak tanya", "mixed"),
    ],
)
def test_questions(text: str, expected: Verdict) -> None:
    assert classify(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        _case("Tolong hantar lori air", True, "request: tolong", "ms"),
        _case("tlg baiki lampu jalan", True, "request: tolong", "ms"),  # tlg -> tolong
        _case("tolongggg", True, "request: tolong", "ms"),  # elongation squeezed
        _case("Mohon JKR baiki segera", True, "request: mohon", "ms"),
        _case("Kami perlukan selimut", True, "request: perlukan", "ms"),
        _case("pls check my account", True, "request: please check", "en"),  # pls -> please
        _case("plzzz fix the lights", True, "request: please fix", "en"),
        _case("Send someone asap", True, "request: send someone", "en"),
        _case("Please help ASAP", True, "request: please help", "en"),
        _case("Air Selangor pls send lori air asap", True, "request: please", "mixed"),
        _case("tolong2 kami terperangkap", True, "emergency: tolong tolong", "ms"),  # reduplication split
        _case("Family trapped on the roof", True, "emergency: trapped", "en"),
        _case("SOS air dah masuk rumah", True, "emergency: sos", "ms"),
        _case("Rumah kena masuk air", True, "emergency: masuk air", "ms"),
    ],
)
def test_requests_and_emergencies(text: str, expected: Verdict) -> None:
    assert classify(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        _case("air x de dah 3 hari", True, "problem: sudah N hari", "ms"),  # x de -> tiada, dah -> sudah
        _case("Takde air sejak pagi", True, "problem: tiada air", "ms"),
        _case("Paip bocor depan rumah", True, "problem: paip bocor", "ms"),
        _case("Jalan berlubang2, bahaya", True, "problem: berlubang", "ms"),
        _case("Still no water in Klang", True, "problem: still no", "en"),
        _case("MyTax not working since yesterday", True, "problem: not working", "en"),
        _case("can't log in to MyTax", True, "problem: cannot log", "en"),  # apostrophe dropped, cant -> cannot
        _case("Street light rosak dah sebulan", True, "problem: rosak", "mixed"),
        _case("Jalan rosak teruk 😡", True, "problem: rosak", "ms"),
        # A problem beside thanks or praise is gratitude for a fix, unless a word says it lasts.
        _case("Thanks for fixing the pothole", False, "thanks: thanks", "en"),
        _case("tq JKR baiki lubang", False, "thanks: thank you", "ms"),  # tq counts for neither language
        _case("Thanks, but still no water", True, "problem: still no", "en"),
        _case("Terima kasih, tapi air masih tiada", True, "problem: masih tiada", "ms"),
        _case("Tahniah JKR, lubang makin besar", False, "praise: tahniah", "ms"),  # sarcasm: a known blind spot
        _case("Takde air, mandi air mineral la haha", False, "joke: haha", "ms"),
    ],
)
def test_problems(text: str, expected: Verdict) -> None:
    assert classify(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        _case("Terima kasih JKR!", False, "thanks: terima kasih", "ms"),
        _case("banyak2 terima kasih", False, "thanks: terima kasih", "ms"),
        _case("tqvm", False, "thanks: thank you", "mixed"),
        _case("thx admin", False, "thanks: thanks", "en"),
        _case("Noted with thanks", False, "thanks: noted with thanks", "en"),
        _case("Tahniah KKM", False, "praise: tahniah", "ms"),
        _case("Good job JPJ", False, "praise: good job", "en"),
        _case("Nice photo 😍", False, "praise: nice", "en"),
        _case("Jalan baru ni smooth gila 👍", False, "praise: smooth", "mixed"),
        _case("Selamat pagi semua", False, "greeting: selamat pagi", "ms"),
        _case("Apa khabar semua?", False, "greeting: apa khabar", "ms"),  # a greeting's question mark
        _case("Good morning everyone", False, "greeting: good morning", "en"),
        _case("Semoga semua selamat", False, "wish: semoga", "ms"),
        _case("Stay safe everyone", False, "wish: stay safe", "en"),
        _case("haha kelakar", False, "joke: haha", "ms"),
        _case("Bila nak siap ni haha", False, "joke: haha", "ms"),  # a question asked laughing
        _case("Why did the chicken cross the road 😂", False, "joke: 😂", "en"),
        _case("Okay noted", False, "acknowledgement: okay noted", "en"),
        _case("Baik, faham", False, "acknowledgement: baik", "ms"),
        _case("Tempat ni cantik 👏", False, "praise: 👏", "ms"),
    ],
)
def test_social_messages_need_no_reply(text: str, expected: Verdict) -> None:
    assert classify(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        _case("Earn RM500 daily, DM me", False, "spam: dm me", "en"),
        _case("Pinjaman tanpa penjamin, WhatsApp 012-3456789", False, "spam: pinjaman", "ms"),
        _case("Best forex signals, join now t.me/fxsignals", False, "spam: forex", "en"),
        _case("Jual pam air murah, PM untuk harga. Nak tanya? PM", False, "spam: pm untuk", "ms"),  # beats a question
        _case(f"{PSEUDONYM} tengok ni", False, "tag: mention", "ms"),
        _case(f"{PSEUDONYM} bila nak siap", True, "question word: bila nak", "ms"),
        _case("Is this legit? wa.me/60123456789", True, "question word: is", "en"),  # the link is removed
        _case("The office is open", False, "statement", "en"),
        _case("Jalan ni dah siap", False, "statement", "ms"),
        _case("Office open today?", True, "question mark", "en"),
        _case("Hari ni cuti?", True, "question mark", "ms"),
        _case("12345", False, "statement", "mixed"),
        _case("Baca ni https://www.jpj.gov.my/notis?id=12", False, "statement", "ms"),  # a link's "?" asks nothing
        _case("Baca ni? https://www.jpj.gov.my/notis", True, "question mark", "ms"),
    ],
)
def test_spam_tags_statements_and_question_marks(text: str, expected: Verdict) -> None:
    assert classify(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A cue's position: `bila` mid-clause is "whenever", at a clause's start or end it asks.
        _case("pakai mask bila keluar", False, "statement", "ms"),
        _case("Pakai mask. Bila boleh buka?", True, "question word: bila boleh", "ms"),
        _case("Bantuan tu dapat bila", True, "question word: bila", "ms"),
        _case("Jalan licin\nbila nak baiki", True, "question word: bila nak", "ms"),  # a line break ends a clause
        # [not] phrases hide the question words inside them.
        _case("Apa2 pun terima kasih", False, "thanks: terima kasih", "ms"),  # apa2 -> apa apa: "anyway"
        _case("Tak apa, saya faham", False, "acknowledgement: faham", "ms"),
        _case("Takpe la", False, "statement", "ms"),  # takpe -> tidak apa: "never mind", no question
        _case("Mana2 pun sama je", False, "statement", "ms"),
        _case("Jom tolong kat PPS esok", False, "statement", "ms"),  # helping, not asking for help
        _case("Why not", False, "statement", "en"),
        _case("What a view", False, "statement", "en"),
        _case("How nice is this", False, "statement", "en"),
        _case("When the teacher says open your books 😂", False, "joke: when the", "en"),
    ],
)
def test_cue_positions_and_exclusions(text: str, expected: Verdict) -> None:
    assert classify(text) == expected


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Saya sayang Malaysia", "ms"),
        ("Jalan ke Kuala Lumpur sesak", "ms"),
        ("I love Malaysia", "en"),
        ("Street lights along Jalan Ampang are off", "en"),  # heads of place names count for neither
        ("Water pressure low at Taman Melawati", "en"),
        ("ok lah", "mixed"),  # neutral words only: no evidence
        ("Rumah I ok je", "mixed"),
        ("Lulus ujian first try", "mixed"),
        ("tq doktor, very professional", "mixed"),
        ("pembaharuannya", "ms"),  # an unknown word with a Malay suffix
        ("refurbishment", "en"),  # an unknown word with an English suffix
    ],
)
def test_language(text: str, language: str) -> None:
    assert classify(text).language == language


def test_the_same_verdict_is_one_shared_instance() -> None:
    first, second = classify("Bila nak siap?"), classify("bila nak siap")
    assert first == Verdict(True, "question word: bila nak", "ms")
    assert first is second


def test_a_verdict_is_frozen() -> None:
    verdict = classify("Terima kasih")
    with pytest.raises(AttributeError):
        verdict.needs_reply = True  # type: ignore[misc]


@given(st.text(max_size=200))
def test_any_text_gets_a_verdict_and_the_same_one_again(text: str) -> None:
    verdict = classify(text)
    assert verdict.language in ("ms", "en", "mixed")
    assert verdict.reason
    assert classify(text) == verdict


def test_the_lexicons_parse_and_hold_every_kind() -> None:
    lexicon = lexicons.load()
    assert lexicon.expand["x"] == ("tidak",)
    assert lexicon.expand["camne"] == ("macam", "mana")
    kinds = set()
    stack = list(lexicon.cues.values())
    while stack:
        node = stack.pop()
        kinds |= {cue.kind for cue in node.cues}
        stack.extend(node.children.values())
    assert kinds == lexicons.KINDS - {"persisting"}  # persisting words are a set, not trie phrases
    assert {"masih", "still"} <= lexicon.persisting


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("cues_ms.txt", "[questions]\nbila\n", "unknown cue kind [questions]"),
        ("cues_ms.txt", "bila\n", "comes before any [kind] header"),
        ("cues_ms.txt", "[persisting]\nsampai bila\n", "[persisting] takes single words"),
        ("normalise.txt", "x tidak\n", "is not `key=value`"),
        ("emoji.txt", "😂 funny\n", "unknown cue kinds ['funny']"),
    ],
)
def test_a_broken_lexicon_line_is_named(monkeypatch: pytest.MonkeyPatch, name: str, text: str, message: str) -> None:
    real = lexicons._read
    monkeypatch.setattr(lexicons, "_read", lambda file: text if file == name else real(file))
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        lexicons.load()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Emel saya ali.bin@gmail.com, tolong balas", "Emel saya , tolong balas"),
        ("Hantar ke Siti_Aminah+aduan@jkr.gov.my.", "Hantar ke ."),
        (f"{PSEUDONYM} @JKR_Official jalan rosak https://x.co/a", "jalan rosak"),
    ],
)
def test_redact_removes_whole_email_addresses_handles_and_links(text: str, shown: str) -> None:
    assert redact(text) == shown
    assert "ali" not in tokens(text)
    assert "aminah" not in tokens(text)


def test_tokens_never_fill_the_classifiers_cache_and_verdicts_stay() -> None:
    text = "Bila air nak ada balik di Taman Seri Zetaprima?"
    clear_cache()
    before = classify(text)
    clear_cache()
    assert tokens(text) == tokens(text, {})
    assert "zetaprima?" not in needs_reply._CHUNKS  # history read for topics must not evict the hot path's chunks
    verdict = classify(text)
    assert "zetaprima?" in needs_reply._CHUNKS
    assert verdict == before
