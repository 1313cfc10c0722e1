"""Options and helpers shared by the subcommands."""

from __future__ import annotations

from pathlib import Path

import click

from responsemaster.config import ConfigError, Settings, load_settings

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Configuration file (default: ./responsemaster.toml if present, else embedded defaults).",
)


def settings_from(config_path: Path | None) -> Settings:
    try:
        return load_settings(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def log_operation(store, operation: str, target: str, **detail: object) -> None:  # type: ignore[no-untyped-def]
    """One operation-log row for a change made from the command line (``cli:<user>``, from "local").

    Written right after the change commits (the change functions own their
    transactions); the API writes its rows inside the change's transaction.
    """
    from api import oplog

    with store.transaction() as session:
        oplog.record(session, oplog.cli_actor(), "local", operation, target, **detail)
