"""Servers that die with the lab: one PID and mount namespace per MTA.

Every MTA runs under ``unshare --pid --fork --kill-child --mount``: the
forked child (a shell) is PID 1 of a new PID namespace, so when it dies
the kernel kills every process the MTA forked, daemonised or not;
``--kill-child`` kills that shell when ``unshare`` dies; and ``unshare`` itself gets
SIGKILL (PR_SET_PDEATHSIG) when the thread that started it ends. Killing
the script with SIGKILL therefore still takes every MTA process with it.

The shell that sets the namespace up stays its PID 1 and waits for the
server (it keeps the parent-death signal; a server that switches users
loses its own). The mount namespace gives each MTA a private view of the few system files
it reads: ``/etc/hosts`` (the lab's host names, all on 127.0.0.0/8),
``/etc/nsswitch.conf`` and ``/etc/resolv.conf`` (files only: no DNS query
ever leaves the machine, and an unknown host is a permanent "not found"),
and, where an MTA has compiled-in paths (OpenSMTPD), a tmpfs over ``/var``
and extra service users in a private ``/etc/passwd``. Nothing outside the
namespace changes. Needs root (namespaces, and MTAs that drop to their
service users).
"""

from __future__ import annotations

import ctypes
import os
import shlex
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)


def die_with_parent() -> None:
    """preexec_fn: SIGKILL this child when the thread that spawned it ends."""
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Sandbox:
    """How one MTA sees the machine: its host table, service users and private folders."""

    name: str
    root: Path
    hosts: dict[str, str] = field(default_factory=dict)
    #: extra /etc/passwd and /etc/group lines (service users the MTA drops to)
    users: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    #: mount an empty tmpfs over /var and create these folders in it
    private_var: list[str] | None = None
    #: the host name the MTA sees (a private UTS namespace), for MTAs that name themselves by it
    hostname: str = ""
    process: subprocess.Popen | None = None

    def _etc(self) -> Path:
        etc = self.root / "etc"
        etc.mkdir(parents=True, exist_ok=True)
        lines = ["127.0.0.1 localhost"] + [f"{ip} {name}" for name, ip in sorted(self.hosts.items())]
        (etc / "hosts").write_text("\n".join(lines) + "\n")
        (etc / "nsswitch.conf").write_text("passwd: files\ngroup: files\nshadow: files\nhosts: files\n")
        # libasr (OpenSMTPD) reads "lookup"; glibc ignores it and, with hosts: files, never asks DNS.
        (etc / "resolv.conf").write_text("lookup file\noptions attempts:1 timeout:1\n")
        if self.users:
            (etc / "passwd").write_text(Path("/etc/passwd").read_text() + "".join(u + "\n" for u in self.users))
        if self.groups:
            (etc / "group").write_text(Path("/etc/group").read_text() + "".join(g + "\n" for g in self.groups))
        return etc

    def script(self, argv: list[str]) -> str:
        """The shell run as PID 1 of the namespace: private mounts, then exec the server."""
        etc = self._etc()
        lines = ["set -e", "mount --make-rprivate /"]
        if self.private_var is not None:
            lines.append("mount -t tmpfs -o mode=755 lab-var /var")
            lines += [f"mkdir -p -m 711 {shlex.quote(p)}" for p in ["/var/run", *self.private_var]]
        for name in ("hosts", "nsswitch.conf", "resolv.conf", "passwd", "group"):
            if (etc / name).exists():
                lines.append(f"mount --bind {shlex.quote(str(etc / name))} /etc/{name}")
        if self.hostname:
            lines.append(f"hostname {shlex.quote(self.hostname)}")
        # The shell stays PID 1: it keeps the parent-death signal `unshare --kill-child` gave it,
        # which the kernel clears in a server that changes its credentials (Postfix, Exim and
        # Sendmail all do), and when PID 1 dies every process of the namespace dies.
        lines.append(" ".join(shlex.quote(a) for a in argv) + " &")
        lines += ["server=$!", "trap 'kill -TERM $server 2>/dev/null' TERM INT", "wait $server"]
        return "\n".join(lines)

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start ``argv`` in the namespace, after the private mounts."""
        script = self.script(argv)
        log = open(self.root / f"{self.name}.out", "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--kill-child", "--mount", "--uts", "/bin/sh", "-c", script],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **(env or {})},
            preexec_fn=die_with_parent, start_new_session=True,
        )
        log.close()
        return self.process

    def run(self, argv: list[str], timeout: float = 60, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        """A one-off command inside the MTA's PID and mount namespace (e.g. a queue flush)."""
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"{self.name} is not running")
        child = _namespace_child(self.process.pid)
        return subprocess.run(
            ["nsenter", "-t", str(child), "--pid", "--mount", *argv],
            capture_output=True, text=True, timeout=timeout, check=False,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **(env or {})},
        )

    def output(self) -> str:
        path = self.root / f"{self.name}.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(10)


def _namespace_child(unshare_pid: int) -> int:
    """The PID (in our namespace) of the process unshare forked: PID 1 of the MTA's namespace."""
    children = Path(f"/proc/{unshare_pid}/task/{unshare_pid}/children").read_text().split()
    if not children:
        raise RuntimeError("the namespace has no process")
    return int(children[0])
