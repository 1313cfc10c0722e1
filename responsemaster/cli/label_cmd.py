"""``label`` (a correction from the shell) and ``rules stats`` (how well labelled mail backs each rule)."""

from __future__ import annotations

import getpass
import hashlib
from pathlib import Path

import click

from responsemaster.categories import CATEGORIES, DEFAULT_REASON, Category
from responsemaster.cli.common import config_option, settings_from


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--category", required=True, type=click.Choice(CATEGORIES), help="The correct category.")
@click.option("--reason", default="", help="The correct reason (one of the category's; default: its default).")
@click.option("--recipient", "address", default=None,
              help="Correct this recipient of a bounce only (the message takes its first recipient's category).")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Training data folder (default: training_data/).")
@config_option
def label(files: tuple[Path, ...], category: str, reason: str, address: str | None, data_dir: Path | None,
          config_path: Path | None) -> None:
    """Add a correction to training_data/, the way the review page does (the next `train` learns it)."""
    from responsemaster.classify import build_classifier
    from responsemaster.classify.model.corrections import CorrectionError, check_label, write_correction
    from responsemaster.classify.model.dataset import RecipientLabel
    from responsemaster.classify.model.training import default_data_dir

    settings = settings_from(config_path)
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir(settings)
    try:
        check_label(category, reason)
    except CorrectionError as exc:
        raise click.BadParameter(str(exc), param_hint="--reason") from None
    classifier = build_classifier(settings)
    user = getpass.getuser()
    for path in files:
        raw = path.read_bytes()
        verdict = classifier.classify(raw)
        message_category, recipients = category, []
        if address is not None:
            reported = [r.final_recipient or r.address for r in verdict.recipients]
            wanted = address.strip().lower()
            position = next((i for i, r in enumerate(verdict.recipients)
                             if wanted in (r.address.lower(), r.final_recipient.lower())), None)
            if position is None:
                raise click.ClickException(f"{path}: reports no recipient {address} "
                                           f"(it reports: {', '.join(reported) or 'none'})")
            recipients = [RecipientLabel(wanted, category, reason or DEFAULT_REASON[Category(category)])]
            if position:
                message_category = verdict.category or category
        relative = write_correction(
            data_dir, raw, hashlib.sha256(raw).hexdigest(), message_category, by=f"cli:{user}",
            source=f"label:{user}", previous=verdict.category or "", recipients=recipients,
            reason=reason if not address or message_category == category else "", note=f"labelled from {path}")
        click.echo(f"{path} -> {data_dir / relative}")


def print_rule_stats(settings_path: Path | None, data_dir: Path | None, generated: bool) -> None:
    from rich.table import Table

    from responsemaster.classify.model.dataset import load_examples
    from responsemaster.classify.model.report import console
    from responsemaster.classify.model.training import default_data_dir
    from responsemaster.classify.rule_stats import rule_stats, summary
    from responsemaster.classify.rules import RuleSet

    settings = settings_from(settings_path)
    folder = Path(data_dir) if data_dir is not None else default_data_dir(settings)
    examples = [e for e in load_examples(folder) if generated or not e.generated]
    stats = rule_stats(RuleSet.load(settings.classify.rules_files), examples)
    table = Table(title=f"rules on {len(examples)} labelled messages in {folder}")
    for head in ("rule", "field", "hits", "sources", "precision", "reason precision", "flag"):
        table.add_column(head, justify="left" if head in ("rule", "field", "flag") else "right")
    for s in stats:
        flag = "one message" if s.single_message else ("never hit" if not s.hits else "")
        table.add_row(s.rule.id, s.rule.field, str(s.hits), str(len(s.sources)), _pct(s.precision),
                      _pct(s.reason_precision), flag)
    console().print(table)
    totals = summary(stats)
    click.echo(f"{totals['rules']} rules: {totals['single_message']} supported by one message only, "
               f"{totals['never_hit']} never hit, {totals['several_sources']} hit in more than one source")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"
