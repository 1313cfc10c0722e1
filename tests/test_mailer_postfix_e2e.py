"""The whole loop with a real MTA: mailer -> Postfix -> real DSNs -> Maildir -> worker -> pruned.

Debian's Postfix runs from a throwaway configuration directory (``postfix -c
DIR``) with its own queue and data directories, listening on a loopback
port. It is both the relay the mailer talks to and the destination of the
test domain ``users.test``, whose mailboxes (virtual_mailbox_maps, Maildirs
in the temp dir) exist for some users and not for others. It accepts every
recipient at RCPT (``smtpd_reject_unlisted_recipient = no``), as a relay in
front of a real mailbox server would, then bounces the unknown ones itself:
real RFC 3464 DSNs, sent to the VERP return path, which it delivers to the
``bounces@bounces.test`` Maildir (``recipient_delimiter = +``). The worker
drains that Maildir; the token in the envelope recipient attributes each
bounce to the campaign and the subscriber.

Needs root (Postfix's master starts as root and drops to the ``postfix``
user). Without Postfix the test fails under CI and skips elsewhere.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.servers import free_port, missing, wait_for_port
from sqlalchemy import select
from test_mailer_support import make_settings, open_test_store, populate, simple_campaign

from mailer.analytics import campaign_stats
from mailer.service import send_campaign
from responsemaster.store.messages import MessageVerdict, RecipientVerdictRow
from responsemaster.store.subscribers import Campaign, Subscriber, Suppression
from responsemaster.worker_runtime import Runtime, build_sources

pytestmark = pytest.mark.integration

EXISTING = ["alice@users.test", "bob@users.test", "carol@users.test"]
MISSING = ["zed@users.test", "yan@users.test"]

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
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
virtual   unix  - n n -  - virtual
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class Postfix:
    """One private Postfix instance: config, queue, data and mailboxes under ``root``."""

    def __init__(self, root: Path, mailboxes: list[str]) -> None:
        self.root, self.port = root, free_port()
        self.conf, self.mail = root / "conf", root / "mail"
        owner = pwd.getpwnam("postfix")
        for folder in (self.conf, root / "spool", root / "data", self.mail):
            folder.mkdir(parents=True)
        for folder in (root / "data", self.mail):
            os.chown(folder, owner.pw_uid, owner.pw_gid)
        (root / "vmailbox").write_text("".join(f"{a} {a.split('@')[1]}/{a.split('@')[0]}/\n" for a in mailboxes))
        (self.conf / "main.cf").write_text(self._main_cf(owner.pw_uid, owner.pw_gid))
        (self.conf / "master.cf").write_text(MASTER_CF.format(listen=f"127.0.0.1:{self.port}"))

    def _main_cf(self, uid: int, gid: int) -> str:
        root = self.root
        return f"""\
compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.postfix-e2e.test
mydomain = postfix-e2e.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
virtual_mailbox_domains = users.test, bounces.test
virtual_mailbox_base = {self.mail}
virtual_mailbox_maps = texthash:{root}/vmailbox
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
recipient_delimiter = +
smtpd_reject_unlisted_recipient = no
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
maillog_file = {root}/postfix.log
maillog_file_prefixes = {root}
smtputf8_enable = no
delay_warning_time = 0
biff = no
"""

    def postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        # Postfix reports fatal errors on stderr only when it is a terminal; `script` gives it one.
        command = " ".join(["postfix", "-c", str(self.conf), *args])
        return subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True, timeout=60, check=False)

    def maildir(self, address: str) -> Path:
        local, domain = address.split("@")
        return self.mail / domain / local

    def log(self) -> str:
        path = self.root / "postfix.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def postfix() -> Iterator[Postfix]:
    if shutil.which("postfix") is None or shutil.which("script") is None:
        missing("postfix is not installed (apt-get install postfix bsdutils)")
    if os.geteuid() != 0:
        missing("the Postfix end-to-end test needs root: Postfix's master starts as root and drops to 'postfix'")
    # Not pytest's tmp_path: it is private to root, and Postfix's daemons run as 'postfix'.
    root = Path(tempfile.mkdtemp(prefix="rm-postfix-"))
    os.chmod(root, 0o755)
    server = Postfix(root, [*EXISTING, "bounces@bounces.test"])
    started = server.postfix("start")
    try:
        if started.returncode != 0:
            pytest.fail(f"postfix did not start: {started.stdout}{started.stderr}\n{server.log()}")
        wait_for_port(server.port)
        yield server
    finally:
        server.postfix("stop")
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_files(folder: Path, count: int, timeout: float = 60.0) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = sorted((folder / "new").glob("*")) if (folder / "new").is_dir() else []
        if len(files) >= count:
            return files
        time.sleep(0.2)
    raise AssertionError(f"{folder}: expected {count} messages after {timeout}s")


def test_campaign_through_postfix_prunes_exactly_the_missing_users(tmp_path, postfix):
    bounces = postfix.maildir("bounces@bounces.test")
    settings = make_settings(
        tmp_path, [{"name": "postfix", "host": "127.0.0.1", "port": postfix.port, "max_connections": 2}],
        from_address="News <news@example.org>",
    )
    settings.sections["verp"]["bounce_domain"] = "bounces.test"
    settings.sections["sources"] = [{"name": "postfix-returns", "type": "maildir", "path": str(bounces)}]
    settings.classify.use_model = False
    store = open_test_store(settings)
    populate(store, EXISTING + MISSING)
    cid = simple_campaign(store, name="e2e-campaign")

    result = send_campaign(settings, cid, store=store)
    assert result.status == "sent" and result.counts["sent"] == 5, (result, postfix.log())
    for address in EXISTING:
        assert len(_wait_for_files(postfix.maildir(address), 1)) == 1
    returned = _wait_for_files(bounces, len(MISSING))
    assert all(b"Delivery-Status" in p.read_bytes() or b"delivery-status" in p.read_bytes() for p in returned)

    runtime = Runtime.build(settings)  # reads the [verp] keys and resolves token ids through the store
    try:
        totals = runtime.drain_all_once(build_sources(settings), settle_seconds=2)
    finally:
        runtime.close()
    assert sum(t.processed for t in totals.values()) == len(MISSING)

    with store.reader() as session:
        subs = {s.address: s for s in session.execute(select(Subscriber)).scalars()}
        verdicts = session.execute(select(MessageVerdict)).scalars().all()
        reasons = session.execute(select(RecipientVerdictRow.address, RecipientVerdictRow.reason)).all()
        suppressed = set(session.execute(select(Suppression.address_key)).scalars())
        stats = campaign_stats(session, session.get(Campaign, cid))
    assert {a: subs[a].status for a in MISSING} == {a: "pruned" for a in MISSING}
    assert {a: subs[a].status for a in EXISTING} == {a: "active" for a in EXISTING}
    assert suppressed == set(MISSING)
    assert sorted((v.category, v.campaign, v.via, v.subscriber) for v in verdicts) == sorted(
        ("hard_bounce", "e2e-campaign", "verp", a) for a in MISSING)
    assert sorted(reasons) == sorted((a, "userunknown") for a in MISSING)
    assert stats["sent"] == 5 and stats["bounced_by_category"] == {"hard_bounce": 2}
