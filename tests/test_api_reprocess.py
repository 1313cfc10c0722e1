"""Re-processing a quarantined message with the real classifier and router, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.api_setup import add_message
from fixtures.store_backends import db_url, store  # noqa: F401
from sqlalchemy import select

from api.reprocess import NotQuarantined, reprocess
from responsemaster.config import Settings
from responsemaster.routing.router import build_router
from responsemaster.store import Store
from responsemaster.store.messages import MessageVerdict, RawMessageRow

DSN = (
    b"From: MAILER-DAEMON@mx.example.net\r\nTo: bounces@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n"
    b"--b\r\nContent-Type: text/plain\r\n\r\nI could not deliver your message.\r\n"
    b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
    b"Final-Recipient: rfc822; gone@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    b"Diagnostic-Code: smtp; 550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown\r\n"
    b"--b--\r\n"
)


def test_reprocess_records_the_message_again_and_keeps_the_quarantined_row(
    store: Store, classifier, tmp_path: Path  # noqa: F811
) -> None:
    settings = Settings(base_dir=tmp_path, var_dir=tmp_path / "var")
    made = add_message(store, category="user_reply", state="quarantined", error="worker crashed", raw=DSN)
    result = reprocess(store, classifier, build_router(settings), made["uid"])
    assert result["state"] == "reprocessed" and result["category"] == "hard_bounce"
    with store.reader() as s:
        old = s.execute(select(RawMessageRow).where(RawMessageRow.uid == made["uid"])).scalars().one()
        new = s.execute(select(RawMessageRow).where(RawMessageRow.uid == result["new_uid"])).scalars().one()
        verdict = s.execute(select(MessageVerdict).where(MessageVerdict.message_id == new.id)).scalars().one()
    assert old.state == "reprocessed" and result["new_uid"] in (old.error or "")
    assert (new.state, new.key, new.sha256) == ("processed", f"{old.key}#reprocessed", old.sha256)
    assert verdict.category == "hard_bounce" and verdict.subscriber == "gone@example.net"
    with pytest.raises(NotQuarantined):
        reprocess(store, classifier, build_router(settings), made["uid"])
    with pytest.raises(LookupError):
        reprocess(store, classifier, build_router(settings), "f" * 32)
