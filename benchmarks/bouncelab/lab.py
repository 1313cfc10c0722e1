"""One lab run: servers up, MTAs up, messages in, DSNs out, everything torn down.

``run_lab`` is what the command line and the CI test call. The MTAs run
side by side (each on 127.77.10.N), fed in parallel from one thread each;
the run waits until every recipient that should fail has been reported
failed (or relayed, for NOTIFY=SUCCESS), or until the queue lifetime plus a
margin has passed, then stops every process and removes its folders.
"""

from __future__ import annotations

import os
import shutil
import smtplib
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate, make_msgid
from pathlib import Path

from . import receiver
from .catalogue import Catalogue
from .labels import Collected, label, status_blocks
from .mtas import MTA, Setup, Timings
from .mtas.dovecot import Dovecot
from .mtas.exim import Exim
from .mtas.opensmtpd import OpenSMTPD
from .mtas.postfix import Postfix
from .mtas.sendmail import Sendmail
from .plan import Message, Plan

MTAS: dict[str, type[MTA]] = {"postfix": Postfix, "exim": Exim, "opensmtpd": OpenSMTPD, "sendmail": Sendmail}
#: MTAs whose configuration here forwards addresses (virtual aliases / redirect router)
FORWARDING = ("postfix", "exim")
#: MTAs configured here to deliver to the lab's Dovecot over LMTP
LMTP = ("postfix", "exim", "opensmtpd")
SUBJECTS = ("Your weekly digest", "March newsletter", "New in the shop this week", "Event invitation",
            "Account news", "Unsere Angebote", "Votre lettre d'information")


@dataclass
class Outcome:
    """What a run produced: labelled DSNs per MTA and what could not be labelled."""

    rows: list[tuple[bytes, dict]] = field(default_factory=list)
    unlabelled: list[tuple[str, bytes]] = field(default_factory=list)
    pending: set[tuple[str, str]] = field(default_factory=set)
    seconds: float = 0.0


def body(message: Message, index: int) -> bytes:
    rcpt = message.recipients[0].address
    subject = SUBJECTS[index % len(SUBJECTS)]
    return (
        f"From: Lab Newsletter <news@lab-sender.test>\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
        f"Date: {formatdate()}\r\nMessage-ID: {make_msgid(domain='lab-sender.test')}\r\n"
        f"List-Unsubscribe: <mailto:unsubscribe-{message.key}@lab-sender.test>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\nthis is issue {index} of our newsletter.\r\n"
        "Read it online at https://lab-sender.test/news\r\n\r\n-- \r\nLab Newsletter\r\n"
    ).encode()


def _free_port(host: str, start: int) -> int:
    for port in range(start, start + 200):
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
                return port
            except OSError:
                continue
    raise SystemExit(f"bouncelab: no free port on {host}")


def _submit(mta: MTA, messages: list[Message], errors: list[str]) -> None:
    """Hand the MTA its messages over SMTP, as a mailer would (one connection per 50)."""
    for start in range(0, len(messages), 50):
        try:
            with smtplib.SMTP(mta.setup.listen, mta.setup.port, timeout=60) as smtp:
                smtp.ehlo()
                for i, message in enumerate(messages[start:start + 50], start):
                    options = [f"NOTIFY={message.notify}"] if message.notify and smtp.has_extn("dsn") else []
                    smtp.sendmail(message.sender, [r.address for r in message.recipients], body(message, i),
                                  rcpt_options=options)
        except (smtplib.SMTPException, OSError) as exc:
            errors.append(f"{mta.name}: submission failed: {exc}")


def _run_base() -> Path:
    """Where run folders go: not under a world-writable folder (Sendmail refuses its maps there)."""
    for base in (Path("/run"), Path(__file__).resolve().parents[2] / "var" / "bouncelab"):
        if os.access(base, os.W_OK) and not base.stat().st_mode & 0o002:
            return base
    return Path(tempfile.gettempdir())


def _new_root(base: Path, name: str) -> Path:
    """A run folder that names its owner, so a later run can sweep it if this one is SIGKILLed."""
    root = Path(tempfile.mkdtemp(prefix=f"bouncelab-{name}-", dir=base))
    root.chmod(0o755)
    (root / "owner").write_text(f"{os.getpid()}\n")
    return root


def sweep_stale(base: Path) -> None:
    """Remove run folders whose owning process is gone (a run killed with SIGKILL cannot clean up)."""
    for root in base.glob("bouncelab-*"):
        try:
            owner = int((root / "owner").read_text())
        except (OSError, ValueError):
            continue
        if not Path(f"/proc/{owner}").exists():
            shutil.rmtree(root, ignore_errors=True)


def run_lab(plan: Plan, catalogue: Catalogue, mtas: list[str], timings: Timings | None = None,
            log=print, keep: bool = False, settle: float = 90.0) -> Outcome:
    timings = timings or Timings()
    script = plan.script()
    by_key = {m.key: m for m in plan.messages}
    pending = {(m.key, r.seen_as) for m in plan.messages for r in m.recipients if r.entry is not None or m.notify}
    collected: list[Collected] = []
    lock = threading.Lock()

    def deliver(mail_from: str, rcpts: list[str], raw: bytes) -> None:
        item = Collected(mail_from, rcpts, raw)
        with lock:
            collected.append(item)
            message = by_key.get(item.key)
            if message is None:
                return
            finals = {(b["original"] or b["final"]) for b in status_blocks(raw) if b["action"] != "delayed"}
            finals |= {b["final"] for b in status_blocks(raw) if b["action"] != "delayed"}
            for rcpt in message.recipients:
                if rcpt.address.lower() in finals or rcpt.seen_as in finals:
                    pending.discard((message.key, rcpt.seen_as))

    started = time.monotonic()
    lab_port = receiver.free_lab_port()
    servers = receiver.Servers(script, deliver, lab_port, plan.greetings, sorted(set(plan.receivers.values())))
    base = _run_base()
    sweep_stale(base)
    running: list = []
    roots: list[Path] = []
    try:
        servers.start()
        dovecot_port = 0
        if plan.quota_full or plan.quota_empty:
            root = _new_root(base, "dovecot")
            roots.append(root)
            dovecot_port = _free_port(receiver.DOVECOT, 2400)
            dovecot = Dovecot(root, receiver.DOVECOT, dovecot_port)
            dovecot.configure(plan.quota_full, plan.quota_empty)
            dovecot.start()
            running.append(dovecot)
        for i, name in enumerate(mtas):
            root = _new_root(base, name)
            roots.append(root)
            listen = f"127.77.10.{i + 1}"
            setup = Setup(root, listen, _free_port(listen, 2525), lab_port, dict(plan.routes), dict(plan.hosts),
                          dovecot_port=dovecot_port, timings=timings,
                          forwards=dict(plan.forwards) if name in FORWARDING else {})
            mta = MTAS[name](setup)
            mta.configure()
            mta.start()
            running.append(mta)
        for mta in running:
            if isinstance(mta, MTA):
                mta.wait_ready()
        log(f"bouncelab: {', '.join(m.name for m in running)} up; receiver on 127.77.0.2:{lab_port}")
        errors: list[str] = []
        threads = [threading.Thread(target=_submit, args=(m, [x for x in plan.messages if x.mta == m.name], errors))
                   for m in running if isinstance(m, MTA)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for error in errors:
            log(error)
        submitted = time.monotonic()
        log(f"bouncelab: {len(plan.messages)} messages submitted in {submitted - started:.0f}s; waiting for DSNs")
        deadline = submitted + timings.expire_after + settle
        last_report = last_flush = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() - last_flush > timings.retry_every * 2:
                for mta in running:
                    if isinstance(mta, MTA) and mta.needs_flush:
                        mta.flush()
                last_flush = time.monotonic()
            with lock:
                left = len(pending)
            if not left:
                break
            if time.monotonic() - last_report > 30:
                log(f"bouncelab: {len(collected)} DSNs so far, {left} recipients still unreported")
                last_report = time.monotonic()
            time.sleep(1)
        time.sleep(2)  # a DSN on the wire when the last one arrived
    finally:
        for mta in running:
            mta.stop()
        servers.stop()
        if not keep:
            for root in roots:
                shutil.rmtree(root, ignore_errors=True)
    outcome = Outcome(pending=set(pending), seconds=time.monotonic() - started)
    for item in collected:
        message = by_key.get(item.key)
        row = label(item, message, script, catalogue) if message else None
        if row is None:
            outcome.unlabelled.append((message.mta if message else "?", item.stored()))
        else:
            outcome.rows.append((item.stored(), row))
    return outcome
