"""Huey tasks for scheduled and continued campaign runs.

The mailer uses its own queue name on the queue the settings describe
(``make_huey`` with ``[queue]``), so a worker consumer that does not know
the mailer's tasks never takes one of them. Tasks get a config path and a
campaign id, never objects (Huey pickles arguments). A run that stops early
(deferred recipients, spent quotas) schedules its own continuation at the
time it reports.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from huey import Huey

from responsemaster.config import Settings, load_settings
from responsemaster.queue import QUEUE_NAME, make_huey

MAILER_QUEUE_SUFFIX = ".mailer"


def make_mailer_huey(settings: Settings) -> Huey:
    """``make_huey`` on the same storage, under the mailer's own queue name."""
    mailer_settings = copy.copy(settings)
    sections = dict(settings.sections)
    queue = dict(settings.section("queue"))
    queue["name"] = str(queue.get("name", QUEUE_NAME)) + MAILER_QUEUE_SUFFIX
    sections["queue"] = queue
    mailer_settings.sections = sections
    return make_huey(mailer_settings)


@dataclass
class MailerTasks:
    huey: Huey
    send_campaign: Any

    def schedule(self, config_file: str | None, campaign_id: int, eta: datetime | None = None) -> str:
        """Queue a run now, or at ``eta``; the Huey task id (kept on the campaign plan)."""
        if eta is None:
            result = self.send_campaign(config_file, campaign_id)
        else:
            result = self.send_campaign.schedule(args=(config_file, campaign_id), eta=eta)
        return str(result.id) if result is not None and hasattr(result, "id") else ""


def register_mailer_tasks(huey: Huey, settings: Settings | None = None) -> MailerTasks:
    """Attach the mailer's task to ``huey``. ``settings`` (tests) is used instead of loading the file."""

    @huey.task(name="responsemaster.mailer.send_campaign")
    def send_campaign(config_file: str | None, campaign_id: int) -> dict[str, Any]:
        from mailer.service import send_campaign as run

        current = settings if settings is not None else load_settings(config_file)
        result = run(current, campaign_id)
        if result.next_run_at is not None and result.status in ("sending", "paused"):
            send_campaign.schedule(args=(config_file, campaign_id), eta=result.next_run_at)
        return {"status": result.status, "counts": dict(result.counts), "note": result.note}

    return MailerTasks(huey, send_campaign)
