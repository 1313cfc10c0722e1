"""Classification: raw bytes in, a :class:`~responsemaster.verdict.Verdict` out.

Pure: nothing here touches a database, the network or the mailer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from responsemaster.classify.pipeline import Classifier
    from responsemaster.config import Settings


def build_classifier(settings: "Settings | None" = None) -> "Classifier":
    """The classifier the settings describe: shipped rules + operator rules + current models (message, recipient)."""
    from responsemaster.classify.model.store import load_current_model, load_current_recipient_model
    from responsemaster.classify.pipeline import Classifier
    from responsemaster.config import Settings
    from responsemaster.verp_keys import configured_keyring, token_reader

    settings = settings or Settings()
    rules = configured_rules(settings)
    model = load_current_model(settings.classify.models_dir) if settings.classify.use_model else None
    recipient_model = load_current_recipient_model(settings.classify.models_dir) if settings.classify.use_model else None
    section = settings.section("verp")
    keyring = configured_keyring(section)
    read_token = token_reader(keyring, section, prefixes=token_prefixes(settings)) if keyring is not None else None
    return Classifier(rules=rules, model=model, read_token=read_token, recipient_model=recipient_model)


def configured_rules(settings: "Settings"):  # type: ignore[no-untyped-def]
    """The shipped rules plus ``[classify] rules_files``; a file that does not load is a SettingError."""
    from responsemaster.classify.rules import RuleError, RuleSet
    from responsemaster.config import SettingError

    try:
        return RuleSet.load(settings.classify.rules_files)
    except RuleError as exc:
        raise SettingError("[classify] rules_files", str(exc)) from exc


def token_prefixes(settings: "Settings") -> list[str]:
    """Local parts other than the return path's that carry a token: the mailer's unsubscribe address.

    ``classify`` and the worker read the same tokens, so a message is attributed the same way by both.
    """
    from mailer.settings import mailer_settings

    unsubscribe_local = mailer_settings(settings).unsubscribe_mailto.rpartition("@")[0]  # unsubscribe+<token>@...
    return [unsubscribe_local] if unsubscribe_local else []
