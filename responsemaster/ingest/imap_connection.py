"""Connecting to an IMAP server: TLS choices, login, folders, the search filter, and reading FETCH safely.

Kept apart from :mod:`imap_source` so the claim/ack logic reads without the
plumbing. Nothing here knows about claims.
"""

from __future__ import annotations

import imaplib
import logging
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from imapclient.response_parser import parse_fetch_response

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


def modseq_and_flags(client: IMAPClient, uids: list[int]) -> dict[int, dict[bytes, Any]]:
    """``UID FETCH (UID MODSEQ FLAGS)``, read only from responses that name their UID.

    A server sends other sessions' flag changes as unsolicited FETCH
    responses keyed by *sequence number* and without a UID (Dovecot does,
    at the end of whatever command comes next). imapclient files such a
    response under that number as if it were a UID, merging the flags and
    mod-sequence of one message into the entry of another: a message
    another worker had claimed then looked free, at a mod-sequence high
    enough for the conditional STORE to pass, and two workers held it
    (tests/test_source_imap.py::test_an_unsolicited_fetch_never_frees_a_claimed_message).
    Per UID the response with the highest mod-sequence wins (the newest state).
    """
    imap = client._imap
    imap.untagged_responses.pop("FETCH", None)  # stale unsolicited updates: not ours to read
    typ, data = imap.uid("FETCH", uid_set(uids), "(UID MODSEQ FLAGS)")
    if typ != "OK":
        raise imaplib.IMAP4.error(f"UID FETCH failed: {data!r}")
    wanted, found = set(uids), {}
    for item in data:
        if not isinstance(item, bytes):
            continue
        for entry in parse_fetch_response([item], uid_is_key=False).values():
            uid = entry.get(b"UID")
            if uid not in wanted or b"MODSEQ" not in entry or b"FLAGS" not in entry:
                continue
            if uid not in found or entry[b"MODSEQ"][0] >= found[uid][b"MODSEQ"][0]:
                found[uid] = entry
    return found


def reason_note(source: str, key: str, reason: str, digest: str) -> bytes:
    """The separate record that says why a message was quarantined."""
    note = EmailMessage()
    note["From"] = "ResponseMaster <responsemaster@localhost>"
    note["Subject"] = f"[quarantine] {source} {key}"
    note["Date"] = formatdate(localtime=False)
    note["Message-ID"] = make_msgid("quarantine")
    note["X-ResponseMaster-Quarantine-Reason"] = " ".join(reason.split())[:900]
    note["X-ResponseMaster-Quarantine-Source"] = source
    note["X-ResponseMaster-Quarantine-Key"] = key
    note["X-ResponseMaster-Quarantine-Sha256"] = digest
    note.set_content(f"{reason}\n")
    return note.as_bytes()


def uid_set(uids: list[int]) -> str:
    return ",".join(str(u) for u in sorted(uids))


def parse_uid_set(text: str) -> set[int]:
    result: set[int] = set()
    for part in text.strip().split(","):
        if ":" in part:
            low, high = (int(x) for x in part.split(":"))
            result.update(range(min(low, high), max(low, high) + 1))
        elif part.strip().isascii() and part.strip().isdigit():
            result.add(int(part))
    return result
