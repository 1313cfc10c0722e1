"""Connecting to an IMAP server: TLS choices, login, folders, and the search filter.

Kept apart from :mod:`imap_source` so the claim/ack logic reads without the
plumbing. Nothing here knows about claims.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

log = logging.getLogger(__name__)


@dataclass
class ImapConfig:
    """One mailbox of one account (a source per mailbox)."""

    host: str
    user: str
    password: str
    port: int = 993
    mailbox: str = "INBOX"
    processed_folder: str = "Processed"
    errors_folder: str = "Errors"
    #: "ssl" (implicit TLS, port 993), "starttls" (port 143, upgraded) or "none".
    tls: str = "ssl"
    tls_verify: bool = True
    ca_file: Path | None = None
    #: Extra IMAP SEARCH criteria (a string) limiting what this source touches.
    criteria: str = ""
    lease_seconds: float = 600.0
    idle: bool = True
    timeout: float = 60.0
    #: Where the last seen UIDVALIDITY is recorded.
    state_dir: Path = field(default_factory=lambda: Path("var/state"))


def _quote(value: str) -> str:
    """An IMAP quoted string (ASCII only: filters are address fragments)."""
    if not value.isascii() or any(c in value for c in "\r\n"):
        raise ValueError(f"filter value {value!r} must be ASCII on one line")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def search_filter(value: Any) -> str:
    """The configured ``filter`` as IMAP SEARCH criteria.

    ``filter = 'HEADER Delivered-To "bounces+"'`` is used as written.
    ``filter = { recipient_contains = "bounces+" }`` matches To, Delivered-To
    or X-Original-To containing the fragment (a shared inbox's returns). A
    table may also carry ``search = "..."``, ANDed with the rest.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value.strip()
    if not isinstance(value, dict):
        raise ValueError("must be an IMAP SEARCH string or a table")
    unknown = set(value) - {"recipient_contains", "search"}
    if unknown:
        raise ValueError(f"unknown filter keys: {', '.join(sorted(unknown))}")
    parts = []
    fragment = value.get("recipient_contains")
    if fragment is not None:
        if not isinstance(fragment, str) or not fragment:
            raise ValueError("recipient_contains must be a non-empty string")
        q = _quote(fragment)
        parts.append(f"OR TO {q} OR HEADER Delivered-To {q} HEADER X-Original-To {q}")
    search = value.get("search")
    if search is not None:
        if not isinstance(search, str):
            raise ValueError("search must be a string")
        parts.append(search.strip())
    return " ".join(f"({p})" for p in parts if p)


def ssl_context(config: ImapConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
    if not config.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connect(config: ImapConfig) -> IMAPClient:
    """A logged-in client with CONDSTORE enabled and the folders this source needs."""
    use_ssl = config.tls == "ssl"
    context = ssl_context(config) if config.tls != "none" else None
    client = IMAPClient(config.host, port=config.port, ssl=use_ssl, ssl_context=context, timeout=config.timeout)
    try:
        if config.tls == "starttls":
            client.starttls(context)
        client.login(config.user, config.password)
        if b"CONDSTORE" in client.capabilities() and b"ENABLE" in client.capabilities():
            client.enable("CONDSTORE")
        for folder in (config.processed_folder, config.errors_folder):
            ensure_folder(client, folder)
    except Exception:
        _close_quietly(client)
        raise
    return client


def ensure_folder(client: IMAPClient, folder: str) -> None:
    """Create ``folder`` unless it exists (another worker may create it at the same moment)."""
    if client.folder_exists(folder):
        return
    try:
        client.create_folder(folder)
        log.info("imap: created folder %s", folder)
    except IMAPClientError:
        if not client.folder_exists(folder):
            raise


def _close_quietly(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # noqa: BLE001 - already failing; the socket goes anyway
        try:
            client.shutdown()
        except Exception:  # noqa: BLE001
            pass


def close_quietly(client: IMAPClient | None) -> None:
    """Log out if the connection still works; drop it otherwise."""
    if client is not None:
        _close_quietly(client)
