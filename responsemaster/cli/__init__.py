"""The ``responsemaster`` command: one group, one module per subcommand area.

Subcommands are imported when they are called, not all at start: ``run``
must bind the receiver's port within a second or two of a restart, and the
classifier, the API and the mailer weigh seconds of imports on a busy host.
"""

from __future__ import annotations

import importlib

import click

from responsemaster import lifeline

#: command name -> "module:attribute"
COMMANDS = {
    "classify": "responsemaster.cli.classify_cmd:classify",
    "rules": "responsemaster.cli.classify_cmd:rules",
    "train": "responsemaster.cli.classify_cmd:train",
    "evaluate": "responsemaster.cli.classify_cmd:evaluate",
    "run": "responsemaster.cli.worker_cmd:run",
    "status": "responsemaster.cli.worker_cmd:status",
    "export": "responsemaster.cli.worker_cmd:export",
    "receive": "responsemaster.ingest.smtp_receiver:receive",
    "verp": "responsemaster.cli.verp_cmd:verp",
    "mailer": "responsemaster.cli.mailer_cmd:mailer",
    "serve": "responsemaster.cli.api_cmd:serve",
    "apikey": "responsemaster.cli.api_cmd:apikey",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (``--help`` lists them all)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS and name not in self.commands:
            module, _, attribute = COMMANDS[name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="responsemaster")
def main() -> None:
    """ResponseMaster: classify returned mail, log verdicts, prune, forward replies."""
    lifeline.honour_env()  # started by another command (serve under run, train under serve): die with it
