"""One module per MTA: its throwaway configuration and how it runs in its sandbox.

Every MTA gets the same things (``Setup``): a private folder, the address and
port it listens on for the lab's submissions, the routes (recipient domain ->
host name the sandbox's /etc/hosts resolves to 127.77.x.y), the port all lab
hosts listen on, and short queue timings so delay warnings and expiries come
within a minute or two. It relays every message to the route of its domain
and sends its DSNs to the envelope sender, whose domain routes to the collector.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..sandbox import Sandbox

#: The envelope senders' domain: every DSN goes there, and it routes to the collector.
BOUNCE_DOMAIN = "bounces.lab.test"
COLLECTOR_HOST = "collector.lab.test"
DOVECOT_HOST = "lmtp.lab.test"


@dataclass
class Timings:
    """Seconds. Each MTA rounds them to what its configuration can express."""

    warn_after: int = 25
    expire_after: int = 75
    retry_every: int = 8
    connect_timeout: int = 4
    command_timeout: int = 10


@dataclass
class Setup:
    root: Path
    listen: str
    port: int
    #: the port every lab host listens on
    lab_port: int
    #: recipient domain -> (host name, "smtp" | "lmtp")
    routes: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: host name -> address, for the sandbox's /etc/hosts
    hosts: dict[str, str] = field(default_factory=dict)
    dovecot_port: int = 0
    #: forwarded address -> where the MTA forwards it (virtual aliases), for MTAs that can
    forwards: dict[str, str] = field(default_factory=dict)
    timings: Timings = field(default_factory=Timings)


class MTA:
    """Base: a sandboxed server with a configuration written under ``setup.root``."""

    name = "mta"
    #: Debian packages to download and extract (empty: the system's installation is used)
    packages: tuple[str, ...] = ()
    #: the lab asks for queue runs while it waits (an MTA whose own retry schedule is slow)
    needs_flush = False

    def __init__(self, setup: Setup, files: Path | None = None) -> None:
        self.setup, self.files = setup, files
        self.sandbox = Sandbox(self.name, setup.root, hosts=dict(setup.hosts))

    def configure(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the MTA accepts connections; one clear line (and its output) if it died instead."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.sandbox.process
            if process is None or process.poll() is not None:
                raise SystemExit(f"bouncelab: {self.name} exited at start:\n{self.log()[-2000:]}")
            with socket.socket() as sock:
                sock.settimeout(2)
                if sock.connect_ex((self.setup.listen, self.setup.port)) == 0:
                    return
            time.sleep(0.2)
        raise SystemExit(f"bouncelab: {self.name} did not listen on {self.setup.listen}:{self.setup.port} "
                         f"within {timeout:.0f}s:\n{self.log()[-2000:]}")

    def flush(self) -> None:
        """Ask for a queue run now (optional: every MTA also runs its queue on a timer)."""

    def stop(self) -> None:
        self.sandbox.stop()

    def log(self) -> str:
        return self.sandbox.output()
