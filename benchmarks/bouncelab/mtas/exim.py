"""Exim 4 (Debian's exim4-daemon-light), extracted, with a configuration file of its own.

``exim4 -C FILE -bdf -qNs`` runs the listening daemon and the queue runner
in the foreground. Spool, logs and pid file live under the lab's folder.
A manualroute router sends each domain to its lab host (``byname``: the
sandbox's /etc/hosts, no DNS); an unknown host fails at once
(``host_find_failed = fail``), a redirect router forwards the lab's
forwarded addresses. The extracted binary's setuid bit is dropped: Exim runs
as root and gives up privilege to ``Debian-exim`` (a user of the sandbox's
private /etc/passwd) without ever regaining it through exec, so the dynamic
loader keeps honouring LD_LIBRARY_PATH.
"""

from __future__ import annotations

import os
import pwd

from ..packages import extracted, library_path
from . import BOUNCE_DOMAIN, COLLECTOR_HOST, MTA

EXIM_UID = 2301


class Exim(MTA):
    name = "exim"
    packages = ("exim4-daemon-light", "exim4-base", "libidn12")

    def configure(self) -> None:
        pkg = self.files or extracted(self.packages)
        self.binary = pkg / "usr" / "sbin" / "exim4"
        os.chmod(self.binary, 0o755)
        self.env = {"LD_LIBRARY_PATH": library_path(pkg)}
        root = self.setup.root
        for folder in ("spool", "log"):
            (root / folder).mkdir(parents=True, exist_ok=True)
            os.chown(root / folder, EXIM_UID, EXIM_UID)
        try:
            pwd.getpwnam("Debian-exim")
        except KeyError:
            self.sandbox.users.append(f"Debian-exim:x:{EXIM_UID}:{EXIM_UID}::{root}:/usr/sbin/nologin")
            self.sandbox.groups.append(f"Debian-exim:x:{EXIM_UID}:")
        routes = [f"{BOUNCE_DOMAIN}: {COLLECTOR_HOST}"]
        lmtp = []
        for domain, (host, kind) in sorted(self.setup.routes.items()):
            (lmtp if kind == "lmtp" else routes).append(f"{domain}: {host}")
        (root / "routes").write_text("\n".join(routes) + "\n")
        (root / "lmtp-routes").write_text("\n".join(lmtp) + "\n")
        (root / "forwards").write_text("".join(f"{a}: {b}\n" for a, b in sorted(self.setup.forwards.items())))
        (root / "exim.conf").write_text(self._conf())

    def _conf(self) -> str:
        root, t, port = self.setup.root, self.setup.timings, self.setup.lab_port
        return f"""\
primary_hostname = mx1.exim.lab.test
qualify_domain = exim.lab.test
exim_path = {self.binary}
spool_directory = {root}/spool
log_file_path = {root}/log/%slog
pid_file_path = {root}/exim.pid
daemon_smtp_ports = {self.setup.port}
local_interfaces = {self.setup.listen}
host_lookup =
rfc1413_hosts =
never_users =
keep_environment = LD_LIBRARY_PATH
tls_advertise_hosts =
dsn_advertise_hosts = *
delay_warning = {t.warn_after}s
delay_warning_condition = true
ignore_bounce_errors_after = 10m
timeout_frozen_after = 10m
acl_smtp_rcpt = acl_check_rcpt

begin acl
acl_check_rcpt:
  accept hosts = 127.0.0.0/8
  deny

begin routers
forwarded:
  driver = redirect
  data = ${{lookup{{$local_part@$domain}}lsearch{{{root}/forwards}}}}
mailbox_server:
  driver = manualroute
  domains = partial-lsearch;{root}/lmtp-routes
  route_data = ${{lookup{{$domain}}lsearch{{{root}/lmtp-routes}}}} byname
  transport = lmtp_delivery
  no_more
lab_hosts:
  driver = manualroute
  route_data = ${{lookup{{$domain}}lsearch{{{root}/routes}}{{$value}}{{mx.$domain}}}} byname
  host_find_failed = fail
  transport = remote_smtp
  no_more

begin transports
remote_smtp:
  driver = smtp
  port = {port}
  multi_domain = false
  connect_timeout = {t.connect_timeout}s
  command_timeout = {t.command_timeout}s
  data_timeout = {t.command_timeout}s
lmtp_delivery:
  driver = smtp
  protocol = lmtp
  port = {self.setup.dovecot_port}
  connect_timeout = {t.connect_timeout}s

begin retry
*  *  F,{t.expire_after}s,{t.retry_every}s
"""

    def start(self) -> None:
        self.sandbox.start([str(self.binary), "-C", str(self.setup.root / "exim.conf"), "-bdf",
                            f"-q{self.setup.timings.retry_every}s"], env=self.env)

    def flush(self) -> None:
        self.sandbox.run([str(self.binary), "-C", str(self.setup.root / "exim.conf"), "-qf"], env=self.env)
