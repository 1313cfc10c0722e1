"""Dovecot's LMTP server with a quota rule: real "mailbox full" refusals, not scripted ones.

The machine's Dovecot (dovecot-core) runs ``dovecot -F -c FILE`` in a
sandbox; its LMTP service binary comes from Debian's dovecot-lmtpd package,
downloaded and extracted like the MTAs (``service lmtp { executable }``),
so it has to match dovecot-core's version, which Debian's archive keeps in
step. Every quota recipient of the plan is a user with a 2 KB storage rule;
those planned for a RCPT-stage refusal get a Maildir already over quota
(``lmtp_rcpt_check_quota``: "552 5.2.2 <user> Quota exceeded (mailbox for
user is full)" at RCPT), the others an empty one that the lab's message
tips over at end of DATA. The MTAs reach it with their LMTP clients.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import time
from pathlib import Path

from ..packages import extracted
from ..sandbox import Sandbox

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
QUOTA_BYTES = 2048

CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = lmtp
listen = {listen}
ssl = no
default_internal_user = {internal}
default_internal_group = {internal}
default_login_user = {login}
first_valid_uid = {uid}
last_valid_uid = {uid}
mail_location = maildir:{root}/mail/%Lu
mail_plugins = quota
lmtp_rcpt_check_quota = yes
auth_username_format = %Lu
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%Lu {root}/users
}}
service lmtp {{
  executable = {lmtp}
  inet_listener lmtp {{
    address = {listen}
    port = {port}
  }}
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
plugin {{
  quota = maildir:User quota
  quota_rule = *:storage={quota}B
}}
"""


class Dovecot:
    name = "dovecot"
    packages = ("dovecot-lmtpd",)

    def __init__(self, root: Path, listen: str, port: int) -> None:
        self.root, self.listen, self.port = root, listen, port
        self.sandbox = Sandbox("dovecot", root)

    def configure(self, full: list[str], empty: list[str]) -> None:
        if not Path(DOVECOT).exists():
            raise SystemExit("bouncelab: dovecot is not installed (apt-get install dovecot-core)")
        lmtp = extracted(self.packages) / "usr" / "lib" / "dovecot" / "lmtp"
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chown(self.root / "mail", uid, gid)
        lines = []
        for address in full + empty:
            lines.append(f"{address.lower()}:{{PLAIN}}lab:{uid}:{gid}::{self.root / 'mail' / address.lower()}::\n")
            maildir = self.root / "mail" / address.lower()
            for sub in ("cur", "new", "tmp"):
                (maildir / sub).mkdir(parents=True, exist_ok=True)
            # Over quota already, or just under it: the lab's message (~700 bytes) tips it over.
            size = QUOTA_BYTES * 2 if address in full else QUOTA_BYTES - 300
            (maildir / "cur" / "1700000000.M1P1.lab:2,S").write_bytes(b"Subject: old mail\n\n" + b"x" * size + b"\n")
            for path in [maildir, *maildir.rglob("*")]:
                os.chown(path, uid, gid)
        (self.root / "users").write_text("".join(lines))
        internal, login = ("dovecot", "dovenull") if os.geteuid() == 0 else (pwd.getpwuid(os.getuid()).pw_name,) * 2
        (self.root / "dovecot.conf").write_text(CONF.format(
            root=self.root, listen=self.listen, port=self.port, lmtp=lmtp, internal=internal, login=login,
            uid=uid, quota=QUOTA_BYTES))

    def start(self) -> None:
        self.sandbox.start([DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.sandbox.process is None or self.sandbox.process.poll() is not None:
                break
            with socket.socket() as sock:
                if sock.connect_ex((self.listen, self.port)) == 0:
                    return
            time.sleep(0.2)
        log = self.root / "dovecot.log"
        raise SystemExit(f"bouncelab: dovecot did not start: {log.read_text()[-1500:] if log.exists() else ''}"
                         f"{self.sandbox.output()[-500:]}")

    def stop(self) -> None:
        self.sandbox.stop()
