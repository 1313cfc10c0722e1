"""``verp encode`` / ``verp decode``: the return-path token library from the shell.

Operators use these to see what address a subscriber's mail goes out with and
to check what a returned address says (and whether it can be trusted). The
token format is specified in ``docs/return-path-spec.md``.

Where the keys come from, first match wins:

1. ``--secret`` (with ``--key-id``, default ``k1``);
2. ``RESPONSEMASTER_VERP_SECRET`` (with ``RESPONSEMASTER_VERP_KEY_ID``, default ``k1``);
3. the ``[verp]`` table of the configuration file: ``keys = {k1 = "..."}``,
   ``current_key``, ``retired_keys``, where ``RESPONSEMASTER_VERP_KEY_<ID>``
   overrides each secret. The same table may set ``prefix`` and ``bounce_domain``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from responsemaster.cli.common import config_option, settings_from
from responsemaster.verp import (
    DEFAULT_PREFIX,
    InvalidToken,
    Keyring,
    decode_token,
    encode_token,
    parse_return_path,
    return_path,
)
from responsemaster.verp_keys import (
    DEFAULT_BOUNCE_DOMAIN,
    DEFAULT_KEY_ID,
    SECRET_ENV,
    keyring_from_env,
    keyring_from_section,
)


def _resolve(key_id: str | None, secret: str | None, config_path: Path | None) -> tuple[Keyring, dict[str, Any]]:
    section = settings_from(config_path).section("verp")
    try:
        if secret:
            keyring = Keyring({key_id or DEFAULT_KEY_ID: secret.encode("utf-8")}, current=key_id or DEFAULT_KEY_ID)
        else:
            keyring = keyring_from_env() or keyring_from_section(section)
    except ValueError as exc:
        raise click.ClickException(f"VERP keys: {exc}") from exc
    if keyring is None:
        raise click.ClickException(
            f"no VERP key configured: pass --secret, set {SECRET_ENV}, "
            "or add a [verp] keys table to the configuration file"
        )
    return keyring, section


key_id_option = click.option("--key-id", default=None, help=f"Key id for --secret (default {DEFAULT_KEY_ID}).")
secret_option = click.option(
    "--secret", default=None, help=f"Signing secret, at least 16 bytes (prefer the {SECRET_ENV} variable)."
)


@click.group("verp")
def verp() -> None:
    """Encode and decode return-path (VERP) tokens; see docs/return-path-spec.md."""


@verp.command("encode")
@click.option("--campaign", required=True, help="Campaign id.")
@click.option("--subscriber", required=True, help="Subscriber id.")
@click.option("--prefix", default=None, help=f"Local-part prefix (default {DEFAULT_PREFIX}).")
@click.option("--domain", default=None, help=f"Bounce domain (default {DEFAULT_BOUNCE_DOMAIN}).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of two lines.")
@key_id_option
@secret_option
@config_option
def encode(
    campaign: str,
    subscriber: str,
    prefix: str | None,
    domain: str | None,
    as_json: bool,
    key_id: str | None,
    secret: str | None,
    config_path: Path | None,
) -> None:
    """Print the return-path address and the token for CAMPAIGN and SUBSCRIBER."""
    keyring, section = _resolve(key_id, secret, config_path)
    prefix = prefix or section.get("prefix") or DEFAULT_PREFIX
    domain = domain or section.get("bounce_domain") or DEFAULT_BOUNCE_DOMAIN
    try:
        token = encode_token(campaign, subscriber, keyring, prefix=prefix)
        address = return_path(prefix, token, domain)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps({"return_path": address, "token": token, "key_id": keyring.current}))
    else:
        click.echo(f"return-path: {address}")
        click.echo(f"token: {token}")


@verp.command("decode")
@click.argument("address")
@click.option("--prefix", default=None, help="Require this local-part prefix (default: find the token anywhere).")
@key_id_option
@secret_option
@config_option
def decode(
    address: str, prefix: str | None, key_id: str | None, secret: str | None, config_path: Path | None
) -> None:
    """Verify the token in ADDRESS (an address or a bare token); print its fields as JSON.

    ``campaign_name`` and ``address`` name what the token's ids are in the
    database (null when it does not know them, or there is no database yet).
    Exits with status 1 when the token does not verify: such a token must not
    be trusted to unsubscribe or prune anyone.
    """
    keyring, _section = _resolve(key_id, secret, config_path)
    try:
        if "@" in address:
            data = parse_return_path(address, keyring, prefix=prefix)
        else:
            data = decode_token(address, keyring)
    except InvalidToken as exc:
        raise click.ClickException(f"token does not verify: {exc}") from exc
    campaign_name, subscriber_address = _known_names(config_path, data.campaign, data.subscriber)
    click.echo(
        json.dumps(
            {
                "campaign": data.campaign,
                "subscriber": data.subscriber,
                "campaign_name": campaign_name,
                "address": subscriber_address,
                "key_id": data.key_id,
                "version": data.version,
                "token": data.token,
            },
            ensure_ascii=False,
        )
    )


def _known_names(config_path: Path | None, campaign: str, subscriber: str) -> tuple[str | None, str | None]:
    """What the database calls the token's ids; never creates a database just to look."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from mailer.token_reader import lookup_names
    from responsemaster.store.database import open_store
    from responsemaster.store.engine import normalize_url

    settings = settings_from(config_path)
    url = make_url(normalize_url(settings.database_url))
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        return None, None
    try:
        store = open_store(settings)
    except SQLAlchemyError as exc:  # the token still verified: say so, and why the names are missing
        click.echo(f"note: cannot read the database for names: {str(getattr(exc, 'orig', exc)).splitlines()[0]}", err=True)
        return None, None
    try:
        return lookup_names(store, campaign, subscriber)
    finally:
        store.close()
