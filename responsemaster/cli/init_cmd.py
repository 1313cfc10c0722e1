"""``responsemaster init``: write a commented responsemaster.toml with a fresh VERP secret.

The one command a list owner types before the mailer's quick start
(docs/mailer.md). It never overwrites a file (the secret in it signs mail
already sent: lose it and those returns can no longer be attributed), and it
creates the file readable by its owner only, since it holds that secret.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

import click

from responsemaster.config import DEFAULT_CONFIG_FILE
from responsemaster.verp import one_click_url_warning
from responsemaster.verp_keys import DEFAULT_BOUNCE_DOMAIN

DEFAULT_RELAY = "127.0.0.1:25"
#: The API's own address (``run`` and ``serve`` listen there by default).
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8025"

TEMPLATE = """\
# ResponseMaster configuration, written by `responsemaster init` on {today}.
# Everything not written here has an embedded default: docs/configuration.md
# lists every section. Relative paths are relative to this file's folder.

# The database, the queue, the returned-mail Maildir and the quarantine live here.
var_dir = "var"

[verp]
# Signs the token in every envelope sender, Message-ID and unsubscribe link,
# so that returns are attributed and nobody can unsubscribe someone else.
# Generated for this installation: keep it secret (this file is mode 0600),
# and keep it: mail already sent is only verified with the key that signed it.
# RESPONSEMASTER_VERP_KEY_K1 in the environment overrides the value below.
# To rotate: add k2, set current_key = "k2", keep k1 until its mail stops coming back.
keys = {{ k1 = "{secret}" }}
current_key = "k1"
prefix = "bounces"
# Bounces come back to bounces+<token>@{bounce_domain}: the MX of this domain
# must be your returned-mail server (the built-in receiver, or a mailbox `run` drains).
bounce_domain = "{bounce_domain}"

[mailer]
from_address = {from_address}
# reply_to = "support@example.org"        # human replies go to From unless this is set
# One-click unsubscribe links (RFC 8058), answered by the API's /unsubscribe/ page.
# They must be https:// and reachable by your subscribers; http:// is accepted
# only on a loopback host, for a trial.
unsubscribe_url = {unsubscribe_url}
# Unsubscribe requests by mail go to unsubscribe+<token>@ this address's domain.
unsubscribe_mailto = "unsubscribe@{bounce_domain}"
per_domain_rate = 0                        # messages per second to one recipient domain; 0 = no limit

[[mailer.relays]]
name = "primary"
host = {relay_host}
port = {relay_port}
tls = "{tls}"                            # none | starttls | tls
max_connections = 4
max_per_hour = 0                           # quotas; 0 = unlimited
max_per_day = 0
# username = "mailer"                      # password from RESPONSEMASTER_RELAY_PRIMARY_PASSWORD

# [routing]                                # what happens per category: docs/worker.md
# forward_to = "support@example.org"       # human replies are forwarded here
# alert_to = "postmaster@example.org"      # blocks and content rejections are reported here

# [receiver]                               # the built-in SMTP receiver for returned mail: docs/sources.md
# host = "0.0.0.0"                         # listening beyond loopback needs the domains it accepts:
# domains = ["{bounce_domain}"]
"""


def parse_relay(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:25`` for IPv6) into its parts; BadParameter naming the problem."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = value, "25"
    host = host.strip("[]")
    if not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{value!r} is not HOST:PORT (e.g. smtp.example.org:587)", param_hint="--relay")
    return host, int(port)


def tls_for(port: int) -> str:
    """The usual TLS mode for a relay port: implicit TLS on 465, STARTTLS on 587, none otherwise (25, a local sink)."""
    if port == 465:
        return "tls"
    if port == 587:
        return "starttls"
    return "none"


def sender_for(bounce_domain: str) -> str:
    """``news@`` the domain the bounce domain belongs to (``bounces.example.org`` -> ``example.org``)."""
    labels = bounce_domain.split(".")
    domain = ".".join(labels[1:]) if len(labels) > 2 else bounce_domain
    return f"News <news@{domain}>"


def _check_domain(value: str) -> str:
    domain = value.strip().strip(".").lower()
    try:
        ipaddress.ip_address(domain)
        is_ip = True
    except ValueError:
        is_ip = False
    if is_ip or "." not in domain or not all(label and label.replace("-", "").isalnum() for label in domain.split(".")):
        raise click.BadParameter(f"{value!r} is not a domain name such as bounces.example.org", param_hint="--bounce-domain")
    return domain


@click.command("init")
@click.option("--relay", default=DEFAULT_RELAY, show_default=True, help="The SMTP relay the mailer sends through, HOST:PORT.")
@click.option("--bounce-domain", default=DEFAULT_BOUNCE_DOMAIN, show_default=True,
              help="Domain of the return path (bounces+<token>@D); its MX is the returned-mail server.")
@click.option("--public-url", default=DEFAULT_PUBLIC_URL, show_default=True,
              help="Public address of the API, for unsubscribe links (https://; http:// on loopback only).")
@click.option("--from", "from_address", default=None, help="From header of campaigns (default: news@ the bounce domain's parent).")
@click.option("--config", "path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_CONFIG_FILE,
              show_default=True, help="The file to write (never overwritten).")
def init(relay: str, bounce_domain: str, public_url: str, from_address: str | None, path: Path) -> None:
    """Write a commented responsemaster.toml with a freshly generated VERP secret."""
    host, port = parse_relay(relay)
    domain = _check_domain(bounce_domain)
    url = public_url.rstrip("/")
    try:
        warning = one_click_url_warning(url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--public-url") from exc
    text = TEMPLATE.format(
        today=datetime.now(UTC).date().isoformat(), secret=secrets.token_urlsafe(32), bounce_domain=domain,
        from_address=json.dumps(from_address or sender_for(domain), ensure_ascii=False), unsubscribe_url=json.dumps(url + "/unsubscribe/{token}", ensure_ascii=False),
        relay_host=json.dumps(host, ensure_ascii=False), relay_port=port, tls=tls_for(port),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{path} exists: not overwriting it (its VERP secret signs mail already sent)") from None
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot create: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    if warning:
        click.echo(f"warning: unsubscribe links: {warning}", err=True)
    click.echo(f"wrote {path} (relay {host}:{port}, bounce domain {domain}, unsubscribe links {url}/unsubscribe/...)")
    click.echo("next: docs/mailer.md's quick start (`responsemaster mailer import ...`)")
