"""Only real addresses become subscribers; a pruned one keeps its last bounce; classify and the worker attribute alike.

The messages go through the real worker (``run --once`` on a Maildir) on
SQLite and PostgreSQL, and through ``classify --jsonl`` for comparison.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from fixtures.postgres import cluster
from fixtures.worker_setup import write_config
from sqlalchemy import select

from responsemaster.addresses import InvalidAddress, is_real_address, validate_address
from responsemaster.cli import main
from responsemaster.config import load_settings
from responsemaster.store import open_store
from responsemaster.store.messages import MessageVerdict
from responsemaster.store.subscribers import Subscriber, Suppression


def _arf(case: str, to_header: str, rcpt_field: str = "") -> bytes:
    """An RFC 5965 complaint whose returned original was addressed to ``to_header``."""
    return f"""From: Feedback Loop <fbl@isp.example>
To: abuse@news.example.org
Subject: complaint {case}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="b1"

--b1
Content-Type: text/plain

A user of ours reported the attached message as spam.

--b1
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Reporter/2.0
Version: 1
{rcpt_field}
--b1
Content-Type: text/rfc822-headers

From: News <news@news.example.org>
To: {to_header}
Subject: Spring news
Message-ID: <a1@news.example.org>

--b1--
""".replace("\n", "\r\n").encode()


def _dsn(recipient: str) -> bytes:
    return f"""From: MAILER-DAEMON@mx.isp.example
To: bounces@news.example.org
Subject: Undelivered Mail Returned to Sender ({recipient})
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b2"

--b2
Content-Type: text/plain

Your message could not be delivered.

--b2
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.isp.example

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown

--b2--
""".replace("\n", "\r\n").encode()


REPLY_WITH_LIST_ID = b"""From: Jo Reader <jo@reader.example>
To: news@news.example.org
Subject: Re: Spring news
List-Id: Spring news <spring.news.example.org>
Message-ID: <r1@reader.example>

Thanks, lovely issue.
"""

MESSAGES = {
    "arf-undisclosed.eml": _arf("1", "<Undisclosed Recipients>"),
    "arf-undisclosed-list.eml": _arf("2", "undisclosed-recipients:;"),
    "arf-removal-field.eml": _arf("3", "<Undisclosed Recipients>", "Removal-Recipient: someone@reader.example"),
    "arf-named.eml": _arf("4", "Cy <cy@reader.example>"),
    "dsn-known.eml": _dsn("ann@reader.example"),
    "dsn-new.eml": _dsn("new.person@reader.example"),
    "reply-list-id.eml": REPLY_WITH_LIST_ID,
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def drained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The messages drained once per backend by ``run --once``; the tests below only read the result."""
    tmp_path = tmp_path_factory.mktemp(request.param)
    db_url = f"sqlite:///{tmp_path / 'var' / 'rm.db'}" if request.param == "sqlite" else cluster().create_database()
    box = tmp_path / "box"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    for name, raw in MESSAGES.items():
        (box / "new" / name).write_bytes(raw)
    config = write_config(tmp_path / "rm.toml", box, db_url)
    store = open_store(load_settings(config))
    with store.transaction() as session:  # a subscriber imported before her address bounced
        session.add(Subscriber(address="Ann@reader.example", address_key="ann@reader.example", domain="reader.example",
                               origin="import"))
    result = CliRunner().invoke(main, ["run", "--once", "--config", str(config)])
    assert result.exit_code == 0, result.output
    yield config, store, tmp_path
    store.close()


def _subscribers(store) -> dict[str, Subscriber]:  # type: ignore[no-untyped-def]
    with store.reader() as session:
        return {s.address_key: s for s in session.execute(select(Subscriber)).scalars()}


def test_complaints_about_undisclosed_recipients_record_nobody(drained) -> None:  # type: ignore[no-untyped-def]
    _config, store, _folder = drained
    subs = _subscribers(store)
    assert sorted(subs) == ["ann@reader.example", "cy@reader.example", "new.person@reader.example"]
    assert subs["cy@reader.example"].status == "complained"  # a complaint naming a real address still acts
    with store.reader() as session:
        suppressed = sorted(session.execute(select(Suppression.address_key)).scalars())
        verdicts = {v.subject: v for v in session.execute(select(MessageVerdict)).scalars()}
    assert suppressed == ["ann@reader.example", "cy@reader.example", "new.person@reader.example"]
    assert "fbl@isp.example" not in subs  # the reporter of a complaint is not the subscriber
    complaints = [v for v in verdicts.values() if v.category == "feedback_loop"]
    assert len(complaints) == 4 and sorted(v.subscriber for v in complaints) == ["", "", "", "cy@reader.example"]
    assert all(v.domain == "" for v in complaints if not v.subscriber)


def test_a_pruned_subscriber_shows_its_last_bounce(drained) -> None:  # type: ignore[no-untyped-def]
    _config, store, _folder = drained
    subs = _subscribers(store)
    for key, origin in (("ann@reader.example", "import"), ("new.person@reader.example", "returned-mail")):
        sub = subs[key]
        assert (sub.status, sub.origin, sub.last_category) == ("pruned", origin, "hard_bounce")
        assert sub.bounce_score == 5.0  # the default hard_bounce weight
        assert sub.last_bounce_at is not None and sub.last_verdict_at is not None and sub.last_verdict_id


def test_classify_and_the_worker_attribute_the_same_way(drained) -> None:  # type: ignore[no-untyped-def]
    config, store, tmp_path = drained
    with store.reader() as session:
        recorded = {v.subject: (v.subscriber, v.campaign) for v in session.execute(select(MessageVerdict)).scalars()}
    for name, raw in MESSAGES.items():
        path = tmp_path / name
        path.write_bytes(raw)
        out = CliRunner().invoke(main, ["classify", "--no-model", "--jsonl", str(path), "--config", str(config)])
        line = json.loads(out.output)
        subject = raw.split(b"Subject: ", 1)[1].splitlines()[0].decode()
        assert (line["attribution"]["subscriber"], line["attribution"]["campaign"]) == recorded[subject], name
    assert recorded["Re: Spring news"] == ("jo@reader.example", "")  # a List-Id is not a campaign


@pytest.mark.parametrize("cell", [
    "Ann\x07 <ann@example.org>", "ann\u200b@example.org", "Ann \u202e<ann@example.org>", "ann@exa\x7fmple.org",
    "ann@example.org\x85", "undisclosed recipients", "Undisclosed-Recipients:;", "<Undisclosed Recipients>", "0",
])
def test_the_one_address_check_refuses_control_characters_and_non_addresses(cell: str) -> None:
    with pytest.raises(InvalidAddress):
        validate_address(cell)
    assert not is_real_address(cell)


def test_the_one_address_check_accepts_what_an_import_accepts() -> None:
    assert validate_address("Ann Lee <Ann.Lee+news@Example.ORG>") == "Ann.Lee+news@example.org"
    assert validate_address("jo@bücher.example") == "jo@xn--bcher-kva.example"
    assert is_real_address("jo@reader.example") and not is_real_address("jo@localhost")


def _random_cells(count: int) -> list[str]:
    """Bare addresses of every atext character and LDH labels, and a few near misses."""
    import random
    import string

    rnd = random.Random(21)
    atext = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
    cells = []
    for _ in range(count):
        local = ".".join("".join(rnd.choice(atext) for _ in range(rnd.randint(1, 9))) for _ in range(rnd.randint(1, 3)))
        labels = ["".join(rnd.choice(string.ascii_letters + string.digits + "-") for _ in range(rnd.randint(1, 8)))
                  for _ in range(rnd.randint(1, 4))]
        cells.append(f"{local}@{'.'.join(labels)}")
    return cells + ["a" * 65 + "@example.org", "a@b..example", "a@-b.example", "a@b.123", "a@b", ".a@b.example"]


def test_the_plain_address_shortcut_answers_as_the_full_check() -> None:
    """Bare dot-atom addresses skip ``parseaddr`` (it hands them back unchanged); the answers, addresses and
    error messages alike, are the ones the full check gives."""
    import email.utils

    from responsemaster import addresses

    def answer(cell: str) -> str:
        try:
            return validate_address(cell)
        except InvalidAddress as exc:
            return f"refused: {exc}"

    cells = _random_cells(3000)
    assert all(email.utils.parseaddr(cell) == ("", cell) for cell in cells[:3000])
    fast = [answer(cell) for cell in cells]
    shortcut, addresses._PLAIN = addresses._PLAIN, addresses.re.compile(r"(?!)")  # never matches: the full check
    try:
        full = [answer(cell) for cell in cells]
    finally:
        addresses._PLAIN = shortcut
    assert fast == full
    assert sum(a.startswith("refused") for a in full) > 50 and sum("@" in a and " " not in a for a in full) > 1000


def test_routing_targets_only_real_addresses_whatever_the_verdict_says() -> None:
    """A verdict made elsewhere (an older classifier, a replay) naming a non-address acts on nobody."""
    from responsemaster.routing.router import targets_of
    from responsemaster.verdict import Attribution, RecipientVerdict, Verdict

    complaint = Verdict("feedback_loop", 0.99, "arf", "feedback", sender="fbl@isp.example",
                        attribution=Attribution("undisclosed recipients", "", "headers"))
    assert [t.address for t in targets_of(complaint)] == [""]
    dsn = Verdict("hard_bounce", 0.99, "rfc3464", "userunknown", sender="mailer-daemon@mx.example", recipients=[
        RecipientVerdict("root", "hard_bounce", "userunknown"), RecipientVerdict("a@b.example", "hard_bounce", "userunknown")])
    assert [t.address for t in targets_of(dsn)] == ["", "a@b.example"]
    reply = Verdict("user_reply", 0.9, "model:x", "reply", sender="jo@reader.example")
    assert [t.address for t in targets_of(reply)] == ["jo@reader.example"]


def test_the_address_check_remembers_a_whole_batch() -> None:
    """The worker asks about each address in passes over its whole batch (targets, then rows): the check's
    memory must hold a batch's recipients and senders, or every second pass pays the full check again."""
    from responsemaster.worker import WorkerOptions

    batch = WorkerOptions().batch_size
    is_real_address.cache_clear()
    addresses = [f"person{n}@example.org" for n in range(batch)] + [f"sender{n}@example.net" for n in range(batch)]
    for _round in range(2):
        for address in addresses:
            assert is_real_address(address)
    info = is_real_address.cache_info()
    assert (info.misses, info.hits) == (len(addresses), len(addresses))
