"""``classify``, ``rules check``/``rules stats``, ``train`` and ``evaluate``."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from pathlib import Path

import click

from responsemaster.cli.classify_jobs import SMALL
from responsemaster.cli.common import config_option, settings_from


@click.command()
@click.option("--jsonl", is_flag=True, help="One JSON object per message (fields: docs/categories.md).")
@click.option("--no-model", is_flag=True, help="Structure and rules only; do not load the trained model.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Processes that classify (default: one per CPU this process may use). "
                   f"Output order is the input order whatever N; under {SMALL} messages one process does it all.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@config_option
def classify(paths: tuple[Path, ...], jsonl: bool, no_model: bool, jobs: int | None, config_path: Path | None) -> None:
    """Classify .eml files, folders of them, Maildirs and mbox files.

    Messages are streamed in input order. A message that cannot be read or
    parsed, or a file given by name that is not mail, still gets a line, with
    "error" set and no category, and the run goes on; files inside a folder
    that are not mail (a README, a LICENSE) are skipped with a note on
    stderr. With many messages, --jobs processes classify them (models
    loaded once, before they start); the lines come out in input order all
    the same. Exit status 2 when a given path does not exist (after the other
    lines) or a classifying process died, else 0.
    """
    from responsemaster.classify import build_classifier
    from responsemaster.cli.classify_jobs import WorkerDied, outcomes
    from responsemaster.cpus import usable_cpus
    from responsemaster.ingest.paths import iter_paths

    settings = settings_from(config_path)
    if no_model:
        settings.classify.use_model = False
    classifier = build_classifier(settings)
    render = functools.partial(_render, jsonl)
    out = sys.stdout
    try:  # closing: the children are stopped here, not whenever the generator is collected
        with contextlib.closing(outcomes(classifier, iter_paths(paths), render, jobs or usable_cpus())) as lines:
            for kind, text in lines:
                if kind == "skip":
                    click.echo(text, err=True)
                    continue
                out.write(text + "\n")
                out.flush()
    except WorkerDied as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        click.echo(f"error: no such file or directory: {', '.join(missing)}", err=True)
        sys.exit(2)


def _render(jsonl: bool, classifier, item) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """One input's line, or ("skip", the note) for a file in a folder that is not mail.

    Runs in whichever process classifies the input (:mod:`responsemaster.cli.classify_jobs`).
    """
    from responsemaster.verdict import NOT_MAIL, UNREADABLE, Verdict

    if item.error:
        verdict = Verdict.failure(UNREADABLE, item.error)
    else:
        verdict = classifier.classify(item.raw)  # its first question: is this mail at all (not_mail_reason)
        if item.in_folder and verdict.category is None and verdict.reason == NOT_MAIL:
            return "skip", f"skipped {item.label}: {verdict.error}"
    if jsonl:
        return "line", json.dumps(verdict.to_json(item.label), ensure_ascii=False)
    return "line", _human_line(item.label, verdict)


def _human_line(label: str, verdict) -> str:
    who = ", ".join(f"{r.address} ({r.reason})" for r in verdict.recipients[:3])
    extra = f" error: {verdict.error}" if verdict.error else ""
    return f"{label}\t{verdict.category or '-'}\t{verdict.reason}\t{verdict.confidence:.2f}\t{verdict.decided_by}\t{who}{extra}"


@click.group()
def rules() -> None:
    """Inspect and validate rules files."""


@rules.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def rules_check(file: Path) -> None:
    """Validate a rules FILE: syntax, patterns, categories, reasons, duplicate ids."""
    from responsemaster.classify.rules import RuleError, load_rules_file

    try:
        loaded = load_rules_file(file)
    except RuleError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{file}: {len(loaded)} rules OK")


@rules.command("stats")
@config_option
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Labelled data (default: training_data/).")
@click.option("--generated", is_flag=True, help="Also count generated bounces (the provider catalogue, the lab).")
def rules_stats(config_path: Path | None, data_dir: Path | None, generated: bool) -> None:
    """Per rule: hits on the labelled data, distinct sources, precision; rules one message supports are flagged."""
    from responsemaster.cli.label_cmd import print_rule_stats

    print_rule_stats(config_path, data_dir, generated)


@click.command()
@config_option
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Training data folder (default: training_data/).")
def train(config_path: Path | None, data_dir: Path | None) -> None:
    """Rebuild the model from training_data/ into models/<id>/ and point models/CURRENT at it."""
    from responsemaster.classify.model.training import default_data_dir, train_command
    from responsemaster.cli.common import log_operation
    from responsemaster.store import open_store

    settings = settings_from(config_path)
    target = train_command(settings, data_dir)
    store = open_store(settings)  # the operation log lives in the database
    try:
        log_operation(store, "model.train", target.name, data=str(data_dir or default_data_dir(settings)))
    finally:
        store.close()


@click.command()
@config_option
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Labelled data to evaluate on (default: training_data/, cross-validated).")
def evaluate(config_path: Path | None, data_dir: Path | None) -> None:
    """Print per-category precision/recall/F1 and a confusion matrix."""
    from responsemaster.classify.model.training import evaluate_command

    evaluate_command(settings_from(config_path), data_dir)
