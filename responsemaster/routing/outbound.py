"""The external effects themselves: build and send a forward or an alert, POST a webhook.

Pure I/O with the payload an outbox row carries; no database here. Every send
has a timeout shorter than the outbox lease, so a slow server cannot make two
workers hold the same effect.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

import aiosmtplib

from responsemaster.routing.config import RoutingConfig, SmtpSettings


class DeliveryError(RuntimeError):
    """The effect was not delivered; the outbox retries it later."""


def build_forward(payload: dict[str, Any], raw: bytes, config: RoutingConfig) -> EmailMessage:
    """Reply text on top, the original attached whole (message/rfc822), facts in X- headers."""
    msg = EmailMessage()
    msg["From"] = config.from_address
    msg["To"] = payload["to"]
    if payload.get("sender"):
        msg["Reply-To"] = payload["sender"]
    msg["Subject"] = f"[{payload['category']}] {payload.get('subject') or '(no subject)'}"[:900]
    msg["Message-ID"] = payload["message_id"]
    msg["Date"] = formatdate(localtime=False)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-ResponseMaster-Category"] = payload["category"]
    msg["X-ResponseMaster-Reason"] = payload.get("reason", "")
    msg["X-ResponseMaster-Subscriber"] = payload.get("subscriber", "")
    msg["X-ResponseMaster-Campaign"] = payload.get("campaign", "")
    msg["X-ResponseMaster-Message-Uid"] = payload["uid"]
    intro = (
        f"{payload.get('reply_text') or '(no reply text could be extracted; see the attached original)'}\n\n"
        f"-- \nResponseMaster: {payload['category']} from {payload.get('sender') or 'unknown sender'}"
        f" (subscriber: {payload.get('subscriber') or 'unknown'}).\nThe original message is attached.\n"
    )
    msg.set_content(intro)
    if _fits_rfc822(raw):
        msg.add_attachment(message_from_bytes(raw, policy=policy.compat32), filename="original.eml")
    else:  # a message/rfc822 part cannot be transfer-encoded: keep the bytes exact in base64
        msg.add_attachment(raw, maintype="application", subtype="octet-stream", filename="original.eml")
    return msg


def _fits_rfc822(raw: bytes) -> bool:
    """Whether the original can travel as message/rfc822 (SMTP lines of at most 998 octets, no NUL)."""
    return b"\0" not in raw and all(len(line.rstrip(b"\r")) <= 998 for line in raw.split(b"\n"))


def build_alert(payload: dict[str, Any], config: RoutingConfig) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = config.from_address
    msg["To"] = payload["to"]
    msg["Subject"] = f"[ResponseMaster] {payload['category']} ({payload['reason']}) at {payload['domain']}"
    msg["Message-ID"] = payload["message_id"]
    msg["Date"] = formatdate(localtime=False)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-ResponseMaster-Category"] = payload["category"]
    msg["X-ResponseMaster-Message-Uid"] = payload["uid"]
    msg.set_content(
        "A receiving server rejected our mail because of the sender or the message, not the address.\n\n"
        f"category:   {payload['category']}\nreason:     {payload['reason']}\n"
        f"domain:     {payload['domain']}\naddress:    {payload['address']}\n"
        f"status:     {payload.get('status', '')}\nremote MTA: {payload.get('remote_mta', '')}\n"
        f"diagnostic: {payload.get('diagnostic', '')}\nmessage:    {payload['uid']}\n"
    )
    return msg


def send_mail(msg: EmailMessage, smtp: SmtpSettings, on_accepted: Callable[[], None] = lambda: None) -> None:
    """Send through the configured relay; raise :class:`DeliveryError` on any failure.

    ``on_accepted`` runs the moment the server answered 250 to DATA, before
    QUIT and the event loop's teardown: the outbox commits ``done`` there, so
    the window in which a crash means a second send is as short as it can be.
    """
    try:
        asyncio.run(_send(msg, smtp, on_accepted))
    except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"smtp {smtp.host}:{smtp.port}: {exc}") from exc


async def _send(msg: EmailMessage, smtp: SmtpSettings, on_accepted: Callable[[], None]) -> None:
    client = aiosmtplib.SMTP(
        hostname=smtp.host,
        port=smtp.port,
        username=smtp.username or None,
        password=smtp.password or None,
        use_tls=smtp.tls == "ssl",
        start_tls=smtp.tls == "starttls",
        timeout=smtp.timeout,
    )
    async with client:
        await client.send_message(msg)
        on_accepted()


def post_webhook(
    payload: dict[str, Any], config: RoutingConfig, idempotency_key: str, on_accepted: Callable[[], None] = lambda: None
) -> None:
    """POST the event; any 2xx is success (``on_accepted`` runs at once), anything else is retried."""
    body = json.dumps(payload["event"], sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key, **config.webhook_headers}
    request = urllib.request.Request(payload["url"], data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=config.webhook_timeout) as response:
            if not 200 <= response.status < 300:
                raise DeliveryError(f"webhook {payload['url']}: HTTP {response.status}")
            on_accepted()
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"webhook {payload['url']}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"webhook {payload['url']}: {exc}") from exc


def deliver(
    kind: str,
    payload: dict[str, Any],
    config: RoutingConfig,
    var: Path,
    idempotency_key: str,
    on_accepted: Callable[[], None] = lambda: None,
) -> None:
    """Perform one effect; ``on_accepted`` runs as soon as the other side has accepted it."""
    if kind == "forward":
        raw = (Path(var) / payload["raw_path"]).read_bytes()
        send_mail(build_forward(payload, raw, config), config.smtp, on_accepted)
    elif kind == "alert":
        send_mail(build_alert(payload, config), config.smtp, on_accepted)
    elif kind == "webhook":
        post_webhook(payload, config, idempotency_key, on_accepted)
    else:
        raise DeliveryError(f"unknown outbox kind {kind!r}")
