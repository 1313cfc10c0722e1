"""Postfix, Debian's system installation, with a configuration directory of its own.

``postfix -c DIR start-fg`` as PID 1 of the sandbox runs ``master -i`` in
the foreground. Queue, data directory and log live under the lab's folder;
transport_maps send each domain to its lab host (``[host]:port``, no MX
lookup) and, with DNS support disabled and native host lookups, names come
from the sandbox's /etc/hosts only.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess

from . import BOUNCE_DOMAIN, COLLECTOR_HOST, MTA

MASTER_CF = """\
{listen} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
lmtp      unix  - - n -  - lmtp
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class Postfix(MTA):
    name = "postfix"

    def configure(self) -> None:
        if shutil.which("postfix") is None:
            raise SystemExit("bouncelab: postfix is not installed (apt-get install postfix)")
        root = self.setup.root
        conf = root / "conf"
        for folder in (conf, root / "spool", root / "data"):
            folder.mkdir(parents=True, exist_ok=True)
        owner = pwd.getpwnam("postfix")
        os.chown(root / "data", owner.pw_uid, owner.pw_gid)
        port = self.setup.lab_port
        lines = [f"{BOUNCE_DOMAIN} smtp:[{COLLECTOR_HOST}]:{port}"]
        for domain, (host, kind) in sorted(self.setup.routes.items()):
            if kind == "lmtp":
                lines.append(f"{domain} lmtp:inet:[{host}]:{self.setup.dovecot_port}")
            else:
                lines.append(f"{domain} smtp:[{host}]:{port}")
        (root / "transport").write_text("\n".join(lines) + "\n")
        (root / "forwards").write_text("".join(f"{a} {b}\n" for a, b in sorted(self.setup.forwards.items())))
        (conf / "main.cf").write_text(self._main_cf())
        (conf / "bounce.cf").write_text(self._templates(conf))
        (conf / "master.cf").write_text(MASTER_CF.format(listen=f"{self.setup.listen}:{self.setup.port}"))

    def _main_cf(self) -> str:
        root, t = self.setup.root, self.setup.timings
        return f"""\
compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mta1.postfix.lab.test
mydomain = postfix.lab.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
transport_maps = texthash:{root}/transport
virtual_alias_maps = texthash:{root}/forwards
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
smtpd_recipient_restrictions = permit_mynetworks, reject
maillog_file = {root}/postfix.log
maillog_file_prefixes = {root}
smtputf8_enable = no
biff = no
delay_warning_time = {t.warn_after}s
maximal_queue_lifetime = {t.expire_after}s
bounce_queue_lifetime = {t.expire_after}s
queue_run_delay = {t.retry_every}s
minimal_backoff_time = {t.retry_every}s
maximal_backoff_time = {t.retry_every * 2}s
smtp_connect_timeout = {t.connect_timeout}s
smtp_helo_timeout = {t.command_timeout}s
lmtp_connect_timeout = {t.connect_timeout}s
bounce_template_file = {root}/conf/bounce.cf
"""

    @staticmethod
    def _templates(conf) -> str:
        """Postfix's own DSN texts, with the usual 4 hours / 5 days in place of the lab's seconds.

        The lab's timings round to "0 hour(s)" in the delay template; real
        warnings say hours and days, so the template states the defaults.
        """
        got = subprocess.run(["postconf", "-c", str(conf), "-t"], capture_output=True, text=True, timeout=60,
                             check=False)
        text = got.stdout if got.returncode == 0 else ""
        return text.replace("$delay_warning_time_hours", "4").replace("$maximal_queue_lifetime_days", "5")

    def start(self) -> None:
        # Postfix prints its fatal errors on a terminal only; `script` gives it one.
        check = subprocess.run(["script", "-qec", f"postfix -c {self.setup.root / 'conf'} check", "/dev/null"],
                               capture_output=True, text=True, timeout=60, check=False)
        if check.returncode != 0:
            raise SystemExit(f"bouncelab: postfix configuration refused: {check.stdout.strip()}")
        self.sandbox.start(["postfix", "-c", str(self.setup.root / "conf"), "start-fg"])

    def flush(self) -> None:
        self.sandbox.run(["postqueue", "-c", str(self.setup.root / "conf"), "-f"])
