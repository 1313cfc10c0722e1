"""VERP keys from configuration, and the token reader attribution uses.

The ``[verp]`` table of the configuration file::

    [verp]
    keys = { k1 = "", k2 = "" }      # secrets; RESPONSEMASTER_VERP_KEY_<ID> overrides each
    current_key = "k2"               # signs new mail; the others only verify
    retired_keys = ["k0"]            # never verify again
    prefix = "bounces"
    bounce_domain = "bounces.example.org"
    message_id_domain = "mail.example.org"   # default: bounce_domain

``RESPONSEMASTER_VERP_SECRET`` (with ``RESPONSEMASTER_VERP_KEY_ID``) gives a
one-key keyring without a file. Without any key, tokens are not read at all:
attribution falls back to DSN recipients, headers and From.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from responsemaster.classify.attribution import TokenReader, TokenResult
from responsemaster.config import SettingError
from responsemaster.verp import (
    DEFAULT_PREFIX,
    InvalidToken,
    Keyring,
    decode_token,
    parse_return_path,
    token_from_message_id,
)

DEFAULT_BOUNCE_DOMAIN = "bounces.localhost"
DEFAULT_KEY_ID = "k1"
SECRET_ENV = "RESPONSEMASTER_VERP_SECRET"
KEY_ID_ENV = "RESPONSEMASTER_VERP_KEY_ID"


def keyring_from_env(environ: Mapping[str, str] | None = None) -> Keyring | None:
    """A one-key keyring from ``RESPONSEMASTER_VERP_SECRET``, or None when it is unset."""
    env = os.environ if environ is None else environ
    secret = env.get(SECRET_ENV)
    if not secret:
        return None
    key_id = env.get(KEY_ID_ENV) or DEFAULT_KEY_ID
    try:
        return Keyring({key_id: secret.encode("utf-8")}, current=key_id)
    except ValueError as exc:
        raise SettingError(SECRET_ENV, str(exc)) from exc


def keyring_from_section(section: Mapping[str, Any]) -> Keyring | None:
    """A keyring from a ``[verp]`` config table, or None when it lists no keys.

    Every problem is a :class:`SettingError` naming the setting (an empty
    secret, a short one, a current key that is not listed...).
    """
    keys = section.get("keys") or {}
    if not keys:
        return None
    if not isinstance(keys, Mapping) or not all(isinstance(v, str) for v in keys.values()):
        raise SettingError("[verp] keys", 'must be a table of key id = "secret"')
    current = section.get("current_key") or (next(iter(keys)) if len(keys) == 1 else None)
    if not current:
        raise SettingError("[verp] current_key", "must name the key that signs when keys lists several")
    retired = section.get("retired_keys", ())
    if not isinstance(retired, list | tuple):
        raise SettingError("[verp] retired_keys", "must be a list of key ids")
    try:
        return Keyring.from_settings({str(k): v for k, v in keys.items()}, str(current), retired)
    except ValueError as exc:
        raise SettingError("[verp] keys", str(exc)) from exc


def configured_keyring(section: Mapping[str, Any]) -> Keyring | None:
    """The environment's one-key keyring, else the config table's, else None."""
    return keyring_from_env() or keyring_from_section(section)


def token_reader(
    keyring: Keyring, section: Mapping[str, Any], id_domains: Iterable[str] = (), prefixes: Iterable[str] = ()
) -> TokenReader:
    """Reads tokens from envelope addresses and from our own Message-IDs.

    An address carries a token when its local part is ``<prefix>+<token>``:
    the ``[verp]`` prefix (the return path) or one of ``prefixes`` (the
    List-Unsubscribe mailto's local part, ``unsubscribe+<token>@...``, so a
    request mailed there names the subscriber whoever sends it). A
    Message-ID is only considered when its domain is one of ours (the
    ``[verp]`` message-id or bounce domain, plus ``id_domains``, e.g. the
    mailer's sending domain), so another mailer's Message-ID that happens to
    look like a token is never flagged as forged. The result carries the ids
    the token names; turning them into addresses is the store's business.
    """
    tokened = {str(section.get("prefix") or DEFAULT_PREFIX).lower(), *(p.lower() for p in prefixes if p)}
    bounce_domain = str(section.get("bounce_domain") or DEFAULT_BOUNCE_DOMAIN).lower()
    ours = {str(section.get("message_id_domain") or bounce_domain).lower(), *(d.lower() for d in id_domains if d)}

    def read(value: str) -> TokenResult | None:
        local, _, domain = value.strip("<> ").rpartition("@")
        local, domain = local.lower(), domain.lower()
        try:
            if (prefix := local.partition("+")[0]) in tokened and "+" in local:
                data = parse_return_path(value, keyring, prefix)
            elif domain in ours and (token := token_from_message_id(value)) is not None:
                data = decode_token(token, keyring)
            else:
                return None
        except InvalidToken:
            return TokenResult("", "", valid=False)
        return TokenResult(data.subscriber, data.campaign, valid=True)

    return read
