"""The built-in SMTP receiver: ResponseMaster as its own returned-mail server.

It does an MDA's job and nothing more. Each accepted message is written into
a Maildir (tmp/ → fsync → rename into new/ → fsync new/) *before* the 250
reply, so a message the sending MTA believes delivered is on disk; a failure to
store answers 451 and the sender retries. One copy is written per accepted
recipient, as an MDA does, with the envelope recorded in three prepended
header lines (the message's own bytes follow unchanged, line endings
included)::

    Return-Path: <envelope sender, empty for bounces>
    Delivered-To: <recipient>
    X-Original-To: <recipient>

That matters for attribution: the VERP token lives in the envelope recipient,
which a bounce's own headers may not show.

Policy: a size limit advertised with the SIZE extension and enforced at MAIL
FROM (``SIZE=``) and at DATA (552); recipients outside the configured domains
are refused with 550 5.1.1. Without configured domains every recipient is
accepted, which the configuration allows only on a loopback address.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import click
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from responsemaster.ingest.factory import ReceiverSettings, receiver_settings
from responsemaster.ingest.maildir_io import deliver, ensure_maildir, sweep_tmp

log = logging.getLogger(__name__)

REPLY_RCPT_OK = "250 2.1.5 OK"
REPLY_QUEUED = "250 2.0.0 OK: delivered as {names}"
REPLY_UNKNOWN_DOMAIN = "550 5.1.1 <{address}>: recipient domain not accepted here"
REPLY_STORE_FAILED = "451 4.3.0 cannot store the message now; try again later"


def envelope_headers(mail_from: str | None, recipient: str, newline: bytes) -> bytes:
    """The trace lines an MDA prepends: who sent it (envelope) and to whom it was delivered."""
    sender = (mail_from or "").strip("<>")  # the null sender of a bounce arrives as "<>"
    lines = (f"Return-Path: <{sender}>", f"Delivered-To: {recipient}", f"X-Original-To: {recipient}")
    return b"".join(line.encode("utf-8", "surrogateescape") + newline for line in lines)


def _newline_of(data: bytes) -> bytes:
    """The line ending the message itself uses, so the prepended lines match it."""
    end = data.find(b"\n")
    return b"\r\n" if end > 0 and data[end - 1 : end] == b"\r" else b"\n"


class MaildirHandler:
    """aiosmtpd handler: check recipient domains, store durably, then say 250."""

    def __init__(
        self,
        maildir: Path,
        domains: Iterable[str] = (),
        on_stored: Callable[[list[Path]], None] | None = None,
    ) -> None:
        self.maildir = ensure_maildir(Path(maildir))
        sweep_tmp(self.maildir)  # what a killed receiver left half-written
        self.domains = {d.lower().strip(".") for d in domains}
        #: Called after the files are fsynced and before the reply (a test hook).
        self.on_stored = on_stored

    def accepts(self, address: str) -> bool:
        domain = address.rpartition("@")[2].lower().strip(".")
        return not self.domains or domain in self.domains

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if not self.accepts(address):
            return REPLY_UNKNOWN_DOMAIN.format(address=address)
        envelope.rcpt_tos.append(address)
        return REPLY_RCPT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        loop = asyncio.get_running_loop()
        try:
            paths = await loop.run_in_executor(None, self.store, envelope.mail_from, list(envelope.rcpt_tos), data)
        except OSError as exc:
            log.error("receiver: cannot store a message from <%s>: %s", envelope.mail_from, exc)
            return REPLY_STORE_FAILED
        if self.on_stored is not None:
            self.on_stored(paths)
        return REPLY_QUEUED.format(names=" ".join(p.name for p in paths))

    def store(self, mail_from: str | None, recipients: list[str], data: bytes) -> list[Path]:
        """One durable copy per recipient; returns once every copy is fsynced."""
        newline = _newline_of(data)
        return [deliver(self.maildir, envelope_headers(mail_from, rcpt, newline) + data) for rcpt in recipients]


class PortInUse(Exception):
    """The receiver's address is taken (or not ours to bind): one line for the operator."""


def listening_socket(config: ReceiverSettings) -> socket.socket:
    """Bind and listen on the receiver's address now (``run`` does it before it forks anything).

    Connections queue in the kernel from this moment, so a restarted ``run``
    accepts mail as soon as it starts; the failure to bind is one clear line
    (``PortInUse``) in the process the operator is looking at.
    """
    try:
        families = {info[0] for info in socket.getaddrinfo(config.host, config.port, type=socket.SOCK_STREAM)}
        family = socket.AF_INET if socket.AF_INET in families else families.pop()  # "localhost": 127.0.0.1
        sock = socket.create_server((config.host, config.port), family=family, backlog=128)
    except OSError as exc:
        why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be listened on ({exc.strerror or exc})"
        raise PortInUse(f"[receiver] {config.host}:{config.port} {why}: stop what holds it (another "
                        "responsemaster run, an MTA), or set [receiver] port, or use run --no-receiver") from exc
    config.port = sock.getsockname()[1]  # port 0: the one the kernel chose
    return sock


class _ControllerOnSocket(Controller):
    """aiosmtpd's threaded controller, serving an already listening socket when given one."""

    def __init__(self, handler: object, sock: socket.socket | None, **kwargs: object) -> None:
        super().__init__(handler, **kwargs)  # type: ignore[arg-type]
        self._sock = sock

    def _create_server(self):  # type: ignore[no-untyped-def]
        if self._sock is None:
            return super()._create_server()
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


class Receiver:
    """Start/stop wrapper around aiosmtpd's threaded controller, for the worker and tests."""

    def __init__(self, config: ReceiverSettings, handler: MaildirHandler | None = None,
                 sock: socket.socket | None = None) -> None:
        self.config = config
        if sock is not None:
            config.port = sock.getsockname()[1]
        self.handler = handler or MaildirHandler(config.maildir, config.domains)
        self._controller = _ControllerOnSocket(
            self.handler,
            sock,
            hostname=config.host,
            port=config.port,
            data_size_limit=config.max_size,
            decode_data=False,
            enable_SMTPUTF8=True,
            ident="ResponseMaster receiver",
        )
        self._running = False

    @property
    def address(self) -> tuple[str, int]:
        return self.config.host, self.config.port

    def start(self) -> None:
        """Listen in a background thread; returns once the port accepts connections."""
        self._controller.start()
        self._running = True
        log.info("receiver: listening on %s:%d, delivering into %s", *self.address, self.config.maildir)

    def stop(self) -> None:
        if self._running:
            self._controller.stop()
            self._running = False

    def __enter__(self) -> Receiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_receiver(settings: object, sock: socket.socket | None = None) -> Receiver | None:
    """The receiver the configuration asks for, started (on ``sock`` if given); ``None`` when disabled."""
    config = receiver_settings(settings)  # type: ignore[arg-type]
    if not config.enabled:
        return None
    receiver = Receiver(config, sock=sock)
    receiver.start()
    return receiver


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (for tests and ``--port 0``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@click.command("receive")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML configuration file.")
@click.option("--host", help="Address to listen on (default from [receiver], else 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default from [receiver], else 2525).")
@click.option("--maildir", type=click.Path(file_okay=False), help="Maildir to deliver into.")
def receive(config_file: str | None, host: str | None, port: int | None, maildir: str | None) -> None:
    """Run the built-in SMTP receiver in the foreground until interrupted."""
    from responsemaster.config import load_settings

    config = receiver_settings(load_settings(config_file))
    if host:
        config.host = host
    if port is not None:
        config.port = port or free_port(config.host)
    if maildir:
        config.maildir = Path(maildir)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        sock = listening_socket(config)
    except PortInUse as exc:
        raise click.ClickException(str(exc)) from exc
    with Receiver(config, sock=sock):
        click.echo(f"receiver: listening on {config.host}:{config.port}, delivering into {config.maildir}")
        stop.wait()


if __name__ == "__main__":
    receive()
