"""Text templates of the simulation: agency posts, citizen questions and agency replies (Malay and English)."""

from __future__ import annotations

__all__ = ["FLOOD_QUESTIONS", "FLOOD_TEXT", "POST_TEXTS", "QUESTIONS", "REPLIES"]

POST_TEXTS = (
    "Makluman: kaunter perkhidmatan dibuka seperti biasa minggu ini.",
    "Notice: our online services will undergo maintenance tonight from 11 pm.",
    "Orang ramai dinasihatkan menyemak status permohonan secara dalam talian.",
    "Reminder: bring your MyKad and a copy of your appointment slip.",
    "Tahniah kepada semua petugas barisan hadapan kami!",
    "Kenyataan media: kemas kini program bersama komuniti setempat.",
    "New guidelines are now available on our official portal.",
)
QUESTIONS = (
    "Bila jalan ini akan dibaiki?",
    "Is the clinic open on Saturday?",
    "Saya dah hantar permohonan sebulan lepas, tiada jawapan lagi.",
    "How do I renew online? The website keeps timing out.",
    "Boleh bagi nombor telefon pejabat cawangan?",
    "Why was my application rejected without a reason?",
    "Tolong semak aduan saya, no rujukan dalam DM.",
    "Any update on this?",
)
FLOOD_QUESTIONS = (  # one theme (banjir, paras air, pemindahan): what a surge alert's terms should say
    "Banjir di Kuala Krai, kawasan saya perlu berpindah ke?",
    "Mana pusat pemindahan banjir terdekat?",
    "Is the road to Kota Bharu still open? Banjir teruk sini.",
    "Paras air dah naik paras lutut, siapa boleh bantu?",
    "Are schools closed tomorrow because of the banjir?",
    "Bila hujan akan berhenti? Paras air makin naik.",
)
REPLIES = (
    "Terima kasih atas maklum balas. Kami akan semak dan maklumkan.",
    "Thank you, please send your reference number via DM.",
    "Aduan telah dipanjangkan kepada pihak berkenaan.",
    "Hi, the counter is open 8 am to 5 pm on working days.",
)
FLOOD_TEXT = (
    "AMARAN BANJIR: hujan lebat berterusan dijangka 48 jam akan datang. "
    "Flood warning: continuous heavy rain expected over the next 48 hours; follow official updates."
)
