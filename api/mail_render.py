"""Turn an untrusted raw message into a safe HTML document for the review page's sandboxed frame.

nh3 (ammonia) keeps a fixed list of harmless tags and attributes and drops
everything else: ``<script>``/``<style>`` with their content, ``on*``
handlers, ``javascript:``/``vbscript:`` URLs, forms, ``<svg>``/``<math>``,
``<iframe>``/``<object>``, comments. On top of that:

- ``style`` attributes keep only layout and colour properties: nothing that
  can take a ``url(...)`` (background, list-style-image, content, cursor...),
  so CSS cannot fetch beacons or fonts;
- ``<img src>`` keeps ``data:`` raster images and the message's own ``cid:``
  parts (inlined as ``data:`` URLs); remote images are removed and counted,
  unless the reviewer asked for remote content;
- links keep http(s)/mailto only, with ``rel="noopener noreferrer nofollow"``.

The result is wrapped in a document whose own CSP forbids scripts; the page
shows it through ``<iframe sandbox srcdoc>`` (see :mod:`api.security_headers`).
"""

from __future__ import annotations

import base64
import copy
import email
import email.policy
import html
from dataclasses import dataclass, field
from email.message import Message

import nh3

from api.security_headers import frame_csp

MAX_HTML = 2_000_000
MAX_INLINE_IMAGE = 2_000_000
RASTER = ("image/png", "image/jpeg", "image/gif", "image/webp")
SAFE_CSS = {
    "color", "background-color", "font-weight", "font-style", "font-size", "font-family", "text-align",
    "text-decoration", "vertical-align", "line-height", "white-space", "width", "max-width", "height",
    "margin", "margin-top", "margin-bottom", "margin-left", "margin-right", "padding", "padding-top",
    "padding-bottom", "padding-left", "padding-right", "border", "border-top", "border-bottom", "border-left",
    "border-right", "border-color", "border-width", "border-style", "border-collapse", "border-spacing",
    "display", "direction",
}
_ATTRIBUTES = copy.deepcopy(nh3.ALLOWED_ATTRIBUTES)
_ATTRIBUTES.setdefault("*", set()).update({"style", "dir", "lang", "title", "align"})
_ATTRIBUTES["a"] = {"href", "title"}
_ATTRIBUTES["img"] = {"src", "alt", "width", "height", "title"}
for _tag in ("table", "td", "th", "tr", "tbody", "thead"):
    _ATTRIBUTES.setdefault(_tag, set()).update({"width", "valign", "bgcolor"})
_TAGS = set(nh3.ALLOWED_TAGS) - {"map", "area"}


@dataclass
class RenderedMail:
    document: str
    has_html: bool
    blocked_remote: int = 0
    headers: dict[str, str] = field(default_factory=dict)


def _decode(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        return content if isinstance(content, str) else content.decode("utf-8", "replace")
    except (LookupError, UnicodeError, AttributeError, ValueError):
        payload = part.get_payload(decode=True) or b""
        return payload.decode(part.get_content_charset() or "utf-8", "replace") if isinstance(payload, bytes) else ""


def _parts(msg: Message) -> tuple[str | None, str | None, dict[str, str]]:
    """First HTML body, first text body, and cid -> data: URL for inline raster images."""
    html_body = text_body = None
    cids: dict[str, str] = {}
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        cid = (part.get("Content-ID") or "").strip().strip("<>")
        if cid and ctype in RASTER:
            payload = part.get_payload(decode=True) or b""
            if isinstance(payload, bytes) and len(payload) <= MAX_INLINE_IMAGE:
                cids[cid] = f"data:{ctype};base64,{base64.b64encode(payload).decode('ascii')}"
            continue
        if disposition == "attachment":
            continue
        if ctype == "text/html" and html_body is None:
            html_body = _decode(part)
        elif ctype == "text/plain" and text_body is None:
            text_body = _decode(part)
    return html_body, text_body, cids


def sanitize(markup: str, cids: dict[str, str] | None = None, remote: bool = False) -> tuple[str, int]:
    """Safe HTML from ``markup``; the number of remote images removed."""
    cids = cids or {}
    blocked = 0

    def attribute_filter(tag: str, attr: str, value: str) -> str | None:
        nonlocal blocked
        lowered = value.strip().lower()
        if tag == "img" and attr == "src":
            if lowered.startswith("cid:"):
                return cids.get(value.strip()[4:])
            if lowered.startswith("data:"):
                return value if lowered.startswith(tuple(f"data:{t};" for t in RASTER)) else None
            if lowered.startswith(("http:", "https:")):
                if remote:
                    return value
                blocked += 1
                return None
            return None
        if lowered.startswith(("data:", "cid:")):
            return None
        return value

    cleaned = nh3.clean(
        markup[:MAX_HTML],
        tags=_TAGS,
        clean_content_tags={"script", "style", "title", "noscript", "template", "xmp", "textarea", "select"},
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "cid", "data"},
        attribute_filter=attribute_filter,
        filter_style_properties=SAFE_CSS,
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
    )
    return cleaned, blocked


def frame_document(body: str, remote: bool) -> str:
    """The complete document for ``srcdoc``: its own CSP, no base URL, readable defaults."""
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{frame_csp(remote)}\">"
        "<style>body{font:14px/1.45 system-ui,sans-serif;color:#222;margin:12px;overflow-wrap:anywhere}"
        "pre{white-space:pre-wrap;font:13px/1.4 ui-monospace,monospace}img{max-width:100%}"
        "blockquote{border-left:3px solid #ccc;margin-left:0;padding-left:10px;color:#555}</style>"
        f"</head><body>{body}</body></html>"
    )


def render(raw: bytes, remote: bool = False) -> RenderedMail:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    headers = {}
    for name in ("From", "To", "Subject", "Date"):
        try:
            headers[name] = str(msg.get(name, "") or "")[:500]
        except (ValueError, TypeError, IndexError):  # a header the parser cannot fold
            headers[name] = "(unreadable)"
    try:
        html_body, text_body, cids = _parts(msg)
    except Exception:
        html_body, text_body, cids = None, raw.decode("utf-8", "replace"), {}
    if html_body is not None:
        body, blocked = sanitize(html_body, cids, remote)
        return RenderedMail(frame_document(body, remote), True, blocked, headers)
    text = text_body if text_body is not None else ""
    return RenderedMail(frame_document(f"<pre>{html.escape(text)}</pre>", remote), False, 0, headers)


