"""The ``responsemaster`` command: one group, one module per subcommand area."""

from __future__ import annotations

import click

from responsemaster.cli.api_cmd import apikey, serve
from responsemaster.cli.classify_cmd import classify, evaluate, rules, train
from responsemaster.cli.label_cmd import label
from responsemaster.cli.common import OneLineErrors
from responsemaster.cli.init_cmd import init
from responsemaster.cli.mailer_cmd import mailer
from responsemaster.cli.verp_cmd import verp
from responsemaster.cli.worker_cmd import export, run, status
from responsemaster.ingest.smtp_receiver import receive


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="responsemaster")
def main() -> None:
    """ResponseMaster: classify returned mail, log verdicts, prune, forward replies."""


for _command in (init, classify, rules, train, evaluate, label, run, status, export, receive, verp, mailer, serve, apikey):
    main.add_command(_command)
