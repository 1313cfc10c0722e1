"""Helpers for the mailer tests: settings in a tmp dir, a populated list, scriptable SMTP sinks.

The sinks are real aiosmtpd servers on loopback ports. Each counts what it
accepted by recipient, so "sent twice" shows up as a count of 2.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import tomli_w
from aiosmtpd.controller import Controller
from fixtures.servers import free_port

from mailer.campaigns import create_campaign, save_template
from mailer.subscribers import import_csv
from responsemaster.config import Settings, load_settings
from responsemaster.store.database import Store, open_store

VERP_SECRET = "mailer test secret, 32 bytes long!"
REPLY_OK = "250 2.0.0 OK"
REPLY_TRY_LATER = "451 4.3.0 temporary local problem, try later"
REPLY_NO_SUCH_USER = "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table"


def make_settings(tmp_path: Path, relays: list[dict[str, Any]] | None = None, *, db_url: str | None = None,
                  **mailer: Any) -> Settings:
    """Settings in ``tmp_path``: SQLite there, or ``db_url`` (a PostgreSQL database of the session cluster)."""
    data: dict[str, Any] = {
        "var_dir": str(tmp_path / "var"),
        "database": {"url": db_url or f"sqlite:///{tmp_path / 'var' / 'rm.db'}"},
        "verp": {"keys": {"k1": VERP_SECRET}, "bounce_domain": "bounces.example.org"},
        "queue": {"url": "memory://"},
        "mailer": {
            "from_address": "News <news@example.org>",
            "unsubscribe_mailto": "unsubscribe@example.org",
            "unsubscribe_url": "https://example.org/u/{token}",
            "retry_base_seconds": 0.05,
            "in_run_retry_seconds": 5,
            **mailer,
            "relays": relays or [],
        },
    }
    path = tmp_path / "responsemaster.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return load_settings(path)


def populate(store: Store, addresses: list[str], list_name: str = "news", extra: str = "first_name") -> None:
    lines = [f"email,name,{extra}"] + [f"{a},Name {i},First{i}" for i, a in enumerate(addresses)]
    report = import_csv(store, ("\n".join(lines) + "\n").encode(), list_name)
    assert not report.rejected, report.lines()


def simple_campaign(store: Store, name: str = "spring", list_name: str = "news", limit: int = 0,
                    html: str = "<p>Hello {{ first_name }} &amp; {{ name }}</p>", text: str = "Hello {{ first_name }}") -> int:
    save_template(store, f"tpl-{name}", "News for {{ name }}", html, text)
    return create_campaign(store, name, list_name, f"tpl-{name}", limit=limit)


class ScriptedSink:
    """An aiosmtpd server whose answers a test scripts; counts accepted messages per recipient."""

    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter()
        self.messages: list[bytes] = []
        #: The envelope sender of each accepted message, in order.
        self.senders: list[str] = []
        #: (monotonic time, recipient) of each accepted message, in order.
        self.arrivals: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        #: recipient -> list of replies to give at RCPT, consumed one per attempt ('' = accept).
        self.rcpt_script: dict[str, list[str]] = {}
        #: Refuse every recipient matching this predicate at RCPT with 550.
        self.unknown_users: set[str] = set()
        #: Drop the connection (without a reply) when this many messages have been accepted, at DATA.
        self.drop_in_data_at: set[int] = set()
        #: Drop the connection at MAIL FROM when this many messages have been accepted.
        self.drop_at_mail_after: set[int] = set()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    def start(self) -> ScriptedSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def relay(self, name: str = "sink", **extra: Any) -> dict[str, Any]:
        return {"name": name, "host": "127.0.0.1", "port": self.port, "max_connections": 2, **extra}

    async def handle_MAIL(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        with self.lock:
            drop = len(self.messages) in self.drop_at_mail_after
            self.drop_at_mail_after.discard(len(self.messages))
        if drop:
            server.transport.close()
            return "421 4.3.2 going away"
        envelope.mail_from = address
        return REPLY_OK

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address.lower() in self.unknown_users:
            return REPLY_NO_SUCH_USER.format(rcpt=address)
        script = self.rcpt_script.get(address.lower())
        if script:
            reply = script.pop(0)
            if reply:
                return reply
        envelope.rcpt_tos.append(address)
        return REPLY_OK

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        with self.lock:
            self.messages.append(envelope.original_content or envelope.content)
            self.senders.append(envelope.mail_from)
            for rcpt in envelope.rcpt_tos:
                self.accepted[rcpt.lower()] += 1
                self.arrivals.append((time.monotonic(), rcpt.lower()))
            drop = len(self.messages) in self.drop_in_data_at
        if drop:
            server.transport.close()  # stored, but the client never hears 250
        return REPLY_OK

    def parsed(self) -> list[Any]:
        return [message_from_bytes(m, policy=default) for m in self.messages]


def open_test_store(settings: Settings) -> Store:
    return open_store(settings)
