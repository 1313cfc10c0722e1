"""``mailer lists|templates|campaigns|preview|test``: look before you send; nothing here changes a campaign.

Registered on the ``mailer`` group by :mod:`responsemaster.cli.mailer_cmd`.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from responsemaster.cli.common import config_option, settings_from

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")


def _store(config_path: Path | None):  # type: ignore[no-untyped-def]
    from responsemaster.store.database import open_store

    settings = settings_from(config_path)
    return settings, open_store(settings)


def _table(rows: list[dict[str, Any]], columns: list[str], as_json: bool, empty: str) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo(empty)
        return
    cells = [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _cell(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return " ".join(str(value).split())[:60]


def _rows(config_path: Path | None, query) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """``query(session)`` on the configured store, in one read."""
    _settings, store = _store(config_path)
    try:
        with store.reader() as session:
            return query(session)
    finally:
        store.close()


@click.command("lists")
@JSON_OPTION
@config_option
def lists_cmd(as_json: bool, config_path: Path | None) -> None:
    """Every list, with its subscribed members and how many of them may be mailed."""
    from mailer.listing import lists

    _table(_rows(config_path, lists), ["name", "subscribed", "mailable", "created_at"], as_json,
           "no lists yet: `mailer import FILE --list L`")


@click.command("templates")
@JSON_OPTION
@config_option
def templates_cmd(as_json: bool, config_path: Path | None) -> None:
    """Every stored template: its subject and parts."""
    from mailer.listing import templates

    _table(_rows(config_path, templates), ["name", "subject", "parts", "updated_at"], as_json,
           "no templates yet: `mailer template NAME ...`")


@click.command("campaigns")
@JSON_OPTION
@config_option
def campaigns_cmd(as_json: bool, config_path: Path | None) -> None:
    """Every campaign: list, template, status, limit (all: the whole list), recipients so far, sent."""
    from mailer.listing import campaigns

    rows = _rows(config_path, campaigns)
    columns = ["id", "name", "list", "template", "status", "limit", "recipients", "sent", "created_at"]
    shown = rows if as_json else [{**row, "limit": row["limit"] or "all"} for row in rows]
    _table(shown, columns, as_json, "no campaigns yet: `mailer campaign NAME --list L --template T`")


def _loaded(store, campaign: str):  # type: ignore[no-untyped-def]
    from mailer.campaigns import load_campaign

    with store.reader() as session:
        return load_campaign(session, campaign)


@click.command("preview")
@click.argument("campaign")
@click.option("--subscriber", "address", required=True, help="The list member to render the campaign for.")
@click.option("-o", "--out", "prefix", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write PREFIX.html and PREFIX.txt (default preview-<campaign>).")
@config_option
def preview_cmd(campaign: str, address: str, prefix: Path | None, config_path: Path | None) -> None:
    """Write what SUBSCRIBER would receive from CAMPAIGN (HTML and text parts); sends nothing."""
    from mailer.campaigns import CampaignError
    from mailer.one_copy import member, render
    from mailer.settings import mailer_settings

    settings, store = _store(config_path)
    try:
        loaded = _loaded(store, campaign)
        copy = render(mailer_settings(settings), loaded, member(store, loaded, address))
    except (CampaignError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    prefix = prefix or Path(f"preview-{loaded.campaign.name}")
    click.echo(f"subject: {copy.rendered.subject}")
    for suffix, body in ((".html", copy.rendered.html), (".txt", copy.rendered.text)):
        if body:
            path = prefix.with_name(prefix.name + suffix)
            path.write_text(body, encoding="utf-8")
            click.echo(f"{suffix[1:]}: {path}")
    if not copy.recipient.mailable:
        click.echo(f"note: {copy.recipient.address} will not be mailed (unsubscribed, pruned or suppressed)")


@click.command("test")
@click.argument("campaign")
@click.option("--to", "to", required=True, help="Where the test copy goes.")
@click.option("--subscriber", "address", default=None, help="Render it for this member (default: the first mailable one).")
@config_option
def test_cmd(campaign: str, to: str, address: str | None, config_path: Path | None) -> None:
    """Send one copy of CAMPAIGN to an address, marked [TEST]; counted nowhere, nobody's token."""
    from mailer.campaigns import CampaignError
    from mailer.one_copy import member, send_one, test_envelope
    from mailer.settings import mailer_settings
    from responsemaster.addresses import InvalidAddress, validate_address

    try:
        to = validate_address(to)
    except InvalidAddress as exc:
        raise click.BadParameter(str(exc), param_hint="--to") from exc
    settings, store = _store(config_path)
    mailer = mailer_settings(settings)
    if mailer.url_warning:
        click.echo(f"warning: [mailer] unsubscribe_url {mailer.url_warning}", err=True)
    try:
        loaded = _loaded(store, campaign)
        envelope = test_envelope(mailer, loaded, member(store, loaded, address), to)
        reply = send_one(mailer.relays[0], envelope)
    except (CampaignError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"test copy of {loaded.campaign.name} sent to {to} via {mailer.relays[0].name}: {reply}")
