"""What every controller may need, built once by ``create_app`` and injected.

One object instead of a dozen module globals: a test builds its own (a
temporary database, an in-memory Huey, a fake classifier) and hands it over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from litestar.di import NamedDependency

from api.auth import KeyCache
from api.config import ApiSettings
from api.tasks import ApiTasks
from responsemaster.config import Settings
from responsemaster.store.database import Store
from responsemaster.verp import Keyring


@dataclass
class ApiContext:
    settings: Settings
    api: ApiSettings
    store: Store
    #: None when no VERP key is configured: one-click unsubscribe then refuses every token.
    keyring: Keyring | None
    tasks: ApiTasks
    key_cache: KeyCache = field(default_factory=lambda: KeyCache(0))
    #: The configuration file the settings came from (None: the defaults); queued tasks carry it.
    config_path: str | None = None

    @property
    def training_dir(self) -> Path:
        return self.api.training_dir(self.settings)

    @property
    def models_dir(self) -> Path:
        return Path(self.settings.classify.models_dir)


#: How handlers ask for the context: an explicitly named dependency (Litestar >= 2.23).
Ctx = NamedDependency[ApiContext]
