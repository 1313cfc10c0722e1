"""Entry points that turn settings into a campaign run (CLI, Huey task, tests).

Everything is built from the settings passed in: the store, the router that
applies dispositions to send-time refusals, and a rules-only classifier (the
reason logic reads the relay's words; no model is needed for that).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid

from mailer.campaigns import load_campaign
from mailer.runner import CampaignRun, RunResult
from mailer.settings import mailer_settings
from responsemaster.classify import configured_rules
from responsemaster.classify.pipeline import Classifier
from responsemaster.config import Settings
from responsemaster.routing.router import build_router
from responsemaster.store.database import Store, open_store


def run_owner() -> str:
    return f"mailer.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


def send_campaign(settings: Settings, ref: int | str, *, store: Store | None = None) -> RunResult:
    """Run campaign ``ref`` (id or name) now, to completion or until quotas/relays stop it."""
    own_store = store is None
    store = store or open_store(settings)
    try:
        with store.reader() as session:
            loaded = load_campaign(session, ref)
        run = CampaignRun(store, mailer_settings(settings), loaded, build_router(settings),
                          Classifier(rules=configured_rules(settings)), run_owner())
        return asyncio.run(run.run())
    finally:
        if own_store:
            store.close()
