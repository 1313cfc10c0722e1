"""Reply-text extraction on real client mails, one row per client or list style.

Each row names a line the reply must keep (the first line the person wrote)
and lines it must drop (a distinctive line of the quoted original, the
attribution, the signature). Fixtures: talon's real client replies (plain
and HTML) and mailing-list/ticket replies from training_data/user_reply/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from responsemaster.classify.reply_text import extract_reply
from responsemaster.parse.message import parse_message
from responsemaster.parse.text import html_to_text

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "reply_text"
REPLIES = REPO / "training_data" / "user_reply"


def _body(path: Path) -> str:
    if path.suffix == ".html":
        return html_to_text(path.read_text("utf-8", errors="replace"))
    return parse_message(path.read_bytes()).body_text


# (fixture, client / style, language, must keep, must drop)
CASES = [
    ("talon/android.eml", "Android mail, attribution wrapped over 3 lines", "ru", "Hello", ["написал", "> Hi"]),
    ("talon/aol.eml", "AOL, -----Original Message----- block", "en", "Hello", ["Original Message", "Subject: Test"]),
    ("talon/apple_mail.eml", "Apple Mail", "en", "Hello", ["wrote:", "Hi"]),
    ("talon/apple_mail_2.eml", "Apple Mail, quoted attribution", "en", "Hello", ["Adam Renberg", "Hi there"]),
    ("talon/comcast.eml", "Comcast webmail", "en", "Hello", ["Original Message", "Sent: Monday"]),
    ("talon/gmail.eml", "Gmail", "en", "Hello", ["Megan One", "> Hi"]),
    ("talon/hotmail.eml", "Hotmail, quoted header block", "en", "Hello", ["Subject: Test", "From: bob"]),
    ("talon/iphone.eml", "iPhone, 'Sent from my iPhone' signature", "en", "Hello", ["Sent from my iPhone", "wrote:"]),
    ("talon/outlook.eml", "Outlook From:/Sent:/To: block", "en", "Hello", ["The manager's comment", "Sent: March"]),
    ("talon/sparrow.eml", "Sparrow, '-- ' signature", "en", "Hello", ["Sent with Sparrow", "xxx wrote"]),
    ("talon/thunderbird.eml", "Thunderbird, bottom-posted", "en", "Hello", ["Megan One wrote", "> Hi"]),
    ("talon/yahoo.eml", "Yahoo, ----- Original Message -----", "en", "Hello", ["Original Message", "Cc:"]),
    ("talon_html/gmail.html", "Gmail HTML blockquote", "en", "Hi. I am fine.", ["How are you", "wrote:"]),
    ("talon_html/hotmail.html", "Hotmail HTML header block", "en", "Hi. I am fine.", ["How are you", "Subject:"]),
    ("talon_html/mail_ru.html", "Mail.ru HTML", "ru", "Hi. I am fine.", ["How are you", "от Alexander"]),
    ("talon_html/ms_outlook_2003.html", "Outlook 2003 HTML", "en", "Hi. I am fine.", ["How are you", "mailto:"]),
    ("talon_html/ms_outlook_2007.html", "Outlook 2007 HTML", "en", "Hi. I am fine.", ["How are you", "Sent:"]),
    ("talon_html/ms_outlook_2010.html", "Outlook 2010 HTML", "en", "Hi. I am fine.", ["How are you", "Behalf"]),
    ("talon_html/thunderbird.html", "Thunderbird HTML", "en", "Hi. I am fine.", ["How are you", "wrote:"]),
    ("talon_html/windows_mail.html", "Windows Mail, Russian headers", "ru", "Hi. I am fine.", ["How are you", "Кому"]),
    ("talon_html/yandex_ru.html", "Yandex HTML", "ru", "Hi. I am fine.", ["How are you", "abc@example.com"]),
]

# Mailing-list, bug-tracker and ticket replies (imported corpus): interleaved and bottom-posted.
CORPUS_CASES = [
    ("hand-labelled--035f7897fb453eaf.eml", "LKML/notmuch bottom-posted", "en",
     "And as I said in that thread, I believe you should use printf instead.",
     ["I sent exactly the same patch", "Jan Janak <jan@ryngle.com> wrote", "Karl Wiberg"]),
    ("hand-labelled--111e27572d03e41c.eml", "notmuch, 'On ..., X <x at y> wrote:'", "en",
     "Thanks, Jan. This is pushed now.", ["Do not use -C cmdline option", "wrote:"]),
    ("hand-labelled--2fca407899c6a858.eml", "notmuch interleaved answers", "en", "Welcome, Israel!",
     ["I have subscribed to the list"]),
    ("hand-labelled--1eddec65bbaa2d07.eml", "LKML interleaved patch review", "en",
     "At this point is it guaranteed that the thread won't migrate to another",
     ["vfp_pm_suspend should save the VFP state", "+++ b/arch/arm/vfp/vfpmodule.c"]),
    ("hand-labelled--07ece2077329ca98.eml", "Supercite 'LK>' quotes, custom attribution", "en",
     "Just has been pushed", ["Is the list archived anywhere", "gyre and gimble"]),
    ("hand-labelled--41c5da8ca83f2cd4.eml", "Debian BTS, 'X <x@y> writes:'", "en", "Hi Samuel",
     ["Dear Maintainer", "writes:"]),
    ("hand-labelled--3c110e480ed98b0b.eml", "RT ticket, 'At ..., you wrote:' with '>>' quotes", "en",
     "Thanks for your fast replay!", ["This patch didn't help us out", "you wrote", "Håvard"]),
    ("hand-labelled--f4b79590182ed31b.eml", "German 'Am ... schrieb X <x@y>:' wrapped", "de",
     "here is the digest I forgot to attach.", ["schrieb Dirk Pape", "I attach a digest"]),
    ("hand-labelled--c2df402cbe301d9c.eml", "Spanish Outlook 'De:/Enviado el:/Para:/Asunto:'", "es",
     "Solicitudes de Reservas a:", ["Enviado el:", "Asunto:", "lorem et"]),
    ("hand-labelled--9c1b3716edf009f9.eml", "LKML reply signed with a bare name", "en",
     "This is incorrect.", ["\nDavid"]),
]


@pytest.mark.parametrize("fixture, client, lang, keep, drop", CASES, ids=[c[1] for c in CASES])
def test_client_replies(fixture: str, client: str, lang: str, keep: str, drop: list[str]) -> None:
    reply = extract_reply(_body(FIXTURES / fixture))
    assert reply.startswith(keep), f"{client} ({lang}): reply starts {reply[:80]!r}"
    for line in drop:
        assert line not in reply, f"{client} ({lang}): {line!r} from the original/signature kept"


@pytest.mark.parametrize("name, style, lang, keep, drop", CORPUS_CASES, ids=[c[1] for c in CORPUS_CASES])
def test_corpus_replies(name: str, style: str, lang: str, keep: str, drop: list[str]) -> None:
    reply = extract_reply(_body(REPLIES / name))
    assert keep in reply, f"{style} ({lang}): first reply line missing from {reply[:120]!r}"
    for line in drop:
        assert line not in reply, f"{style} ({lang}): {line!r} kept"


def test_interleaved_answers_are_all_kept() -> None:
    """Inline answers below several quotes are the reply, not just the first one."""
    reply = extract_reply(_body(REPLIES / "hand-labelled--2fca407899c6a858.eml"))
    assert "Welcome, Israel!" in reply and "Yes, take a look." in reply
    assert "I have not even tried to download" not in reply


def test_every_corpus_reply_keeps_some_text() -> None:
    """No real reply comes out empty, and none keeps a '>' quoted line."""
    for path in sorted(REPLIES.glob("hand-labelled--*.eml")):
        reply = extract_reply(_body(path))
        assert reply.strip(), path.name
        assert not any(line.startswith(">") for line in reply.splitlines()), path.name


def test_message_without_quotes_is_unchanged() -> None:
    body = _body(REPLIES / "hand-labelled--401ed7944bfa24fa.eml")
    assert extract_reply(body).startswith("Hi Kenny:")


@pytest.mark.timeout(20)
def test_hostile_lines_stay_linear() -> None:
    """Megabyte lines and thousands of almost-attributions finish (regexes are bounded)."""
    extract_reply("On " + "1, " * 300_000 + "wrote")
    extract_reply(("On Mon, 1 Jan 2024 at 10:00 someone wrot\n" * 20_000) + "> x")
    extract_reply("From: a\n" * 50_000)
