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
from datetime import datetime

from sqlalchemy import update

from mailer.campaigns import Loaded, PreflightReport, load_campaign, preflight, set_status
from mailer.compose import Composer
from mailer.runner import CampaignRun, RunResult
from mailer.settings import mailer_settings
from mailer.tasks import MailerTasks, make_mailer_huey, register_mailer_tasks
from responsemaster.classify import configured_rules
from responsemaster.classify.pipeline import Classifier
from responsemaster.config import Settings
from responsemaster.routing.router import build_router
from responsemaster.store.base import utcnow
from responsemaster.store.database import Store, open_store
from responsemaster.store.mailing import CampaignPlan


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


def preflight_campaign(settings: Settings, store: Store, ref: int | str) -> tuple[Loaded, PreflightReport]:
    """Render every message ``ref`` would send now, with its real unsubscribe URLs; nothing is sent or written."""
    with store.reader() as session:
        loaded = load_campaign(session, ref)
    composer = Composer(mailer_settings(settings), loaded.campaign.id, loaded.campaign.name, "x@localhost")  # type: ignore[arg-type]
    return loaded, preflight(store, loaded, lambda sid: composer.unsubscribe_url(composer.token(sid)))


def queue_run(settings: Settings, store: Store, campaign_id: int, config_file: str | None, *,
              at: datetime | None = None, tasks: MailerTasks | None = None) -> str:
    """Queue a run of the campaign on the mailer's queue, now or at ``at``; the Huey task id.

    A consumer of that queue runs it (``mailer worker``, or the one ``serve`` runs).
    """
    tasks = tasks or register_mailer_tasks(make_mailer_huey(settings))
    set_status(store, campaign_id, "scheduled", scheduled_at=at or utcnow())  # before: an immediate queue runs it here
    task_id = tasks.schedule(config_file, campaign_id, eta=at)
    with store.transaction() as session:
        session.execute(update(CampaignPlan).where(CampaignPlan.campaign_id == campaign_id)  # type: ignore[arg-type]
                        .values(task_id=task_id))
    return task_id
