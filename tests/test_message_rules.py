"""Message-level rules: challenges, unsubscribe requests, vacation and moved notices.

Real corpus messages check the rules on mail nobody here wrote; short
one-line replies check the multilingual phrasing docs/categories.md names ("please
remove me" in any common language is an unsubscribe request).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from responsemaster.classify.fields import message_fields
from responsemaster.classify.pipeline import MESSAGE_FIELDS, Classifier
from responsemaster.classify.rules import RuleSet
from responsemaster.parse.message import parse_message

RULES = RuleSet.load()
CLASSIFIER = Classifier(rules=RULES, model=None)


def _labelled(corpus: Path, category: str) -> list[Path]:
    folder = corpus / "hand-labelled"
    rows = [json.loads(line) for line in (folder / "labels.jsonl").read_text().splitlines() if line.strip()]
    return [folder / row["file"] for row in rows if row["category"] == category]


def _reply(text: str, subject: str = "Re: Our November newsletter") -> bytes:
    return (
        f"From: Reader <reader@example.net>\r\nTo: news@example.com\r\nSubject: {subject}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n\r\n> Our newsletter\r\n> To unsubscribe click here\r\n"
    ).encode("utf-8")


@pytest.mark.parametrize("category", ["challenge_response", "unsubscribe_request"])
def test_corpus_messages_of_rule_categories(corpus: Path, category: str) -> None:
    for path in _labelled(corpus, category):
        assert CLASSIFIER.classify(path.read_bytes()).category == category, path.name


def test_extra_training_messages_of_rule_categories() -> None:
    """The real challenges found beyond the corpus (training_data/extra, e.g. EarthLink spamBlocker).

    That one carries ``Precedence: auto_reply``: only its words say it is a challenge.
    """
    folder = Path(__file__).resolve().parent.parent / "training_data" / "extra" / "challenge_response"
    paths = sorted(folder.glob("*.eml"))
    assert paths
    for path in paths:
        assert CLASSIFIER.classify(path.read_bytes()).category == "challenge_response", path.name


def test_no_corpus_human_reply_trips_a_request_or_challenge_rule(corpus: Path) -> None:
    for path in _labelled(corpus, "user_reply"):
        msg = parse_message(path.read_bytes())
        hit = RULES.first_match(message_fields(msg), only=MESSAGE_FIELDS)
        assert hit is None or hit.rule.category not in ("unsubscribe_request", "challenge_response"), (
            path.name,
            hit.rule.id,
        )


@pytest.mark.parametrize(
    "text",
    [
        "Please remove me from your mailing list.",
        "Unsubscribe me, thanks",
        "Stop sending me these emails!",
        "Merci de me désinscrire. Je souhaite ne plus recevoir vos messages.",
        "Bitte tragen Sie mich aus Ihrem Verteiler aus.",
        "Ich möchte keine weiteren E-Mails mehr erhalten.",
        "Por favor, denme de baja de esta lista.",
        "Vorrei cancellarmi dalla newsletter.",
        "Graag afmelden voor deze nieuwsbrief.",
        "Não quero mais receber estes e-mails.",
        "Proszę, wypisz mnie z listy.",
        "Ta bort mig från listan tack.",
        "Пожалуйста, отпишите меня от рассылки.",
        "配信停止してください。",
        "请退订",
        "unsubscribe",
    ],
)
def test_removal_requests_in_many_languages(text: str) -> None:
    verdict = CLASSIFIER.classify(_reply(text))
    assert (verdict.category, verdict.reason) == ("unsubscribe_request", "unsubscribe"), verdict.decided_by


@pytest.mark.parametrize(
    "text",
    [
        "Thanks, the article about unsubscribe links in RFC 8058 was great.",
        "To unsubscribe from this list, send a mail to list-request@example.org.",
        "I don't want to unsubscribe, but could you send less often?",
    ],
)
def test_mentions_of_unsubscribing_are_not_requests(text: str) -> None:
    assert CLASSIFIER.classify(_reply(text)).category != "unsubscribe_request"


def test_subject_only_request() -> None:
    verdict = CLASSIFIER.classify(_reply("", subject="UNSUBSCRIBE"))
    assert verdict.category == "unsubscribe_request"


def test_moved_notice_records_the_new_address_not_the_sender() -> None:
    raw = (
        b"From: Ann <ann@old.example>\r\nTo: news@example.com\r\nSubject: Automatic reply: News\r\n"
        b"Auto-Submitted: auto-replied\r\n\r\n"
        b"This address is no longer in use. Please update your address book: ann.smith@new.example\r\n"
    )
    verdict = CLASSIFIER.classify(raw)
    assert (verdict.category, verdict.reason, verdict.suggested_address) == ("auto_reply", "moved", "ann.smith@new.example")


def test_vacation_notice_in_german_is_an_auto_reply_not_a_bounce() -> None:
    raw = (
        "From: Jörg <joerg@example.de>\r\nTo: news@example.com\r\nSubject: Abwesenheitsnotiz\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nIch bin bis 3. Januar nicht im Büro.\r\n"
    ).encode()
    verdict = CLASSIFIER.classify(raw)
    assert (verdict.category, verdict.reason) == ("auto_reply", "vacation")
    assert verdict.recipients == []


def test_a_closed_inbox_is_not_suggested_as_the_new_address(corpus: Path) -> None:
    # Sisimai's rfc3834-06: "This email inbox <old> is no longer in use. Please contact someone else".
    verdict = CLASSIFIER.classify((corpus / "bounces" / "2acb6c4a5575418f.eml").read_bytes())
    assert verdict.category == "auto_reply"
    assert verdict.suggested_address == ""
