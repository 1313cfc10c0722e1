"""The ``[mailer]`` section of the one TOML file, resolved into plain dataclasses.

Secrets never have to be written into the file: every relay password, the
DKIM private key and the VERP secrets can come from environment variables,
which win over the file (``RESPONSEMASTER_RELAY_<NAME>_PASSWORD``,
``RESPONSEMASTER_DKIM_KEY`` / ``RESPONSEMASTER_DKIM_KEY_FILE``,
``RESPONSEMASTER_VERP_KEY_<ID>`` or ``RESPONSEMASTER_VERP_SECRET``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from responsemaster.config import SettingError, Settings, setting_value
from responsemaster.verp import DEFAULT_PREFIX, Keyring, one_click_url_warning

DEFAULT_BOUNCE_DOMAIN = "bounces.localhost"


@dataclass
class RelaySettings:
    """One SMTP relay / sender account, with its quotas."""

    name: str
    host: str = "127.0.0.1"
    port: int = 25
    username: str = ""
    password: str = ""
    #: none | starttls | tls
    tls: str = "none"
    max_connections: int = 4
    #: 0 means unlimited.
    max_per_hour: int = 0
    max_per_day: int = 0
    from_address: str = ""
    timeout: float = 30.0

    @property
    def secret_env(self) -> str:
        return "RESPONSEMASTER_RELAY_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper()) + "_PASSWORD"


@dataclass
class DkimSettings:
    domain: str
    selector: str
    private_key: bytes = field(repr=False, default=b"")
    headers: tuple[str, ...] = (
        "from", "to", "subject", "date", "message-id", "reply-to", "mime-version", "content-type",
        "list-unsubscribe", "list-unsubscribe-post", "list-id",
    )


@dataclass
class VerpSettings:
    keyring: Keyring
    prefix: str = DEFAULT_PREFIX
    bounce_domain: str = DEFAULT_BOUNCE_DOMAIN


@dataclass
class MailerSettings:
    from_address: str = "ResponseMaster <mailer@localhost>"
    reply_to: str = ""
    #: Right-hand side of Message-IDs (default: the From domain).
    message_id_domain: str = ""
    unsubscribe_mailto: str = "unsubscribe@localhost"
    unsubscribe_url: str = "https://localhost/unsubscribe/{token}"
    relays: list[RelaySettings] = field(default_factory=list)
    dkim: DkimSettings | None = None
    verp: VerpSettings | None = None
    #: Recipients read from the database, rendered and marked 'sending' at once.
    batch_size: int = 200
    #: Per-domain messages per second (0: unlimited), and overrides by domain.
    per_domain_rate: float = 0.0
    domain_rates: dict[str, float] = field(default_factory=dict)
    max_attempts: int = 5
    retry_base_seconds: float = 60.0
    retry_max_seconds: float = 3600.0
    #: Deferred recipients due within this many seconds are retried in the same run.
    in_run_retry_seconds: float = 120.0
    #: How long a campaign run holds its lease before another process may take over.
    lease_seconds: float = 300.0
    #: Set when ``unsubscribe_url`` is plain http on a loopback host (a trial): printed once by the commands.
    url_warning: str = ""

    @property
    def sending_domain(self) -> str:
        if self.message_id_domain:
            return self.message_id_domain
        address = parseaddr(self.from_address)[1]
        return address.rpartition("@")[2] or "localhost"


def mailer_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> MailerSettings:
    """``[mailer]`` (and ``[verp]``) over the defaults, with environment overrides.

    Every wrong value is a :class:`SettingError` naming it, so a command says
    ``[mailer] batch_size: must be a whole number`` instead of a traceback.
    """
    env = os.environ if environ is None else environ
    data = settings.section("mailer")
    result = MailerSettings()
    for key in ("from_address", "reply_to", "message_id_domain", "unsubscribe_mailto", "unsubscribe_url"):
        setattr(result, key, setting_value("mailer", data, key, str, getattr(result, key)))
    for key in ("batch_size", "max_attempts"):
        setattr(result, key, setting_value("mailer", data, key, int, getattr(result, key)))
        if getattr(result, key) < 1:
            raise SettingError(f"[mailer] {key}", "must be at least 1")
    for key in ("per_domain_rate", "retry_base_seconds", "retry_max_seconds", "in_run_retry_seconds", "lease_seconds"):
        setattr(result, key, setting_value("mailer", data, key, float, getattr(result, key)))
    rates = data.get("domain_rates", {})
    if not isinstance(rates, dict):
        raise SettingError("[mailer.domain_rates]", 'must be a table of "domain" = messages per second')
    result.domain_rates = {str(k).lower(): setting_value("mailer.domain_rates", rates, k, float, 0.0) for k in rates}
    try:
        result.url_warning = one_click_url_warning(result.unsubscribe_url)
    except ValueError as exc:
        raise SettingError("[mailer] unsubscribe_url", str(exc)) from exc
    relays = data.get("relays", [])
    if not isinstance(relays, list):
        raise SettingError("[[mailer.relays]]", "must be an array of tables")
    result.relays = [_relay(entry, env) for entry in relays] or [RelaySettings("default")]
    names = [r.name for r in result.relays]
    if len(set(names)) != len(names):
        raise SettingError("[[mailer.relays]] name", f"must be unique: {names}")
    dkim = data.get("dkim", {})
    if not isinstance(dkim, dict):
        raise SettingError("[mailer.dkim]", "must be a table")
    result.dkim = _dkim(dkim, settings.base_dir, env)
    result.verp = verp_settings(settings, env)
    return result


def _relay(entry: Any, env: Mapping[str, str]) -> RelaySettings:
    if not isinstance(entry, dict) or not entry.get("name"):
        raise SettingError("[[mailer.relays]] name", "each relay needs a name")
    relay = RelaySettings(name=str(entry["name"]))
    table = f"mailer.relays {relay.name}"
    for key in ("host", "username", "password", "tls", "from_address"):
        setattr(relay, key, setting_value(table, entry, key, str, getattr(relay, key)))
    for key in ("port", "max_connections", "max_per_hour", "max_per_day"):
        setattr(relay, key, setting_value(table, entry, key, int, getattr(relay, key)))
    relay.timeout = setting_value(table, entry, "timeout", float, relay.timeout)
    if relay.tls not in ("none", "starttls", "tls"):
        raise SettingError(f"[{table}] tls", f"must be none, starttls or tls, got {relay.tls!r}")
    if not 0 < relay.port < 65536:
        raise SettingError(f"[{table}] port", f"must be between 1 and 65535, got {relay.port}")
    relay.password = env.get(relay.secret_env, relay.password)
    return relay


def _dkim(data: dict[str, Any], base: Path, env: Mapping[str, str]) -> DkimSettings | None:
    key = env.get("RESPONSEMASTER_DKIM_KEY", "").encode()
    key_file = env.get("RESPONSEMASTER_DKIM_KEY_FILE") or data.get("key_file", "")
    if not key and key_file:
        path = Path(key_file) if Path(key_file).is_absolute() else base / key_file
        try:
            key = path.read_bytes()
        except OSError as exc:
            raise SettingError("[mailer.dkim] key_file", f"{path}: {exc.strerror or exc}") from exc
    if not key:
        return None
    if not data.get("domain") or not data.get("selector"):
        raise SettingError("[mailer.dkim] domain", "a DKIM key needs domain and selector beside it")
    dkim = DkimSettings(domain=str(data["domain"]), selector=str(data["selector"]), private_key=key)
    if "headers" in data:
        dkim.headers = tuple(str(h).lower() for h in data["headers"])
    return dkim


def verp_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> VerpSettings | None:
    """The ``[verp]`` table the ``verp`` command reads too, so both sides share one keyring."""
    from responsemaster.verp_keys import keyring_from_env, keyring_from_section

    section = settings.section("verp")
    keyring = keyring_from_env(environ) or keyring_from_section(section)
    if keyring is None:
        return None
    return VerpSettings(
        keyring=keyring,
        prefix=str(section.get("prefix") or DEFAULT_PREFIX),
        bounce_domain=str(section.get("bounce_domain") or DEFAULT_BOUNCE_DOMAIN),
    )
