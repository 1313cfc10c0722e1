"""One recipient's message as bytes: VERP envelope, tokened Message-ID, RFC 8058 headers, DKIM.

The message is assembled by hand instead of through ``email.message``: the
layout is fixed (multipart/alternative, quoted-printable UTF-8 parts), and
the stdlib's generator costs several times the whole SMTP transaction at
thousands of messages per second. Header values that come from data (names,
subjects) are stripped of CR/LF and RFC 2047-encoded when not ASCII, so a
subscriber's name can never inject a header.
"""

from __future__ import annotations

import binascii
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr

import dkim

from mailer.settings import DkimSettings, MailerSettings
from mailer.templates import Rendered
from responsemaster.verp import encode_token, list_unsubscribe_headers, message_id, return_path


@dataclass(frozen=True)
class Envelope:
    """What the SMTP transaction needs, and what the delivery log records."""

    mail_from: str
    rcpt_to: str
    message_id: str
    data: bytes


def _clean(value: str) -> str:
    return " ".join(value.replace("\r", " ").replace("\n", " ").split())


def encode_header(value: str) -> str:
    value = _clean(value)
    return value if value.isascii() else Header(value, "utf-8").encode()


def format_address(name: str, address: str) -> str:
    return formataddr((_clean(name), address), charset="utf-8") if name else address


class _DateCache:
    """RFC 5322 Date, formatted once per second (formatdate is slow per message)."""

    def __init__(self) -> None:
        self.second = -1
        self.value = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self.second:
            self.second, self.value = second, formatdate(second, localtime=False, usegmt=True)
        return self.value


def _qp(text: str) -> bytes:
    body = text.replace("\r\n", "\n").replace("\r", "\n")
    return binascii.b2a_qp(body.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


class Composer:
    """Builds every message of one campaign; holds what is the same for all of them."""

    def __init__(self, settings: MailerSettings, campaign_id: int, campaign_name: str, from_address: str, reply_to: str = "") -> None:
        if settings.verp is None:
            raise ValueError("no VERP key configured: set [verp] keys (or RESPONSEMASTER_VERP_SECRET)")
        self.settings = settings
        self.verp = settings.verp
        self.campaign_id = str(campaign_id)
        self.campaign_name = campaign_name
        self.from_header = encode_header(from_address)
        self.reply_to = encode_header(reply_to) if reply_to else ""
        self.domain = parseaddr(from_address)[1].rpartition("@")[2] or settings.sending_domain
        self.dkim: DkimSettings | None = settings.dkim
        self._dates = _DateCache()

    def token(self, subscriber_id: int) -> str:
        """The VERP token: campaign and subscriber database ids (both fit the 64-octet budget)."""
        return encode_token(self.campaign_id, str(subscriber_id), self.verp.keyring, prefix=self.verp.prefix)

    def unsubscribe_url(self, token: str) -> str:
        return list_unsubscribe_headers(token, self.settings.unsubscribe_mailto, self.settings.unsubscribe_url)[
            "List-Unsubscribe"].rpartition("<")[2].rstrip(">")

    def compose(self, subscriber_id: int, address: str, name: str, rendered: Rendered, token: str,
                msg_id: str | None = None, extra_headers: Sequence[tuple[str, str]] = ()) -> Envelope:
        """The envelope and bytes for one recipient (``msg_id`` reused on a retry)."""
        msg_id = msg_id or message_id(token, self.settings.sending_domain)
        headers = [
            ("From", self.from_header),
            ("To", format_address(name, address)),
            ("Subject", encode_header(rendered.subject)),
            ("Date", self._dates.now()),
            ("Message-ID", msg_id),
            ("MIME-Version", "1.0"),
        ]
        if self.reply_to:
            headers.append(("Reply-To", self.reply_to))
        unsubscribe = list_unsubscribe_headers(token, self.settings.unsubscribe_mailto, self.settings.unsubscribe_url)
        headers.extend(unsubscribe.items())
        headers.append(("X-Campaign", encode_header(self.campaign_name)))
        headers.extend((field, encode_header(value)) for field, value in extra_headers)
        content_headers, body = _body(rendered)
        data = _join(headers + content_headers, body)
        if self.dkim is not None:
            data = sign(data, self.dkim)
        mail_from = return_path(self.verp.prefix, token, self.verp.bounce_domain)
        return Envelope(mail_from, address, msg_id, data)


def _body(rendered: Rendered) -> tuple[list[tuple[str, str]], bytes]:
    """Content headers and body: one part alone, or multipart/alternative text then HTML."""
    parts = []
    if rendered.text:
        parts.append(("text/plain", _qp(rendered.text)))
    if rendered.html:
        parts.append(("text/html", _qp(rendered.html)))
    if len(parts) == 1:
        kind, payload = parts[0]
        return [("Content-Type", f"{kind}; charset=utf-8"), ("Content-Transfer-Encoding", "quoted-printable")], payload
    boundary = "=_rm_" + secrets.token_hex(12)  # '=_' never occurs in quoted-printable output
    chunks = []
    for kind, payload in parts:
        chunks.append(f"--{boundary}\r\nContent-Type: {kind}; charset=utf-8\r\n"
                      f"Content-Transfer-Encoding: quoted-printable\r\n\r\n".encode() + payload + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return [("Content-Type", f'multipart/alternative; boundary="{boundary}"')], b"".join(chunks)


def _join(headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return head.encode("ascii") + b"\r\n" + body


def sign(data: bytes, settings: DkimSettings) -> bytes:
    """Prepend a DKIM-Signature (relaxed/relaxed) over the configured headers present in ``data``."""
    signature = dkim.sign(
        data,
        settings.selector.encode(),
        settings.domain.encode(),
        settings.private_key,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=[h.encode() for h in settings.headers],
    )
    return signature + data
