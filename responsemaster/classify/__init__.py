"""Classification: raw bytes in, a :class:`~responsemaster.verdict.Verdict` out.

Pure: nothing here touches a database, the network or the mailer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from responsemaster.classify.pipeline import Classifier
    from responsemaster.config import Settings


def build_classifier(settings: "Settings | None" = None) -> "Classifier":
    """The classifier the settings describe: shipped rules + operator rules + current model."""
    from responsemaster.classify.model.store import current_model
    from responsemaster.classify.pipeline import Classifier
    from responsemaster.classify.rules import RuleSet
    from responsemaster.config import Settings

    from responsemaster.verp_keys import configured_keyring, token_reader

    settings = settings or Settings()
    rules = RuleSet.load(settings.classify.rules_files)
    model = current_model(settings.classify.models_dir) if settings.classify.use_model else None  # loaded on first use
    section = settings.section("verp")
    keyring = configured_keyring(section)
    read_token = token_reader(keyring, section) if keyring is not None else None
    return Classifier(rules=rules, model=model, read_token=read_token)
