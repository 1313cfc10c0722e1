"""The far side of every MTA: a scripted receiving server, odd hosts, and the DSN collector.

All listeners share one asyncio loop in one daemon thread of the lab's own
process, so they end with it. On the same port ``port``:

- ``RECEIVER`` (aiosmtpd) answers each recipient from the catalogue entry the
  plan gave it, at the entry's stage (MAIL, RCPT or end of DATA), and logs
  what it actually said to whom (``Script.answered``): the labels are taken
  from that log, so a recipient an MTA bundled into another's DATA
  transaction is labelled with the answer it really got;
  (on ``RECEIVER`` and on one address per receiving host, ``127.77.2.N``);
- one greeting host per connect-stage entry (``127.77.8.N``) that rejects
  the connection in its banner;
- ``SILENT`` accepts connections and never says a word (timeouts);
- ``REFUSED``: nothing listens there (connection refused);
- ``COLLECTOR`` (aiosmtpd) accepts everything and hands each message (the
  DSNs the MTAs send to the envelope sender) to a callback.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiosmtpd.smtp import SMTP

from .catalogue import Entry

RECEIVER = "127.77.0.2"
COLLECTOR = "127.77.0.3"
REFUSED = "127.77.0.4"
SILENT = "127.77.0.5"
DOVECOT = "127.77.0.6"


def receiver_host(index: int) -> str:
    """The address of the ``index``-th scripted receiving host (127.77.2.1, ...)."""
    return f"127.77.{2 + index // 250}.{1 + index % 250}" if index < 1000 else RECEIVER


def greeting_host(index: int) -> str:
    """The address of the ``index``-th connect-stage host (127.77.1.1, ...)."""
    return f"127.77.{8 + index // 250}.{1 + index % 250}"


@dataclass
class Script:
    """What to say to whom, and what was said (filled by the receiver)."""

    #: lower-case recipient -> entry (None: accept)
    recipients: dict[str, Entry | None] = field(default_factory=dict)
    #: lower-case envelope sender -> MAIL-stage entry
    senders: dict[str, Entry] = field(default_factory=dict)
    #: lower-case recipient -> (entry id or "accepted", stage) of the last answer
    answered: dict[str, tuple[str, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, address: str, what: str, stage: str) -> None:
        with self.lock:
            self.answered[address.lower()] = (what, stage)


class ScriptedHandler:
    """aiosmtpd handler: the catalogue entry of each recipient decides the answer."""

    def __init__(self, script: Script) -> None:
        self.script = script

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        entry = self.script.recipients.get(address.lower())
        if entry is not None and entry.stage == "rcpt":
            self.script.note(address, entry.id, "rcpt")
            return entry.render(address)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        entries = [self.script.recipients.get(r.lower()) for r in envelope.rcpt_tos]
        refusal = next((e for e in entries if e is not None and e.stage == "data"), None)
        for rcpt in envelope.rcpt_tos:
            if refusal is None:
                self.script.note(rcpt, "accepted", "data")
            else:
                self.script.note(rcpt, refusal.id, "data")
        if refusal is None:
            return "250 2.0.0 Ok: queued"
        return refusal.render(envelope.rcpt_tos[0])


class LabSMTP(SMTP):
    """aiosmtpd's server, answering MAIL itself when the sender's entry refuses at MAIL."""

    async def smtp_MAIL(self, arg):  # noqa: N802
        if self.session is not None and arg:
            sender = arg.partition(":")[2].strip().split()[0].strip("<>") if ":" in arg else ""
            entry = self.event_handler.script.senders.get(sender.lower())
            if entry is not None:
                self.event_handler.script.note(sender, entry.id, "mail")
                await self.push(entry.render(sender))
                return
        await super().smtp_MAIL(arg)


class CollectHandler:
    def __init__(self, deliver: Callable[[str, list[str], bytes], None]) -> None:
        self.deliver = deliver

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.deliver(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content)
        return "250 2.0.0 Ok: collected"


class Greeting(asyncio.Protocol):
    """A host that refuses in its banner (RFC 5321 section 3.1: 554, then only QUIT)."""

    def __init__(self, entry: Entry) -> None:
        self.entry = entry

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.entry.render("postmaster@localhost").encode() + b"\r\n")

    def data_received(self, data: bytes) -> None:
        for line in data.split(b"\r\n"):
            if line.upper().startswith(b"QUIT"):
                self.transport.write(b"221 2.0.0 Bye\r\n")
                self.transport.close()
                return
            if line.strip():
                self.transport.write(b"503 5.5.1 No service\r\n")


class Silent(asyncio.Protocol):
    """Accepts the connection, says nothing, closes after two minutes."""

    def connection_made(self, transport) -> None:
        asyncio.get_running_loop().call_later(120, transport.close)


class Servers:
    """Every listener of the lab on one event loop in a daemon thread."""

    def __init__(self, script: Script, deliver: Callable[[str, list[str], bytes], None], port: int,
                 greetings: list[Entry], receivers: list[str] = ()) -> None:
        self.script, self.deliver, self.port, self.greetings = script, deliver, port, greetings
        self.receivers = [RECEIVER, *receivers]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bouncelab-servers", daemon=True)
        self.servers: list[asyncio.base_events.Server] = []

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self.loop).result(30)

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        scripted = ScriptedHandler(self.script)
        collect = CollectHandler(self.deliver)
        factories: list[tuple[str, Callable[[], asyncio.Protocol]]] = [
            (host, lambda: LabSMTP(scripted, hostname="mx.lab.test", decode_data=False, ident="ESMTP"))
            for host in self.receivers
        ]
        factories += [
            (COLLECTOR, lambda: SMTP(collect, hostname="collector.lab.test", decode_data=False, ident="ESMTP")),
            (SILENT, Silent),
        ]
        for i, entry in enumerate(self.greetings):
            factories.append((greeting_host(i), lambda e=entry: Greeting(e)))
        for host, factory in factories:
            try:
                self.servers.append(await loop.create_server(factory, host, self.port))
            except OSError as exc:
                raise SystemExit(f"bouncelab: cannot listen on {host}:{self.port}: {exc.strerror}") from None

    def stop(self) -> None:
        async def close() -> None:
            for server in self.servers:
                server.close()
        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


def free_lab_port(start: int = 2525) -> int:
    """A port free on every lab address we listen on (the MTAs use one port for all hosts)."""
    import socket

    for port in range(start, start + 200):
        try:
            for host in (RECEIVER, COLLECTOR, SILENT, DOVECOT):
                with socket.socket() as sock:
                    sock.bind((host, port))
            return port
        except OSError:
            continue
    raise SystemExit("bouncelab: no free port on 127.77.0.x")


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
