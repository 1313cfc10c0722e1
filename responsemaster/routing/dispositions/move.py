"""move: file a copy of the message in a named Maildir folder under ``var/folders/``.

The copy is named after the message's stable id and written through tmp/ and
rename, so doing it twice (a replay after a crash) leaves one file. The raw
original stays where the source and the store keep it.
"""

from __future__ import annotations

import os
import re

from responsemaster.routing.context import RouteContext, Target, record_action

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class Move:
    name = "move"
    scope = "message"
    changes_state = False

    def apply(self, ctx: RouteContext, target: Target) -> None:
        folder = _SAFE.sub("_", target.arg or ctx.config.folders.get(target.category, target.category)).strip("._")
        if not folder:
            folder = "unsorted"
        if record_action(ctx, self.name, folder) is None:
            return
        root = ctx.var / "folders" / folder
        for sub in ("tmp", "new", "cur"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        final = root / "new" / f"{ctx.uid}.eml"
        if final.exists():
            return
        tmp = root / "tmp" / f"{ctx.uid}.{os.getpid()}"
        tmp.write_bytes(ctx.raw)
        os.replace(tmp, final)


DISPOSITION = Move()
