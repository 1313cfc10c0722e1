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
    from responsemaster.classify.model.store import load_current_model
    from responsemaster.classify.pipeline import Classifier
    from responsemaster.classify.rules import RuleSet
    from responsemaster.config import Settings

    settings = settings or Settings()
    rules = RuleSet.load(settings.classify.rules_files)
    model = load_current_model(settings.classify.models_dir) if settings.classify.use_model else None
    return Classifier(rules=rules, model=model)
