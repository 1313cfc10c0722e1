"""The ``responsemaster`` command: one group, one module per subcommand area."""

from __future__ import annotations

import click

from responsemaster.cli.classify_cmd import classify, evaluate, rules, train


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="responsemaster")
def main() -> None:
    """ResponseMaster: classify returned mail, log verdicts, prune, forward replies."""


main.add_command(classify)
main.add_command(rules)
main.add_command(train)
main.add_command(evaluate)


#: module -> click commands it defines; a module that does not exist yet is skipped.
_OPTIONAL: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("responsemaster.cli.verp_cmd", ("verp",)),
    ("responsemaster.cli.worker_cmd", ("run", "status", "export")),
    ("responsemaster.cli.mailer_cmd", ("mailer",)),
    ("responsemaster.cli.api_cmd", ("serve", "apikey")),
)


def _register_optional() -> None:
    """Subcommand areas that live in their own modules (added as they land)."""
    import importlib

    for module, names in _OPTIONAL:
        try:
            loaded = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        for name in names:
            main.add_command(getattr(loaded, name))


_register_optional()
