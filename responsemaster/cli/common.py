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
