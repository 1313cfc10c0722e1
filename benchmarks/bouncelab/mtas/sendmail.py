"""Sendmail 8 (Debian's sendmail-bin), extracted, its sendmail.cf built with m4 from sendmail-cf.

``sendmail -C FILE -bD -qNs`` runs the daemon and queue runner in the
foreground. The .mc sets every path under the lab's folder, a mailertable
(``esmtp:[host]`` per domain, built with the package's makemap), a
service switch that resolves hosts from files only, the esmtp mailer's port
(``TCP $h PORT``) and short queue timeouts (Timeout.queuewarn/queuereturn).
"""

from __future__ import annotations

import subprocess

from ..packages import extracted, library_path
from . import BOUNCE_DOMAIN, COLLECTOR_HOST, MTA

MC = """\
divert(-1)
include(`{cf}/m4/cf.m4')
divert(0)dnl
VERSIONID(`bouncelab')dnl
OSTYPE(`linux')dnl
define(`confDOMAIN_NAME', `mx1.sendmail.lab.test')dnl
define(`QUEUE_DIR', `{root}/mqueue')dnl
define(`MSP_QUEUE_DIR', `{root}/mqueue')dnl
define(`confPID_FILE', `{root}/sendmail.pid')dnl
define(`STATUS_FILE', `{root}/statistics')dnl
define(`HELP_FILE', `{root}/helpfile')dnl
define(`confCW_FILE', `-o {root}/local-host-names')dnl
define(`confHOST_STATUS_DIRECTORY', `')dnl
define(`confSERVICE_SWITCH_FILE', `{root}/service.switch')dnl
define(`confHOSTS_FILE', `/etc/hosts')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`confBIND_OPTS', `-DNSRCH -DEFNAMES')dnl
define(`confDEF_USER_ID', `mail:mail')dnl
define(`confTRUSTED_USERS', `root')dnl
define(`confDONT_BLAME_SENDMAIL', `GroupWritableDirPathSafe,GroupReadableKeyFile')dnl
define(`confTO_QUEUEWARN', `{warn}s')dnl
define(`confTO_QUEUERETURN', `{expire}s')dnl
define(`confTO_CONNECT', `{connect}s')dnl
define(`confTO_ICONNECT', `{connect}s')dnl
define(`confTO_INITIAL', `{command}s')dnl
define(`confTO_HELO', `{command}s')dnl
define(`confMIN_QUEUE_AGE', `0')dnl
define(`confDELIVERY_MODE', `background')dnl
define(`ESMTP_MAILER_ARGS', `TCP $h {lab_port}')dnl
define(`SMTP_MAILER_ARGS', `TCP $h {lab_port}')dnl
undefine(`ALIAS_FILE')dnl
define(`confFORWARD_PATH', `')dnl
FEATURE(`nocanonify')dnl
FEATURE(`promiscuous_relay')dnl
FEATURE(`accept_unresolvable_domains')dnl
FEATURE(`mailertable', `hash {root}/mailertable')dnl
FEATURE(`virtusertable', `hash {root}/virtusertable')dnl
DAEMON_OPTIONS(`Port={port}, Addr={listen}, Name=MTA')dnl
MAILER(`local')dnl
MAILER(`smtp')dnl
"""


class Sendmail(MTA):
    name = "sendmail"
    packages = ("sendmail-bin", "sendmail-base", "sendmail-cf", "liblockfile1", "m4")

    def configure(self) -> None:
        pkg = self.files or extracted(self.packages)
        root, t = self.setup.root, self.setup.timings
        self.binary = pkg / "usr" / "libexec" / "sendmail" / "sendmail"
        self.env = {"LD_LIBRARY_PATH": library_path(pkg)}
        (root / "mqueue").mkdir(parents=True, exist_ok=True)
        (root / "mqueue").chmod(0o700)
        (root / "service.switch").write_text("hosts files\naliases files\n")
        (root / "statistics").touch()
        (root / "local-host-names").write_text("")
        mc = MC.format(cf=pkg / "usr" / "share" / "sendmail" / "cf", root=root, warn=t.warn_after,
                       expire=t.expire_after, connect=t.connect_timeout, command=t.command_timeout,
                       lab_port=self.setup.lab_port, port=self.setup.port, listen=self.setup.listen)
        (root / "sendmail.mc").write_text(mc)
        m4 = pkg / "usr" / "bin" / "m4"
        with open(root / "sendmail.cf", "w") as out:
            subprocess.run([str(m4), str(root / "sendmail.mc")], stdout=out, stderr=subprocess.DEVNULL, check=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin", **self.env})
        lines = [f"{BOUNCE_DOMAIN} esmtp:[{COLLECTOR_HOST}]"]
        lines += [f"{d} esmtp:[{host}]" for d, (host, kind) in sorted(self.setup.routes.items()) if kind == "smtp"]
        self._makemap(pkg, "mailertable", lines)
        # virtusertable only rewrites local domains; forwards are not offered by this MTA here.
        self._makemap(pkg, "virtusertable", [])

    def _makemap(self, pkg, name: str, lines: list[str]) -> None:
        makemap = pkg / "usr" / "libexec" / "sendmail" / "makemap"
        cf = str(self.setup.root / "sendmail.cf")
        subprocess.run([str(makemap), "-C", cf, "hash", str(self.setup.root / name)], input="\n".join(lines) + "\n",
                       text=True, check=True, timeout=60, env={"PATH": "/usr/bin:/bin", **self.env})

    def start(self) -> None:
        self.sandbox.start([str(self.binary), "-C", str(self.setup.root / "sendmail.cf"), "-bD",
                            f"-q{self.setup.timings.retry_every}s"], env=self.env)

    def flush(self) -> None:
        self.sandbox.run([str(self.binary), "-C", str(self.setup.root / "sendmail.cf"), "-q"], env=self.env)
