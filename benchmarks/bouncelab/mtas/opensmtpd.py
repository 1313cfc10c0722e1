"""OpenSMTPD (Debian's opensmtpd), extracted, run as ``smtpd -d -f FILE`` in its sandbox.

OpenSMTPD's spool, control socket and chroot folder are compiled in
(/var/spool/smtpd, /var/run/smtpd.sock, /var/lib/opensmtpd/empty), so its
sandbox mounts a private tmpfs over /var, and its two service users
(``opensmtpd``, ``opensmtpq``) exist only in the sandbox's /etc/passwd. It
names itself by the host name, so the sandbox has its own (UTS namespace).
Each lab host gets one relay action; libasr resolves names from /etc/hosts
only (``lookup file`` in the private resolv.conf).
"""

from __future__ import annotations

from ..packages import extracted, library_path
from . import BOUNCE_DOMAIN, COLLECTOR_HOST, MTA

USERS = ("opensmtpd:x:2311:2311::/var/lib/opensmtpd/empty:/usr/sbin/nologin",
         "opensmtpq:x:2312:2312::/var/lib/opensmtpd/empty:/usr/sbin/nologin")
GROUPS = ("opensmtpd:x:2311:", "opensmtpq:x:2312:")


class OpenSMTPD(MTA):
    name = "opensmtpd"
    packages = ("opensmtpd",)
    #: OpenSMTPD's scheduler backs off for minutes; the lab's short queue life needs `smtpctl schedule all`
    needs_flush = True

    def configure(self) -> None:
        pkg = self.files or extracted(self.packages)
        self.binary = pkg / "usr" / "sbin" / "smtpd"
        self.smtpctl = pkg / "usr" / "sbin" / "smtpctl"
        self.env = {"LD_LIBRARY_PATH": library_path(pkg)}
        self.sandbox.users += USERS
        self.sandbox.groups += GROUPS
        self.sandbox.private_var = ["/var/spool/smtpd", "/var/lib/opensmtpd/empty", "/var/mail"]
        self.sandbox.hostname = "mx1.opensmtpd.lab.test"
        (self.setup.root / "smtpd.conf").write_text(self._conf())

    def _conf(self) -> str:
        t, port = self.setup.timings, self.setup.lab_port
        by_host: dict[tuple[str, str], list[str]] = {(COLLECTOR_HOST, "smtp"): [BOUNCE_DOMAIN]}
        for domain, route in sorted(self.setup.routes.items()):
            by_host.setdefault(route, []).append(domain)
        lines = [
            f"listen on {self.setup.listen} port {self.setup.port} hostname mx1.opensmtpd.lab.test",
            f"queue ttl {t.expire_after}s",
            f"bounce warn-interval {t.warn_after}s",
            "",
        ]
        for i, ((host, kind), domains) in enumerate(sorted(by_host.items())):
            if kind == "lmtp":
                url = f"lmtp://{host}:{self.setup.dovecot_port}"
            else:
                url = f"smtp+notls://{host}:{port}"
            names = ", ".join(f'"{d}"' for d in domains)
            lines.append(f'table domains{i} {{ {names} }}')
            lines.append(f'action "host{i}" relay host {url}')
            lines.append(f"match from any for domain <domains{i}> action \"host{i}\"")
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        self.sandbox.start([str(self.binary), "-d", "-f", str(self.setup.root / "smtpd.conf")], env=self.env)

    def flush(self) -> None:
        self.sandbox.run([str(self.smtpctl), "schedule", "all"], env=self.env)
