"""The built-in SMTP receiver with a real smtplib client."""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from responsemaster.ingest import maildir_io
from responsemaster.ingest.factory import ReceiverSettings
from responsemaster.ingest.maildir_source import MaildirSource
from responsemaster.ingest.smtp_receiver import MaildirHandler, Receiver, free_port

ACCEPTED = 250
MESSAGE_TOO_BIG = 552
MAILBOX_UNAVAILABLE = 550

BOUNCE = (
    b"From: MAILER-DAEMON@mx.example.net\r\n"
    b"To: bounces+abc@returns.example.org\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"\r\n"
    b"caf\xe9 \r\n"
    b"..a line that started with a dot\r\n"
    b"trailing spaces   \r\n"
)

ReceiverFactory = Callable[..., Receiver]


@pytest.fixture
def get_receiver(tmp_path: Path) -> Iterator[ReceiverFactory]:
    """Factory fixture: a started receiver tuned per test, stopped afterwards."""
    started: list[Receiver] = []

    def make(handler: MaildirHandler | None = None, **overrides: object) -> Receiver:
        config = ReceiverSettings(port=free_port(), maildir=tmp_path / "returns", domains=["returns.example.org"])
        for key, value in overrides.items():
            setattr(config, key, value)
        receiver = Receiver(config, handler)
        receiver.start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.stop()


def _client(receiver: Receiver) -> smtplib.SMTP:
    return smtplib.SMTP(*receiver.address, timeout=10)


def _stored(receiver: Receiver) -> list[Path]:
    return sorted((receiver.config.maildir / "new").iterdir())


def test_accepted_message_is_stored_byte_for_byte(get_receiver: ReceiverFactory) -> None:
    receiver = get_receiver()
    with _client(receiver) as client:
        refused = client.sendmail("", ["bounces+abc@returns.example.org"], BOUNCE)
    assert refused == {}
    [path] = _stored(receiver)
    assert path.read_bytes() == (
        b"Return-Path: <>\r\n"
        b"Delivered-To: bounces+abc@returns.example.org\r\n"
        b"X-Original-To: bounces+abc@returns.example.org\r\n" + BOUNCE
    )
    [message] = MaildirSource("returns", receiver.config.maildir).fetch(5)
    assert message.raw.endswith(BOUNCE)


def test_one_copy_per_recipient(get_receiver: ReceiverFactory) -> None:
    receiver = get_receiver()
    rcpts = ["bounces+a@returns.example.org", "bounces+b@RETURNS.example.org"]
    with _client(receiver) as client:
        client.sendmail("mailer@example.com", rcpts, BOUNCE)
    stored = [p.read_bytes() for p in _stored(receiver)]
    assert len(stored) == 2
    assert {s.split(b"\r\n")[1] for s in stored} == {b"Delivered-To: " + r.encode() for r in rcpts}
    assert all(s.startswith(b"Return-Path: <mailer@example.com>\r\n") for s in stored)


def test_oversize_message_is_refused_with_552(get_receiver: ReceiverFactory) -> None:
    receiver = get_receiver(max_size=2000)
    big = BOUNCE + (b"x" * 70 + b"\r\n") * 80
    with _client(receiver) as client:
        client.ehlo()
        assert client.has_extn("size") and int(client.esmtp_features["size"]) == 2000
        client.mail("")
        client.rcpt("bounces+abc@returns.example.org")
        code, _ = client.data(big)
        assert code == MESSAGE_TOO_BIG
        # Declared up front with SIZE=, the refusal comes at MAIL FROM.
        client.rset()
        code, _ = client.mail("", ["SIZE=5000"])
        assert code == MESSAGE_TOO_BIG
    assert _stored(receiver) == []


def test_wrong_domain_is_refused_with_550(get_receiver: ReceiverFactory) -> None:
    receiver = get_receiver()
    with _client(receiver) as client:
        client.ehlo()
        client.mail("")
        code, text = client.rcpt("someone@elsewhere.example")
        assert code == MAILBOX_UNAVAILABLE and b"5.1.1" in text
        client.rset()
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("", ["someone@elsewhere.example"], BOUNCE)
    assert _stored(receiver) == []


def test_file_is_fsynced_before_the_250(
    get_receiver: ReceiverFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync = maildir_io.os.fsync

    def recording_fsync(fd: int) -> None:
        real_fsync(fd)
        events.append("fsync")

    monkeypatch.setattr(maildir_io.os, "fsync", recording_fsync)

    class Recording(MaildirHandler):
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            reply = await super().handle_DATA(server, session, envelope)
            events.append(f"reply {reply[:3]}")
            return reply

    def on_stored(paths: list[Path]) -> None:
        events.extend(f"on disk in {p.parent.name}" for p in paths if p.exists())

    handler = Recording(tmp_path / "returns", ["returns.example.org"], on_stored=on_stored)
    receiver = get_receiver(handler=handler)
    with _client(receiver) as client:
        client.sendmail("", ["bounces+abc@returns.example.org"], BOUNCE)
    # file fsynced, then new/ fsynced, file visible in new/, and only then the reply
    assert events == ["fsync", "fsync", "on disk in new", "reply 250"]


def test_storage_failure_answers_451(get_receiver: ReceiverFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = get_receiver()

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(receiver.handler, "store", full_disk)
    with _client(receiver) as client:
        with pytest.raises(smtplib.SMTPDataError) as caught:
            client.sendmail("", ["bounces+abc@returns.example.org"], BOUNCE)
    assert caught.value.smtp_code == 451


def test_files_a_killed_receiver_left_in_tmp_are_swept_after_36_hours(tmp_path: Path) -> None:
    """A receiver killed between tmp/ and new/ never said 250 (the sender retries): the file is litter."""
    import os
    import time

    box = maildir_io.ensure_maildir(tmp_path / "box")
    old, fresh = box / "tmp" / "1.M1P1.old", box / "tmp" / "2.M2P2.fresh"
    old.write_bytes(b"Subject: half\n")
    fresh.write_bytes(b"Subject: being written\n")
    long_ago = time.time() - maildir_io.STALE_TMP_SECONDS - 60
    os.utime(old, (long_ago, long_ago))
    MaildirHandler(box)
    assert not old.exists() and fresh.exists()
