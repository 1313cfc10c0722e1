"""The ``responsemaster`` command: one group, one module per subcommand area.

Subcommands are imported when they are called, not when the group is built:
``classify`` on one file must not pay for importing the API, the mailer, the
SMTP receiver and rich (a third of a one-file run's start-up when they were
imported up front). ``--help`` lists them all from the table below.
"""

from __future__ import annotations

import importlib
import os

import click

from responsemaster import lifeline
from responsemaster.cli.common import OneLineErrors

#: numpy's OpenBLAS starts a thread per CPU when numpy is imported: 0.085 CPU seconds of every
#: command that imports it on two CPUs (more on bigger machines), for nothing: the scorers sum
#: vectors of a few hundred numbers (a one-file classify imports no numpy at all), training's
#: dense products are small. Set here, before any subcommand imports numpy (nothing above does);
#: a value already in the environment is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

#: name -> (module, attribute, one-line help shown by ``responsemaster --help``)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("responsemaster.cli.init_cmd", "init",
              "Write a commented responsemaster.toml with a freshly generated VERP secret."),
    "classify": ("responsemaster.cli.classify_cmd", "classify",
                  "Classify .eml files, folders of them, Maildirs and mbox files."),
    "rules": ("responsemaster.cli.classify_cmd", "rules",
               "Inspect and validate rules files."),
    "train": ("responsemaster.cli.classify_cmd", "train",
               "Rebuild the model from training_data/ into models/<id>/ and point models/CURRENT at it."),
    "evaluate": ("responsemaster.cli.classify_cmd", "evaluate",
                  "Print per-category precision/recall/F1 and a confusion matrix."),
    "label": ("responsemaster.cli.label_cmd", "label",
               "Add a correction to training_data/, the way the review page does (the next `train` learns it)."),
    "run": ("responsemaster.cli.worker_cmd", "run",
             "The worker: drain every configured source, record verdicts, route them; serve the API beside it."),
    "status": ("responsemaster.cli.worker_cmd", "status",
                "Per source: processed, pending, quarantined, last error."),
    "export": ("responsemaster.cli.worker_cmd", "export",
                "Export recorded data."),
    "receive": ("responsemaster.ingest.smtp_receiver", "receive",
                 "Run the built-in SMTP receiver in the foreground until interrupted."),
    "verp": ("responsemaster.cli.verp_cmd", "verp",
              "Encode and decode return-path (VERP) tokens; see docs/return-path-spec.md."),
    "mailer": ("responsemaster.cli.mailer_cmd", "mailer",
                "Subscribers, lists, templates and campaigns whose every return can be attributed."),
    "serve": ("responsemaster.cli.api_cmd", "serve",
               "Serve the HTTP API, the review page and the one-click unsubscribe endpoint."),
    "apikey": ("responsemaster.cli.api_cmd", "apikey",
                "Create, revoke and list API keys (stored hashed; a key is shown once)."),
}


class LazyGroup(OneLineErrors):
    """A group whose subcommands are imported on first use (a setting error below is still one line)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attribute, _help = entry
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The list in ``--help`` without importing every command for its docstring."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, entry[2]) for name, entry in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="responsemaster")
def main() -> None:
    """ResponseMaster: classify returned mail, log verdicts, prune, forward replies."""
    lifeline.honour_env()  # started by another command (serve under run, train under serve): die with it
