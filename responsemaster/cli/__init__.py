"""The ``responsemaster`` command: one group, one module per subcommand area.

Subcommands are imported when they are called, not all at start: ``run``
must bind the receiver's port within a second or two of a restart, and the
classifier, the API and the mailer weigh seconds of imports on a busy host.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from responsemaster import lifeline
from responsemaster.cli.common import OneLineErrors

#: command name -> "module:attribute"
COMMANDS = {
    "init": "responsemaster.cli.init_cmd:init",
    "classify": "responsemaster.cli.classify_cmd:classify",
    "rules": "responsemaster.cli.classify_cmd:rules",
    "train": "responsemaster.cli.classify_cmd:train",
    "evaluate": "responsemaster.cli.classify_cmd:evaluate",
    "label": "responsemaster.cli.label_cmd:label",
    "run": "responsemaster.cli.worker_cmd:run",
    "status": "responsemaster.cli.worker_cmd:status",
    "export": "responsemaster.cli.worker_cmd:export",
    "receive": "responsemaster.ingest.smtp_receiver:receive",
    "verp": "responsemaster.cli.verp_cmd:verp",
    "mailer": "responsemaster.cli.mailer_cmd:mailer",
    "serve": "responsemaster.cli.api_cmd:serve",
    "apikey": "responsemaster.cli.api_cmd:apikey",
}


class _LazyCommands(dict):  # type: ignore[type-arg]
    """name -> command, a command imported the first time it is asked for (listing them imports all)."""

    def _load(self, name: str) -> None:
        if name in COMMANDS and not dict.__contains__(self, name):
            module, _, attribute = COMMANDS[name].partition(":")
            dict.__setitem__(self, name, getattr(importlib.import_module(module), attribute))

    def _load_all(self) -> None:
        for name in COMMANDS:
            self._load(name)

    def get(self, name: str, default: Any = None) -> Any:
        self._load(name)
        return dict.get(self, name, default)

    def __getitem__(self, name: str) -> Any:
        self._load(name)
        return dict.__getitem__(self, name)

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS or dict.__contains__(self, name)

    def __iter__(self):  # type: ignore[no-untyped-def]
        self._load_all()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._load_all()
        return dict.__len__(self)

    def keys(self):  # type: ignore[no-untyped-def]
        self._load_all()
        return dict.keys(self)

    def values(self):  # type: ignore[no-untyped-def]
        self._load_all()
        return dict.values(self)

    def items(self):  # type: ignore[no-untyped-def]
        self._load_all()
        return dict.items(self)


class LazyGroup(OneLineErrors):
    """The top-level group: lazy subcommands, and a setting error from any of them is one line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _LazyCommands(self.commands)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="responsemaster")
def main() -> None:
    """ResponseMaster: classify returned mail, log verdicts, prune, forward replies."""
    lifeline.honour_env()  # started by another command (serve under run, train under serve): die with it
