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


class OneLineErrors(click.Group):
    """The top-level group: a configuration error raised by any command below is one line, not a traceback.

    Settings are read lazily by the subsystems that own them (the mailer's
    relays, the worker's sources, the VERP keys...), often deep inside a
    command; each raises :class:`~responsemaster.config.SettingError` naming
    the setting, and this is the one place that turns it into
    ``Error: [verp] keys.k1: ...`` and exit status 1.
    """

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc


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
