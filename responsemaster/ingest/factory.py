"""Sources and the receiver from the configuration file.

``[[sources]]`` entries become :class:`Source` objects; ``[receiver]`` becomes
:class:`ReceiverSettings`. With no ``[[sources]]`` at all the embedded default
of docs/configuration.md applies: one Maildir source ``returns`` at ``./var/returns/``
(created if missing) quarantining into ``./var/quarantine/``. Every validation
error names the entry and the key, so an operator can fix the file without
reading code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from responsemaster.config import ConfigError, Settings, is_loopback_host
from responsemaster.ingest.source import Source

SOURCE_TYPES = ("maildir", "imap", "mbox")
DEFAULT_MAX_SIZE = 25 * 1024 * 1024


@dataclass
class ReceiverSettings:
    """The built-in SMTP receiver: where it listens and what it accepts."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 2525
    maildir: Path = Path("var/returns")
    max_size: int = DEFAULT_MAX_SIZE
    #: Recipient domains accepted (lower case); empty accepts any, loopback only.
    domains: list[str] = field(default_factory=list)


class _Entry:
    """One config table with typed getters whose errors name the entry and key."""

    def __init__(self, label: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{label}: must be a table")
        self.label, self.data = label, data

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.label}: key '{key}' {message}")

    def get_str(self, key: str, default: str | None = None, required: bool = False) -> str | None:
        value = self.data.get(key, default)
        if value is None and required:
            raise self.error(key, "is required")
        if value is not None and (not isinstance(value, str) or not value):
            raise self.error(key, "must be a non-empty string")
        return value

    def get_int(self, key: str, default: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.error(key, "must be a positive integer")
        return value

    def get_bool(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false")
        return value

    def get_str_list(self, key: str) -> list[str]:
        value = self.data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(key, "must be a string or a list of strings")
        return value

    def get_choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.data.get(key, default)
        if value not in allowed:
            raise self.error(key, f"must be one of {', '.join(allowed)} (got {value!r})")
        return value


def _resolve(settings: Settings, value: str | Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else settings.base_dir / path


def build_sources(settings: Settings) -> list[Source]:
    """Every configured source, or the embedded default Maildir."""
    entries = settings.sections.get("sources")
    if entries is None:
        return [_default_source(settings)]
    if not isinstance(entries, list):
        raise ConfigError("sources: must be an array of tables ([[sources]])")
    sources: list[Source] = []
    names: set[str] = set()
    for index, data in enumerate(entries):
        entry = _Entry(f"sources[{index}]", data)
        name = entry.get_str("name", required=True)
        entry.label = f"sources[{index}] ({name})"
        kind = entry.get_choice("type", "maildir", SOURCE_TYPES)
        built = {"maildir": _maildir, "imap": _imap, "mbox": _mbox}[kind](settings, entry, name)
        for source in built:
            if source.name in names:
                raise ConfigError(f"{entry.label}: key 'name' duplicates source {source.name!r}")
            names.add(source.name)
        sources.extend(built)
    return sources


def _default_source(settings: Settings) -> Source:
    from responsemaster.ingest.maildir_source import MaildirSource

    return MaildirSource("returns", settings.var / "returns", quarantine=settings.var / "quarantine")


def _folder(settings: Settings, root: Path, value: str | None) -> Path | None:
    """A plain name is a Maildir++ sub-folder of the source; anything with a slash is a path."""
    from responsemaster.ingest.maildir_source import subfolder_path

    if value is None:
        return None
    if "/" in value or value.startswith("~"):
        return _resolve(settings, value)
    return subfolder_path(root, value)


def _maildir(settings: Settings, entry: _Entry, name: str) -> list[Source]:
    from responsemaster.ingest.maildir_source import DEFAULT_LEASE_SECONDS, MaildirSource

    root = _resolve(settings, entry.get_str("path", required=True))
    errors = _folder(settings, root, entry.get_str("errors_folder")) or settings.var / "quarantine"
    return [
        MaildirSource(
            name,
            root,
            processed=_folder(settings, root, entry.get_str("processed_folder")),
            quarantine=errors,
            lease_seconds=entry.get_int("lease_seconds", int(DEFAULT_LEASE_SECONDS)),
        )
    ]


def _mbox(settings: Settings, entry: _Entry, name: str) -> list[Source]:
    from responsemaster.ingest.mbox_source import MboxSource

    paths = [_resolve(settings, p) for p in entry.get_str_list("paths") or entry.get_str_list("path")]
    if not paths:
        raise entry.error("paths", "is required (a file or a list of mbox/.eml files)")
    state = entry.get_str("state_file")
    return [
        MboxSource(
            name,
            paths,
            state_file=_resolve(settings, state) if state else settings.var / "state" / f"mbox-{name}.json",
            quarantine=_resolve(settings, entry.get_str("errors_folder", str(settings.var / "quarantine"))),
        )
    ]


def _imap(settings: Settings, entry: _Entry, name: str) -> list[Source]:
    from responsemaster.ingest.imap_source import ImapConfig, ImapSource, search_filter

    tls = entry.get_choice("tls", "ssl", ("ssl", "starttls", "none"))
    password_env = entry.get_str("password_env")
    password = os.environ.get(password_env) if password_env else None
    password = password or entry.get_str("password")
    if password is None:
        raise entry.error("password_env", "must name a set environment variable (or give 'password')")
    try:
        criteria = search_filter(entry.data.get("filter"))
    except ValueError as exc:
        raise entry.error("filter", str(exc)) from exc
    mailboxes = entry.get_str_list("mailboxes") or [entry.get_str("mailbox", "INBOX")]
    ca_file = entry.get_str("ca_file")
    sources: list[Source] = []
    for mailbox in mailboxes:
        config = ImapConfig(
            host=entry.get_str("host", required=True),
            port=entry.get_int("port", 993 if tls == "ssl" else 143),
            user=entry.get_str("user", required=True),
            password=password,
            mailbox=mailbox,
            processed_folder=entry.get_str("processed_folder", "Processed"),
            errors_folder=entry.get_str("errors_folder", "Errors"),
            tls=tls,
            tls_verify=entry.get_bool("tls_verify", True),
            ca_file=_resolve(settings, ca_file) if ca_file else None,
            criteria=criteria,
            lease_seconds=entry.get_int("lease_seconds", 600),
            idle=entry.get_bool("idle", True),
            state_dir=settings.var / "state",
        )
        source_name = name if len(mailboxes) == 1 else f"{name}/{mailbox}"
        sources.append(ImapSource(source_name, config))
    return sources


def receiver_settings(settings: Settings) -> ReceiverSettings:
    """``[receiver]`` with the embedded defaults (127.0.0.1:2525 into ./var/returns/)."""
    data = settings.sections.get("receiver", {})
    entry = _Entry("receiver", data)
    result = ReceiverSettings(
        enabled=entry.get_bool("enabled", True),
        host=entry.get_str("host", "127.0.0.1") or "127.0.0.1",
        port=entry.get_int("port", 2525),
        maildir=_resolve(settings, entry.get_str("maildir") or settings.var / "returns"),
        max_size=entry.get_int("max_size", DEFAULT_MAX_SIZE),
        domains=[d.lower().strip(".") for d in entry.get_str_list("domains")],
    )
    if result.port > 65535:
        raise entry.error("port", "must be at most 65535")
    if not result.domains and not is_loopback_host(result.host):
        raise entry.error("domains", "must list the accepted recipient domains when 'host' is not a loopback address")
    return result
