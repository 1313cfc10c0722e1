"""``responsemaster mailer ...``: lists, imports, templates, campaigns, sending, DKIM keys, stats.

Thin wrappers over the ``mailer`` package; each command opens the store the
settings name (migrated to head) and prints what an operator needs to act on.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from responsemaster.cli.common import config_option, log_operation, settings_from
from responsemaster.config import Settings


def _store(settings: Settings):  # type: ignore[no-untyped-def]
    from responsemaster.store.database import open_store

    return open_store(settings)


class Limit(click.ParamType):
    """A recipient limit: a positive number, or ``all`` (stored as 0, the whole list)."""

    name = "N|all"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if text == "all":
            return 0
        if text.isdecimal() and text.isascii() and int(text) > 0:
            return int(text)
        self.fail(f"{value!r} is not a positive number or 'all'", param, ctx)


@click.group("mailer")
def mailer() -> None:
    """Subscribers, lists, templates and campaigns whose every return can be attributed."""


@mailer.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--list", "list_name", required=True, help="List to add the subscribers to (created if new).")
@config_option
def import_cmd(csv_file: Path, list_name: str, config_path: Path | None) -> None:
    """Import subscribers from CSV_FILE (needs an email column; other columns become template fields)."""
    from mailer.subscribers import import_csv

    store = _store(settings_from(config_path))
    try:
        report = import_csv(store, csv_file.read_bytes(), list_name)
        log_operation(store, "subscribers.import", list_name, file=str(csv_file), added=report.added_to_list,
                      rejected=len(report.rejected))
    except ValueError as exc:
        raise click.ClickException(f"{csv_file}: {exc}") from exc
    finally:
        store.close()
    for line in report.lines():
        click.echo(line)


@mailer.command("export")
@click.option("--list", "list_name", default=None, help="Only this list (default: every subscriber).")
@click.option("--field", "fields", multiple=True, help="Extra personalisation columns to include.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@config_option
def export_cmd(list_name: str | None, fields: tuple[str, ...], output: Path | None, config_path: Path | None) -> None:
    """Export subscribers as CSV (cells that a spreadsheet would run as formulas are neutralised)."""
    from mailer.subscribers import export_csv

    store = _store(settings_from(config_path))
    try:
        if output is None:
            count = export_csv(store, list_name, sys.stdout, list(fields))  # type: ignore[arg-type]
        else:
            with open(output, "w", encoding="utf-8", newline="") as handle:
                count = export_csv(store, list_name, handle, list(fields))  # type: ignore[arg-type]
    finally:
        store.close()
    click.echo(f"exported {count} subscribers", err=True)


@mailer.command("add")
@click.argument("address")
@click.option("--list", "list_name", required=True)
@click.option("--name", default="")
@config_option
def add_cmd(address: str, list_name: str, name: str, config_path: Path | None) -> None:
    """Add one ADDRESS to a list (validated like an import)."""
    from mailer.subscribers import add_subscriber

    store = _store(settings_from(config_path))
    try:
        report = add_subscriber(store, list_name, address, name)
        if report.added_to_list:
            log_operation(store, "subscribers.add", address, list=list_name)
    finally:
        store.close()
    if report.rejected:
        raise click.ClickException(report.rejected[0].reason)
    click.echo(f"{address}: {'added' if report.added_to_list else 'already on ' + list_name}")


@mailer.command("template")
@click.argument("name")
@click.option("--subject", required=True, help="Subject (a Jinja2 template too).")
@click.option("--html", "html_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--text", "text_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@config_option
def template_cmd(name: str, subject: str, html_file: Path | None, text_file: Path | None, config_path: Path | None) -> None:
    """Store template NAME from an HTML file and/or a text file (checked before it is saved)."""
    from mailer.campaigns import save_template
    from mailer.templates import TemplateProblem

    html = html_file.read_text(encoding="utf-8") if html_file else ""
    text = text_file.read_text(encoding="utf-8") if text_file else ""
    store = _store(settings_from(config_path))
    try:
        save_template(store, name, subject, html, text)
        log_operation(store, "template.save", name, subject=subject)
    except TemplateProblem as exc:
        raise click.ClickException(f"template {name}: {exc}") from exc
    finally:
        store.close()
    click.echo(f"template {name} saved")


@mailer.command("campaign")
@click.argument("name")
@click.option("--list", "list_name", required=True)
@click.option("--template", "template_name", required=True)
@click.option("--limit", type=Limit(), default="all", help="Send to at most this many of the list's members (default all).")
@click.option("--from", "from_address", default="", help="From header (default [mailer] from_address).")
@click.option("--reply-to", default="")
@config_option
def campaign_cmd(name: str, list_name: str, template_name: str, limit: int, from_address: str, reply_to: str,
                 config_path: Path | None) -> None:
    """Create draft campaign NAME (its id goes into every VERP token)."""
    from mailer.campaigns import CampaignError, create_campaign

    store = _store(settings_from(config_path))
    try:
        cid = create_campaign(store, name, list_name, template_name, from_address=from_address, reply_to=reply_to, limit=limit)
        log_operation(store, "campaign.create", name, id=cid, list=list_name, template=template_name)
    except CampaignError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"campaign {name} created (id {cid})")


@mailer.command("preflight")
@click.argument("campaign")
@config_option
def preflight_cmd(campaign: str, config_path: Path | None) -> None:
    """Render every recipient's message of CAMPAIGN without sending; exit 1 on any error."""
    from mailer.campaigns import CampaignError
    from mailer.service import preflight_campaign

    settings = settings_from(config_path)
    _warn_url(settings)
    store = _store(settings)
    try:
        _loaded, report = preflight_campaign(settings, store, campaign)
    except (CampaignError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)


@mailer.command("send")
@click.argument("campaign")
@click.option("--at", "at", default=None, help="Schedule for this ISO time (UTC if no offset) through the queue.")
@click.option("--limit", type=Limit(), default=None,
              help="Set the campaign's limit first: N members in all (those already mailed count), or 'all'. "
                   "Only members not yet mailed are sent to.")
@config_option
def send_cmd(campaign: str, at: str | None, limit: int | None, config_path: Path | None) -> None:
    """Send CAMPAIGN now (in this process), or schedule it with --at (run `mailer worker`).

    Sending again never mails anyone twice: `send C --limit 3` mails three
    members, `send C --limit 6` three more, `send C --limit all` the rest.
    """
    settings = settings_from(config_path)
    _warn_url(settings)
    if limit is not None:
        _set_limit(settings, campaign, limit)
    if at is not None:
        _schedule(settings, config_path, campaign, _parse_time(at))
        return
    from mailer.campaigns import CampaignError
    from mailer.service import send_campaign

    try:
        result = send_campaign(settings, campaign)
    except (CampaignError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    store = _store(settings)
    try:
        log_operation(store, "campaign.send", campaign, status=result.status, counts=dict(result.counts))
    finally:
        store.close()
    click.echo(f"campaign {result.campaign}: {result.status}")
    for key, value in sorted(result.counts.items()):
        click.echo(f"  {key}: {value}")
    if result.note:
        click.echo(result.note)
    if result.counts.get("held_back_by_limit"):
        click.echo(f"the campaign's limit holds back {result.counts['held_back_by_limit']} members: "
                   f"`mailer send {campaign} --limit N` (N in all) or `--limit all` mails them")
    if result.next_run_at:
        click.echo(f"next run due at {result.next_run_at.isoformat()} (send again, or let `mailer worker` do it)")
    if result.status == "preflight_failed":
        sys.exit(1)


def _warn_url(settings: Settings) -> None:
    """The one-line warning for a plain-http (loopback) unsubscribe URL; a wrong setting stops here."""
    from mailer.settings import mailer_settings

    warning = mailer_settings(settings).url_warning
    if warning:
        click.echo(f"warning: [mailer] unsubscribe_url {warning}", err=True)


def _set_limit(settings: Settings, campaign: str, limit: int) -> None:
    from mailer.campaigns import CampaignError, set_limit

    store = _store(settings)
    try:
        before = set_limit(store, campaign, limit)
        if before != limit:
            log_operation(store, "campaign.limit", campaign, before=before, after=limit)
    except CampaignError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()


def _parse_time(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO time such as 2026-05-01T09:00") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _schedule(settings: Settings, config_path: Path | None, campaign: str, when: datetime) -> None:
    from mailer.campaigns import CampaignError, load_campaign
    from mailer.service import queue_run

    store = _store(settings)
    try:
        with store.reader() as session:
            cid = load_campaign(session, campaign).campaign.id
        task_id = queue_run(settings, store, cid, str(config_path.resolve()) if config_path else None, at=when)  # type: ignore[arg-type]
        log_operation(store, "campaign.schedule", campaign, at=when.isoformat(), task=task_id)
    except CampaignError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"campaign {campaign} scheduled for {when.isoformat()} (task {task_id})")


@mailer.command("worker")
@click.option("--workers", type=int, default=1)
@config_option
def worker_cmd(workers: int, config_path: Path | None) -> None:
    """Run the Huey consumer for scheduled and continued campaign runs."""
    from mailer.tasks import make_mailer_huey, register_mailer_tasks
    from responsemaster import lifeline

    lifeline.tie_forked_children()  # thread workers today; a forked one would die with this process too
    settings = settings_from(config_path)
    _warn_url(settings)  # reads [mailer] and [verp] now: a wrong setting is one line here, not a traceback per task
    _store(settings).close()  # migrate before any consumer forks
    huey = make_mailer_huey(settings)
    register_mailer_tasks(huey)
    huey.create_consumer(workers=workers, worker_type="thread").run()


@mailer.command("resend-uncertain")
@click.argument("campaign")
@config_option
def resend_uncertain_cmd(campaign: str, config_path: Path | None) -> None:
    """Queue CAMPAIGN's 'uncertain' recipients again (they may get a second copy: you decide)."""
    from sqlalchemy import update

    from mailer.campaigns import load_campaign
    from responsemaster.store.platform import Delivery

    store = _store(settings_from(config_path))
    try:
        with store.transaction() as session:
            cid = load_campaign(session, campaign).campaign.id
            count = session.execute(update(Delivery).where(Delivery.campaign_id == cid, Delivery.status == "uncertain")  # type: ignore[arg-type]
                                    .values(status="queued")).rowcount
        log_operation(store, "campaign.resend_uncertain", campaign, queued=count)
    finally:
        store.close()
    click.echo(f"{count} uncertain recipients queued again; run `mailer send {campaign}`")


@mailer.command("stats")
@click.argument("campaign", required=False)
@click.option("--by-domain", is_flag=True, help="Per recipient domain (needs CAMPAIGN).")
@config_option
def stats_cmd(campaign: str | None, by_domain: bool, config_path: Path | None) -> None:
    """Campaign analytics as JSON: sent, failed at send time, bounces by category, replies, complaints, unsubscribes."""
    from mailer.analytics import all_campaign_stats, campaign_stats, domain_stats
    from mailer.campaigns import CampaignError, load_campaign

    store = _store(settings_from(config_path))
    try:
        with store.reader() as session:
            if campaign is None:
                data: object = all_campaign_stats(session)
            else:
                loaded = load_campaign(session, campaign).campaign
                data = domain_stats(session, loaded) if by_domain else campaign_stats(session, loaded)
    except CampaignError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(json.dumps(data, indent=2, default=str))


@mailer.command("dkim-keygen")
@click.option("--domain", required=True, help="The signing domain (d=).")
@click.option("--selector", required=True, help="The selector (s=).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Private key file (default var/dkim/<selector>.<domain>.pem).")
@click.option("--bits", type=click.IntRange(1024, 4096), default=2048)
@config_option
def dkim_keygen_cmd(domain: str, selector: str, out: Path | None, bits: int, config_path: Path | None) -> None:
    """Generate a DKIM key; print the SPF, DKIM and DMARC records to publish and the config to add."""
    from mailer.dkim_keys import dns_records, generate_rsa_key, write_private_key
    from mailer.settings import mailer_settings

    settings = settings_from(config_path)
    path = out or settings.var / "dkim" / f"{selector}.{domain}.pem"
    private, public = generate_rsa_key(bits)
    try:
        write_private_key(path, private)
    except FileExistsError as exc:
        raise click.ClickException(f"{path} exists: refusing to replace a key that may be published") from exc
    relays = [r.host for r in mailer_settings(settings).relays]
    click.echo(f"; private key written to {path} (mode 0600)")
    click.echo("; publish these DNS records:")
    for record in dns_records(domain, selector, public, relays):
        click.echo(record.zone_line())
    click.echo("; and add to the configuration:")
    click.echo(f'[mailer.dkim]\ndomain = "{domain}"\nselector = "{selector}"\nkey_file = "{path}"')


def _register_inspection() -> None:
    from responsemaster.cli.mailer_inspect_cmd import campaigns_cmd, lists_cmd, preview_cmd, templates_cmd, test_cmd

    for command in (lists_cmd, templates_cmd, campaigns_cmd, preview_cmd, test_cmd):
        mailer.add_command(command)


_register_inspection()
