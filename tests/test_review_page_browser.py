"""The review page in a real browser (headless Chromium via Playwright) with hostile mail.

Replies carry script tags, event handlers, ``javascript:`` links, CSS and
image beacons, SVG with script, forms, meta refresh, mXSS tricks and broken
markup, all pointing at a local beacon server. The page must show them
without running a single script and without one request reaching the
beacon, until the reviewer clicks "Load remote content" (then images only).
Keyboard shortcuts are exercised for real, and a screenshot of the page is
taken; with ``RESPONSEMASTER_UPDATE_SCREENSHOT=1`` (``.ci/run``) it replaces
``docs/review-page.png``, the picture docs/api.md shows.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.api_setup import ApiEnv, add_message, build_env
from fixtures.browser import Beacon, UvicornThread, beacon, chromium  # noqa: F401 - fixtures
from sqlalchemy import select

from responsemaster.store import Store, make_engine, upgrade_to_head
from responsemaster.store.messages import ReviewItem

pytestmark = pytest.mark.integration
DOCS = Path(__file__).resolve().parent.parent / "docs"
#: Set to 1 (``.ci/run`` does) to refresh the tracked ``docs/review-page.png``; else the shot goes to a temp folder.
UPDATE_SCREENSHOT = "RESPONSEMASTER_UPDATE_SCREENSHOT"


def _screenshot_path(tmp: Path) -> Path:
    """Where the screenshot goes: the docs only when asked, so a test run leaves the working tree clean."""
    return DOCS / "review-page.png" if os.environ.get(UPDATE_SCREENSHOT) == "1" else tmp / "review-page.png"
PWNED_MARKERS = ("pwned",)


def hostile_html(b: str) -> str:
    return f"""<html><head><title>pwned-title</title><base href="{b}/base/">
<meta http-equiv="refresh" content="0;url={b}/refresh">
<link rel="stylesheet" href="{b}/link.css"><link rel="prefetch" href="{b}/prefetch">
<style>@import url({b}/import.css); body {{ background: url({b}/style-bg.png) }}
@font-face {{ font-family: x; src: url({b}/font.woff) }}</style>
<script>window.top.name='pwned-script'; document.title='pwned'; fetch('{b}/script-fetch');</script>
</head><body onload="window.top.name='pwned-body'; fetch('{b}/body-onload')">
<p style="color:#0a5; font-weight:bold">Hi team, thanks for the newsletter! Could you update my address?</p>
<p style="background-image:url({b}/inline-bg.png); behavior:url({b}/htc)">Styled paragraph</p>
<img src="{b}/img-beacon.png" alt="tracking pixel" onerror="window.top.name='pwned-onerror'; fetch('{b}/onerror')">
<img src="x" onerror="document.title='pwned-onerror2'">
<img src="javascript:window.top.name='pwned-img-js'">
<img srcset="{b}/srcset.png 1x" src="cid:logo@mail">
<a href="javascript:window.top.name='pwned-js-link'" id="jslink">a js link</a>
<a href="data:text/html,<script>fetch('{b}/data-url')</script>">data link</a>
<svg width="10" height="10" onload="window.top.name='pwned-svg'"><script>fetch('{b}/svg-script')</script>
<image href="{b}/svg-image.png"/><foreignObject><iframe src="{b}/svg-iframe"></iframe></foreignObject></svg>
<iframe src="{b}/iframe"></iframe><iframe srcdoc="<script>parent.parent.name='pwned-srcdoc'</script>"></iframe>
<object data="{b}/object"></object><embed src="{b}/embed">
<video poster="{b}/poster.png"><source src="{b}/video.mp4"></video><audio src="{b}/audio.mp3" autoplay></audio>
<form action="{b}/form" method="post"><input type="image" src="{b}/input.png"><button formaction="{b}/x">go</button></form>
<table background="{b}/table-bg.png"><tr><td background="{b}/td-bg.png">cell</td></tr></table>
<noscript><p title="</noscript><img src=x onerror=window.top.name='pwned-noscript'>"></noscript>
<details open ontoggle="window.top.name='pwned-toggle'">details</details>
<input autofocus onfocus="window.top.name='pwned-focus'">
<blockquote>&gt; On Monday the newsletter wrote: lots of news</blockquote>
<p>Malformed <b><i>markup</b></i> <div <p>unclosed "quotes <scr<script>ipt>fetch('{b}/split')</script>
<math><mtext><table><mglyph><style><img src={b}/mxss onerror=window.top.name='pwned-mxss'>
</body></html>"""


def hostile_message(b: str) -> bytes:
    png = base64.b64encode(Beacon.GIF).decode()
    html = hostile_html(b)
    return (
        "From: \"Ann <img src=x onerror=alert(1)>\" <ann@example.org>\r\nTo: news@example.com\r\n"
        f"Subject: Re: Newsletter <script>fetch('{b}/subject')</script>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/related; boundary=\"rel\"\r\n\r\n"
        "--rel\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"
        "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHi team, thanks!\r\n"
        f"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--alt--\r\n"
        "--rel\r\nContent-Type: image/gif\r\nContent-ID: <logo@mail>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{png}\r\n--rel--\r\n"
    ).encode()


def text_message(b: str) -> bytes:
    return (f"From: bob@example.org\r\nTo: news@example.com\r\nSubject: plain\r\n\r\n"
            f"<script>window.top.name='pwned-text'; fetch('{b}/text')</script> please remove me\r\n").encode()


@pytest.fixture
def served(tmp_path: Path, beacon: Beacon) -> Iterator[tuple[ApiEnv, UvicornThread, list[int]]]:  # noqa: F811
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'rm.db'}")
    upgrade_to_head(engine)
    store = Store(engine, tmp_path / "var")
    env = build_env(store, tmp_path)
    b = beacon.url
    ids = [
        add_message(store, category="user_reply", review=0.41, confidence=0.41, raw=hostile_message(b),
                    subscriber="ann@example.org", campaign="spring",
                    reply_text=f"Hi team, thanks for the newsletter! Could you update my address?\n"
                               f"<script>window.top.name='pwned-reply'; fetch('{b}/reply')</script>")["review_id"],
        add_message(store, category="user_reply", review=0.55, confidence=0.55, raw=text_message(b),
                    reply_text="please remove me")["review_id"],
        add_message(store, category="auto_reply", review=0.93, confidence=0.93,
                    reply_text="I am out of the office until Monday.")["review_id"],
    ]
    server = UvicornThread(env.app).start()
    yield env, server, ids
    server.stop()
    store.close()


def _login(page: Any, server: UvicornThread, key: str) -> None:
    page.goto(f"{server.url}/review")
    assert "/review/login" in page.url
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/review")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["rm_session"]["httpOnly"] and key not in {c["value"] for c in cookies.values()}  # a session, not the key


def _no_script_ran(page: Any) -> None:
    assert page.evaluate("window.name") == ""
    assert not any(m in page.title() for m in PWNED_MARKERS)
    frame = page.frame_locator("#mail-frame")
    assert frame.locator("body").count() == 1


def test_hostile_mail_runs_no_script_and_fetches_nothing(
    chromium: Any, served: tuple[ApiEnv, UvicornThread, list[int]], beacon: Beacon  # noqa: F811
) -> None:
    env, server, ids = served
    context = chromium.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _login(page, server, env.keys["write"])
    for item_id in ids[:2]:
        page.goto(f"{server.url}/review/{item_id}")
        page.wait_for_load_state("networkidle")
        frame = page.frame_locator("#mail-frame")
        frame.locator("body").wait_for()
        if item_id == ids[0]:
            assert "Could you update my address?" in frame.locator("body").inner_text()
            assert page.get_attribute("#mail-frame", "sandbox") == ""
            frame.locator("text=a js link").click()
            frame.locator("text=data link").click(modifiers=["Shift"])
            frame.locator("text=details").click()
            assert page.locator(".notice").inner_text().startswith("1 remote image blocked")
            assert "<script>" in page.locator("pre.reply-text").inner_text()
            page.screenshot(path=str(_screenshot_path(env.tmp)), full_page=True)
        else:
            assert "<script>" in frame.locator("pre").inner_text()  # shown as text, not run
        time.sleep(0.5)
        _no_script_ran(page)
    srcdoc = page.goto(f"{server.url}/review/{ids[0]}").text()
    for needle in ("<script", "onerror", "onload", "javascript:", "ontoggle", "onfocus"):
        assert needle not in srcdoc.split('srcdoc="', 1)[1].lower().replace("&lt;script", "")
    time.sleep(0.5)
    assert beacon.hits == [], f"hostile mail reached the beacon: {beacon.hits}"
    assert not [u for u in requests if u.startswith(beacon.url)]
    assert dialogs == []
    assert len(context.pages) == 1
    context.close()


def test_load_remote_content_fetches_images_only_when_asked(
    chromium: Any, served: tuple[ApiEnv, UvicornThread, list[int]], beacon: Beacon  # noqa: F811
) -> None:
    env, server, ids = served
    context = chromium.new_context()
    page = context.new_page()
    _login(page, server, env.keys["read"])
    page.goto(f"{server.url}/review/{ids[0]}")
    page.wait_for_load_state("networkidle")
    assert beacon.hits == []
    page.click("#load-remote")
    page.wait_for_load_state("networkidle")
    time.sleep(0.5)
    assert set(beacon.hits) == {"/img-beacon.png"}, beacon.hits
    _no_script_ran(page)
    context.close()


def test_keyboard_relabel_resolve_and_navigation(
    chromium: Any, served: tuple[ApiEnv, UvicornThread, list[int]]  # noqa: F811
) -> None:
    env, server, ids = served
    context = chromium.new_context()
    page = context.new_page()
    _login(page, server, env.keys["write"])
    page.keyboard.press("j")
    assert page.locator("tr.selected td.num").inner_text() == "0.55"
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/review/{ids[0]}")
    page.keyboard.press("j")
    page.wait_for_url(f"{server.url}/review/{ids[1]}")
    page.keyboard.press("k")
    page.wait_for_url(f"{server.url}/review/{ids[0]}")
    page.keyboard.press("2")  # auto_reply, then on to the next item
    page.wait_for_url(f"{server.url}/review/{ids[1]}")
    page.keyboard.press("r")
    page.wait_for_url(f"{server.url}/review/{ids[2]}")
    with env.store.reader() as s:
        items = {i.id: i for i in s.execute(select(ReviewItem)).scalars()}
    assert (items[ids[0]].relabelled_to, items[ids[0]].state) == ("auto_reply", "resolved")
    assert (items[ids[1]].relabelled_to, items[ids[1]].state) == ("", "resolved")
    assert items[ids[0]].resolved_by == "key:writeer"
    assert (env.training_dir / "auto_reply").is_dir()
    context.close()


def test_read_only_key_cannot_relabel_and_forms_need_the_token(
    chromium: Any, served: tuple[ApiEnv, UvicornThread, list[int]]  # noqa: F811
) -> None:
    env, server, ids = served
    context = chromium.new_context()
    page = context.new_page()
    _login(page, server, env.keys["read"])
    page.goto(f"{server.url}/review/{ids[0]}")
    with page.expect_response(lambda r: "/relabel" in r.url) as response:
        page.keyboard.press("1")
    assert response.value.status == 403
    writer = chromium.new_context()
    wpage = writer.new_page()
    _login(wpage, server, env.keys["write"])
    assert wpage.evaluate("typeof fetch") == "function"  # but the page's CSP (connect-src 'none') blocks it
    response = wpage.request.post(f"{server.url}/review/{ids[0]}/relabel", form={"category": "user_reply"},
                                  max_redirects=0)
    status = response.status
    assert status == 403  # cookie alone, without the form token
    with env.store.reader() as s:
        assert s.execute(select(ReviewItem.relabelled_to).where(ReviewItem.id == ids[0])).scalar_one() == ""
    context.close()
    writer.close()
