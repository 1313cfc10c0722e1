"""The operator console in a real browser against a real ``responsemaster serve``, end to end.

One Chromium session walks what an operator does on a fresh install: sign in,
create a list by uploading a CSV (with a broken row, a duplicate and a
hostile name), write a template and preview it, create a campaign to the
first 3 of the list, pre-flight it and send it to a local SMTP sink
(aiosmtpd), watch the campaign page refresh itself until it is sent, read
the delivery log; then a bounce and a hostile reply are dropped into the
Maildir and the real worker (``run --once``) records them, and the dashboard,
the failures view, the campaign page and the operation log show them.
Along the way: no script from data runs, no request leaves for another host,
the pages read with JavaScript off, the keyboard reaches everything.

With ``RESPONSEMASTER_UPDATE_SCREENSHOT=1`` (``.ci/run``) the screenshots of
the dashboard and of the campaign page replace ``docs/console-dashboard.png``
and ``docs/console-campaign.png`` (the README shows them).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from fixtures.browser import chromium  # noqa: F401 - fixture
from fixtures.sinks import SmtpSink
from fixtures.worker_setup import cli
from sqlalchemy import select
from test_run_serves_api import _read_until

from api.keys import create_key
from responsemaster.config import load_settings
from responsemaster.store import open_store
from responsemaster.store.platform import Delivery

pytestmark = pytest.mark.integration
DOCS = Path(__file__).resolve().parent.parent / "docs"
UPDATE_SCREENSHOT = "RESPONSEMASTER_UPDATE_SCREENSHOT"
VERP_SECRET = "console browser test secret, 32 bytes"
HOSTILE_NAME = "Eve <img src=x onerror=\"window.top.name='pwned-name'\">"
CSV = (
    "email,name,city\n"
    "ann@example.com,Ann,Lyon\n"
    "bob@example.net,Bob,Oslo\n"
    f"eve@example.org,\"{HOSTILE_NAME.replace(chr(34), chr(34) * 2)}\",Rome\n"
    "not-an-address,Nobody,Nowhere\n"
    "dan@example.com,Dan,Porto\n"
    "ANN@example.com,Ann again,Lyon\n"
    "fay@example.net,Fay,Riga\n"
)


@dataclass
class Console:
    url: str
    config: Path
    maildir: Path
    sink: SmtpSink
    keys: dict[str, str]
    tmp: Path
    log: Path

    def store(self):  # type: ignore[no-untyped-def]
        return open_store(load_settings(self.config))


def _config(tmp: Path, sink_port: int) -> Path:
    box = tmp / "returns"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    data: dict[str, Any] = {
        "var_dir": str(tmp / "var"),
        "database": {"url": f"sqlite:///{tmp / 'var' / 'rm.db'}"},
        "classify": {"use_model": False},
        "receiver": {"enabled": False},
        "api": {"port": 0, "serve_with_run": False, "key_cache_seconds": 0, "keep_results_slower_than": 1e9},
        "sources": [{"name": "returns", "type": "maildir", "path": str(box), "lease_seconds": 30}],
        "worker": {"settle_seconds": 0},
        "verp": {"keys": {"k1": VERP_SECRET}, "bounce_domain": "bounces.example.org"},
        "mailer": {"from_address": "News <news@example.org>", "unsubscribe_mailto": "unsubscribe@example.org",
                   "unsubscribe_url": "https://example.org/unsubscribe/{token}",
                   "relays": [{"name": "sink", "host": "127.0.0.1", "port": sink_port, "max_per_hour": 500,
                               "max_per_day": 5000}]},
    }
    path = tmp / "responsemaster.toml"
    path.write_text(tomli_w.dumps(data))
    return path


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    tmp = tmp_path_factory.mktemp("console")
    sink = SmtpSink()
    sink.controller.start()
    config = _config(tmp, sink.port)
    store = open_store(load_settings(config))
    with store.transaction() as session:
        keys = {scope: create_key(session, f"{scope}-op", scope) for scope in ("read", "write", "admin")}
    store.close()
    log = tmp / "serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "responsemaster", "serve", "--config", str(config),
                             "--log-level", "warning"], stdout=subprocess.PIPE, stderr=log.open("w"))
    try:
        banner = _read_until(proc, "/console\n", timeout=90)
        url = re.search(r"Console:\s+(http://127\.0\.0\.1:\d+)/console", banner)
        assert url, banner
        yield Console(url.group(1), config, tmp / "returns", sink, keys, tmp, log)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        sink.controller.stop()


def _shot(page: Any, tmp: Path, name: str) -> None:
    target = DOCS / name if os.environ.get(UPDATE_SCREENSHOT) == "1" else tmp / name
    page.screenshot(path=str(target), full_page=True)


def _sign_in(page: Any, console: Console, scope: str, where: str = "/console") -> None:
    page.goto(console.url + where)
    assert "/review/login" in page.url
    page.fill("input[name=key]", console.keys[scope])
    page.click("button[type=submit]")
    page.wait_for_url(console.url + where)


def _dsn(return_path: str, address: str, message_id: str) -> bytes:
    diagnostic = f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in local recipient table"
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        f"To: <{return_path}>\r\nDelivered-To: {return_path}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn.1@mx.example.com>\r\n"
        "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"rep\"\r\n\r\n"
        "--rep\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        f"This is the mail system at host mx.example.com.\r\n\r\nI'm sorry to have to inform you that your message"
        f" could not be delivered to one or more recipients.\r\n\r\n<{address}>: host mx.example.com said: {diagnostic}\r\n\r\n"
        "--rep\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; {address}\r\nOriginal-Recipient: rfc822; {address}\r\nAction: failed\r\n"
        f"Status: 5.1.1\r\nRemote-MTA: dns; mx.example.com\r\nDiagnostic-Code: smtp; {diagnostic}\r\n\r\n"
        "--rep\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {message_id}\r\nTo: {address}\r\nSubject: News\r\n\r\n--rep--\r\n"
    ).encode()


def _reply(address: str, message_id: str) -> bytes:
    return (
        f"From: Bob <{address}>\r\nTo: News <news@example.org>\r\nSubject: Re: News\r\n"
        f"Message-ID: <reply.1@example.net>\r\nIn-Reply-To: {message_id}\r\nReferences: {message_id}\r\n"
        "Date: Mon, 23 Nov 2026 11:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Thanks for the news! Could you send the price list again?\r\n"
        "<script>window.top.name='pwned-reply'</script>\r\n"
    ).encode()


def _drop(maildir: Path, name: str, raw: bytes) -> None:
    (maildir / "tmp" / name).write_bytes(raw)
    os.rename(maildir / "tmp" / name, maildir / "new" / name)


def _wait_for_text(page: Any, selector: str, text: str, timeout: float = 60) -> None:
    """Reload (the page refreshes itself too) until ``selector`` shows ``text``."""
    deadline = time.monotonic() + timeout
    while text not in page.inner_text(selector):
        assert time.monotonic() < deadline, f"{selector} never showed {text!r}: {page.inner_text(selector)!r}"
        page.wait_for_timeout(700)
        page.reload()


def test_an_operator_runs_a_campaign_and_reads_its_results(chromium: Any, console: Console) -> None:  # noqa: F811
    context = chromium.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _sign_in(page, console, "admin")
    assert page.locator("h1").inner_text() == "Dashboard"

    # A list by CSV upload: the CLI's report, rejected rows with their line numbers.
    page.click("nav >> text=Lists & subscribers")
    page.click("text=Import subscribers from a CSV file")
    page.set_input_files("input[name=file]", files=[{"name": "news.csv", "mimeType": "text/csv", "buffer": CSV.encode()}])
    page.fill("input[name=new_list]", "news")
    page.click("button:has-text('Import')")
    report = page.inner_text("#import-report")
    assert "line 5: " in report and "not-an-address" in report  # the broken row, by its line
    assert "line 7: duplicate of line 2" in report
    assert page.inner_text("#r-added") == "5"
    page.goto(console.url + "/console/lists")
    news = page.locator("#lists tr", has_text="news")
    assert news.locator("td[data-state=active]").inner_text() == "5"

    # A template, previewed for a chosen subscriber with the sandboxed renderer, then saved.
    page.goto(console.url + "/console/templates/new")
    page.fill("input[name=name]", "spring")
    page.fill("input[name=subject]", "News for {{ name }} in {{ city }}")
    page.fill("textarea[name=html]", "<p>Hello {{ name }} from {{ city }}!</p><script>window.top.name='pwned-template'</script>"
                                     "<p><a href=\"{{ unsubscribe_url }}\">unsubscribe</a></p>")
    page.fill("textarea[name=text]", "Hello {{ name }} from {{ city }}.")
    page.fill("input[name=subscriber]", "eve@example.org")
    page.click("button[value=preview]")
    assert page.inner_text("#preview-subject") == f"News for {HOSTILE_NAME} in Rome"  # shown as text
    frame = page.frame_locator("#preview-frame")
    assert "Hello Eve <img src=x" in frame.locator("body").inner_text()  # the name is text in the HTML part too
    assert frame.locator("img").count() == 0 and frame.locator("script").count() == 0
    page.fill("textarea[name=text]", "Hello {{ nmae }}.")
    page.click("button[value=preview]")
    assert "'nmae' is undefined" in page.inner_text("#preview-error")  # what the pre-flight would stop on
    page.fill("textarea[name=text]", "Hello {{ name }")
    page.click("button[value=save]")
    assert "text:" in page.inner_text("#template-error")  # does not compile: not saved
    page.fill("textarea[name=text]", "Hello {{ name }} from {{ city }}.")
    page.click("button[value=save]")
    page.wait_for_url(re.compile(r"/console/templates/spring\?"))
    assert "Saved." in page.inner_text("main")
    assert page.inner_text("#preview-text").startswith("Hello ")

    # A campaign to the first 3 of the list: pre-flight, send, watch it finish.
    page.goto(console.url + "/console/campaigns")
    page.fill("#new-campaign input[name=name]", "spring-news")
    page.select_option("#new-campaign select[name=list]", "news")
    page.select_option("#new-campaign select[name=template]", "spring")
    page.check("#new-campaign input[name=audience][value=first]")
    page.fill("#new-campaign input[name=limit]", "3")
    page.click("#new-campaign button[type=submit]")
    page.wait_for_url(console.url + "/console/campaigns/spring-news?done=created")
    assert page.inner_text("#campaign-status") == "draft"
    page.click("button:has-text('Pre-flight')")
    assert "Every message renders" in page.inner_text("#preflight-report")
    page.go_back()
    page.click("button:has-text('Send now')")
    _wait_for_text(page, "#campaign-status", "sent")
    assert console.sink.received == 3 and console.sink.distinct == 3
    assert page.inner_text("#progress-text").startswith("3 of about 3 handled: 3 accepted by the relay")
    assert page.locator("meta[http-equiv=refresh]").count() == 0  # done: it stops refreshing
    page.check("#send-more input[value=all]")  # then to the rest of the list: nobody twice
    page.click("#send-more button")
    _wait_for_text(page, "#progress-text", "5 of about 5 handled")
    assert page.inner_text("#campaign-status") == "sent"
    assert console.sink.received == 5 and console.sink.distinct == 5

    # The delivery log, filtered, with the relay that took each message.
    page.click("text=The delivery log of this campaign")
    rows = page.locator("#deliveries tbody tr")
    assert rows.count() == 5 and all("sink" in rows.nth(i).inner_text() for i in range(5))
    page.select_option("select[name=outcome]", "failed")
    page.click("form[aria-label='Filter the delivery log'] button")
    assert "No delivery matches." in page.inner_text("main")
    page.select_option("select[name=outcome]", "sent")
    page.click("form[aria-label='Filter the delivery log'] button")
    with page.expect_download() as download:
        page.click("#log-export")
    lines = Path(download.value.path()).read_text().strip().splitlines()
    assert lines[0].startswith("id,campaign,address") and len(lines) == 6  # the header and the 5 rows shown

    # A bounce for one recipient and a reply from another come back; the real worker records them.
    store = console.store()
    with store.reader() as session:
        sent = {d.address: d for d in session.execute(select(Delivery)).scalars()}
    store.close()
    bounced, replier = sorted(a for a in sent if a != "eve@example.org")[:2]
    _drop(console.maildir, "1.dsn", _dsn(sent[bounced].return_path, bounced, sent[bounced].message_id))
    _drop(console.maildir, "2.reply", _reply(replier, sent[replier].message_id))
    done = cli("run", "--once", "--config", str(console.config))
    assert done.returncode == 0, done.stderr

    page.goto(console.url + "/console")
    assert page.locator("#range-h ~ dl .tile", has_text="Bounced").locator("dd").inner_text() == "1"
    assert page.locator("#range-h ~ dl .tile", has_text="Sent").first.locator("dd").inner_text() == "5"
    table = page.locator("#returns-table")
    assert "hard_bounce" in (table.locator("thead").text_content() or "")
    assert table.locator("tfoot td").last.text_content() == "2"  # the bounce and the reply
    _shot(page, console.tmp, "console-dashboard.png")
    page.goto(console.url + "/console/failures")
    assert "1 addresses do not exist" in page.inner_text("#failure-summary")
    page.click("#by-reason a")
    assert bounced in page.inner_text("#failed-addresses")
    page.goto(console.url + "/console/campaigns/spring-news")
    assert page.inner_text("#c-bounced") == "1"
    # The prune shrank the list; the campaign still planned (and handled) five.
    assert page.inner_text("#progress-text").startswith("5 of about 5 handled")
    assert "<script>" in page.inner_text("#c-replies")  # the reply's text, shown as text
    _shot(page, console.tmp, "console-campaign.png")
    page.goto(console.url + f"/console/lists/subscriber?address={bounced}")
    assert page.inner_text("#sub-status") == "pruned" and "userunknown" in page.inner_text("#history")

    # Who did what, from where.
    page.goto(console.url + "/console/oplog")
    log = page.inner_text("#oplog")
    for operation in ("subscribers.import", "template.save", "campaign.create", "campaign.send", "campaign.limit"):
        assert re.search(rf"key:admin-op\s+127\.0\.0\.1\s+{re.escape(operation)}", log), (operation, log)

    assert page.evaluate("window.name") == "" and dialogs == []
    assert [u for u in requests if not u.startswith(console.url)] == []
    context.close()


def test_pages_read_without_javascript_and_with_the_keyboard(chromium: Any, console: Console) -> None:  # noqa: F811
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    _sign_in(page, console, "read")
    for path, heading in (("/console", "Dashboard"), ("/console/lists", "Lists & subscribers"),
                          ("/console/campaigns", "Campaigns"), ("/console/sending", "Sending"),
                          ("/console/failures", "Failures"), ("/console/templates", "Templates")):
        response = page.goto(console.url + path)
        assert response is not None and response.status == 200
        assert page.locator("h1").first.inner_text().startswith(heading)
        assert "script-src 'self'" in response.headers["content-security-policy"]
    assert page.locator("nav a[href='/console/oplog']").count() == 0  # admin pages are not offered to read keys
    context.close()

    context = chromium.new_context()
    page = context.new_page()
    _sign_in(page, console, "write", "/console/campaigns")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name)""")
    assert unlabelled == []
    page.focus("#new-campaign input[name=name]")
    page.keyboard.type("by-keyboard")
    for _ in range(8):  # list, template, from, reply-to, the two choices, the number, the button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.type") == "submit":
            break
    assert page.evaluate("document.activeElement.textContent") == "Create draft"
    page.keyboard.press("Enter")
    page.wait_for_url(console.url + "/console/campaigns/by-keyboard?done=created")
    context.close()
