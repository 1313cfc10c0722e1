"""Console pages under load: every page of /console with 1M subscribers and 5M verdicts.

    python benchmarks/console_bench.py [--scale 1.0] [--backend sqlite|postgresql|both]
                                       [--concurrency 4] [--duration 10] [--out /tmp/benchmarks-console.md]
                                       (the table goes into docs/benchmarks.md)

1. Loads the API benchmark's data (``benchmarks/api_bench.py``: ``scale`` x 1M
   subscribers, 5M message verdicts over 365 days, 5% suppressed, Zipf domains)
   and, on top, what the console reads that the API benchmark does not: three
   lists (every subscriber; a third; a fiftieth), 40 campaigns (the verdicts'
   ``c0``..``c39``) sent nine days apart to 50,000 subscribers each (2M
   deliveries over two relays, with refusals, deferrals and suppressed rows),
   hourly relay usage, a review item per human reply (one in ten open) and
   50,000 operation-log rows.
2. Starts ``responsemaster serve`` on the database and asks each page in turn
   with ``--concurrency`` connections for ``--duration`` seconds after a warm-up
   (random subscribers, campaigns and domains where the page takes one),
   with an admin API key in a header (the console's guard takes it as the
   review page's sign-in). Target: p95 < 300 ms. Before that, each distinct
   path is asked once per server process (first views, reported apart: a slow
   aggregate is computed then and kept a minute, see api/kept.py).

The CPU cgroup, the throwaway PostgreSQL cluster, ``--workdir``/``--skip-load``
and ``--pg-url`` work as in ``api_bench.py`` (read its docstring).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sqlite3
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "benchmarks"), str(REPO / "tests")]

import api_bench  # noqa: E402 - the API benchmark's data, server and drivers
from api_bench import Loader, domains  # noqa: E402

N_CAMPAIGNS = 40
PER_CAMPAIGN = 50_000
CAMPAIGN_EVERY_DAYS = 9
TARGET_P95_MS = 300.0
#: Distinct paths of a page given their first views before the timed run (every campaign, the top domains).
FIRST_VIEWS = 50


class ConsoleLoader:
    """Rows of the console's tables, derived from the API benchmark's loader (same subscribers)."""

    def __init__(self, base: Loader, seed: int = 11) -> None:
        self.base = base
        self.rng = random.Random(seed)
        self.per_campaign = max(10, int(PER_CAMPAIGN * base.n_subscribers / 1_000_000))
        self.now = base.now

    def campaign_day(self, i: int) -> datetime:
        return (self.now - timedelta(days=(N_CAMPAIGNS - 1 - i) * CAMPAIGN_EVERY_DAYS)).replace(
            hour=9, minute=0, second=0, microsecond=0)

    def fixed(self, fmt: Any) -> dict[str, list[tuple[Any, ...]]]:
        now = fmt(self.now)
        lists = [(1, "everyone", "every subscriber", now), (2, "newsletter", "a third", now), (3, "vip", "a fiftieth", now)]
        templates = [(1, "news", "News for {{ name }}", "<p>Hello {{ name }}</p><p>{{ subscriber.domain }}</p>",
                      "Hello {{ name }}", now, now)]
        campaigns, plans = [], []
        for i in range(N_CAMPAIGNS):
            day = self.campaign_day(i)
            campaigns.append((i + 1, f"c{i}", 1, "News", "news", "sent", fmt(day), fmt(day),
                              fmt(day + timedelta(hours=3)), fmt(day - timedelta(days=1))))
            plans.append((i + 1, 1, "", "", self.per_campaign, "", "", "", None))
        accounts = [(1, "primary", "smtp1.example", 587, "", "", "", 20_000, now),
                    (2, "backup", "smtp2.example", 587, "", "", "", 5_000, now)]
        usage: dict[tuple[int, str], int] = {}
        for i in range(N_CAMPAIGNS):
            for hour in range(3):
                moment = fmt(self.campaign_day(i) + timedelta(hours=hour))
                usage[(1, moment)] = usage.get((1, moment), 0) + self.per_campaign * 4 // 15
                usage[(2, moment)] = usage.get((2, moment), 0) + self.per_campaign // 15
        oplog = []
        operations = ["campaign.send", "subscribers.import", "template.save", "suppression.resubscribe",
                      "review.resolve", "review.relabel", "apikey.create"]
        for n in range(1, 50_001):
            at = fmt(self.now - timedelta(seconds=self.rng.uniform(0, 365 * 86400)))
            oplog.append((n, at, f"key:op{n % 7}", operations[n % len(operations)], f"target-{n}",
                          '{"from": "192.0.2.%d"}' % (n % 250)))
        return {"lists": lists, "mail_templates": templates, "campaigns": campaigns, "campaign_plans": plans,
                "sender_accounts": accounts, "sender_usage": [(a, h, n) for (a, h), n in usage.items()],
                "operation_log": oplog}

    def members(self) -> Any:
        n = self.base.n_subscribers
        rows = []
        mid = 0
        for list_id, every in ((1, 1), (2, 3), (3, 50)):
            for sub in range(1, n + 1, every):
                mid += 1
                rows.append((mid, list_id, sub, "subscribed" if sub % 97 else "unsubscribed"))
                if len(rows) >= api_bench.CHUNK:
                    yield rows
                    rows = []
        if rows:
            yield rows

    def deliveries(self, fmt: Any) -> Any:
        n, did = self.base.n_subscribers, 0
        for i in range(N_CAMPAIGNS):
            start, day, rows = (i * self.per_campaign // 2) % n, self.campaign_day(i), []
            for k in range(self.per_campaign):
                sub = (start + k) % n + 1
                did += 1
                roll = sub % 100
                status = "sent" if roll < 96 else "failed" if roll < 98 else "deferred" if roll < 99 else "suppressed"
                queued = day + timedelta(seconds=k * 10_800 // self.per_campaign)
                sent = fmt(queued + timedelta(seconds=1)) if status == "sent" else None
                error = "550 5.1.1 user unknown" if status == "failed" else "451 4.7.1 try later" if status == "deferred" else ""
                rows.append((did, i + 1, sub, self.base.address(sub), self.base.domain_of[sub - 1],
                             f"bounces+t{did}@bounces.example", f"<t{did}@example.org>", status,
                             "primary" if k % 5 else "backup", 1, None, error, fmt(queued), sent))
            yield rows


CONSOLE_COLUMNS = {
    "lists": "id, name, description, created_at",
    "mail_templates": "id, name, subject, html, text_body, created_at, updated_at",
    "campaigns": "id, name, list_id, subject, template, status, scheduled_at, started_at, finished_at, created_at",
    "campaign_plans": "campaign_id, template_id, from_address, reply_to, recipient_limit, task_id, last_error, "
                      "lease_owner, lease_until",
    "sender_accounts": "id, name, host, port, username, secret_env, from_address, max_per_hour, created_at",
    "sender_usage": "account_id, hour, sent",
    "operation_log": "id, at, actor, operation, target, detail",
    "list_members": "id, list_id, subscriber_id, status, joined_at",
    "deliveries": "id, campaign_id, subscriber_id, address, domain, return_path, message_id, status, relay, "
                  "attempts, next_attempt_at, last_error, queued_at, sent_at",
}
#: Review items: one per human reply, one in ten still open (the API benchmark's verdicts carry no review row).
REVIEW_SQL = ("INSERT INTO review_items (message_id, category, confidence, state, relabelled_to, resolved_by, note, "
              "created_at) SELECT message_id, category, confidence, CASE WHEN id % 10 = 0 THEN 'open' ELSE "
              "'resolved' END, '', '', '', created_at FROM message_verdicts WHERE category = 'user_reply'")


def load_console(name: str, url: str, loader: ConsoleLoader) -> None:
    """The console's rows on top of the API benchmark's (already loaded)."""
    if name == "sqlite":
        _load_sqlite(Path(url.removeprefix("sqlite:///")), loader)
    else:
        _load_postgres(url, loader)


def _load_sqlite(path: Path, loader: ConsoleLoader) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript("PRAGMA synchronous=OFF; PRAGMA cache_size=-1500000; PRAGMA foreign_keys=OFF;")

    def put(table: str, rows: list[tuple[Any, ...]]) -> None:
        marks = ",".join("?" * len(rows[0]))
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO {table} ({CONSOLE_COLUMNS[table]}) VALUES ({marks})", rows)
        conn.execute("COMMIT")

    for table, rows in loader.fixed(api_bench.ts_sqlite).items():
        put(table, rows)
    now = api_bench.ts_sqlite(loader.now)
    for rows in loader.members():
        put("list_members", [(*r, now) for r in rows])
    for rows in loader.deliveries(api_bench.ts_sqlite):
        put("deliveries", rows)
    conn.execute(REVIEW_SQL)
    conn.execute("ANALYZE")
    conn.close()


def _load_postgres(url: str, loader: ConsoleLoader) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        def put(table: str, rows: list[tuple[Any, ...]]) -> None:
            with conn.cursor() as cur, cur.copy(f"COPY {table} ({CONSOLE_COLUMNS[table]}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

        for table, rows in loader.fixed(lambda d: d).items():
            put(table, rows)
        for rows in loader.members():
            put("list_members", [(*r, loader.now) for r in rows])
        for rows in loader.deliveries(lambda d: d):
            put("deliveries", rows)
        conn.execute(REVIEW_SQL)
        for table in ("lists", "mail_templates", "campaigns", "sender_accounts", "operation_log", "list_members",
                      "deliveries", "review_items"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


def pages(loader: Loader, rng: random.Random) -> dict[str, list[str]]:
    """Each page with the paths a run picks from."""
    subs = [loader.address(rng.randint(1, loader.n_subscribers)) for _ in range(2000)]
    top = domains()[0][:50]
    campaigns = [f"c{i}" for i in range(N_CAMPAIGNS)]
    return {
        "dashboard (30 days)": ["/console"],
        "dashboard (90 days)": ["/console?range=90d"],
        "lists (member counts)": ["/console/lists"],
        "subscriber search (prefix)": [f"/console/lists?q=user{rng.randint(1, 999)}" for _ in range(200)],
        "subscriber page": [f"/console/lists/subscriber?address={a}" for a in subs],
        "template with preview": [f"/console/templates/news?subscriber={a}" for a in subs[:200]],
        "campaigns (all, with totals)": ["/console/campaigns"],
        "campaign page": [f"/console/campaigns/{c}" for c in campaigns],
        "campaign by domain": [f"/console/campaigns/{c}/domains" for c in campaigns],
        "sending: quotas + delivery log (7 days)": ["/console/sending"],
        "delivery log: one campaign, 90 days": [f"/console/sending?range=90d&campaign={i + 1}" for i in range(30, 40)],
        "delivery log: one domain, failed, 30 days": [f"/console/sending?range=30d&outcome=failed&domain={d}" for d in top],
        "failures (30 days)": ["/console/failures"],
        "failures of one domain (30 days)": [f"/console/failures?domain={d}" for d in top],
        "addresses behind a count": [f"/console/failures/addresses?category=hard_bounce&reason=userunknown&domain={d}"
                                     for d in top],
        "suppression list": ["/console/failures/suppressions"],
        "operation log": ["/console/oplog"],
    }


async def first_views(base: str, key: str, paths: list[str], workers: int) -> float:
    """Each distinct path (the first :data:`FIRST_VIEWS`) asked ``2 x workers`` times at once on fresh connections (so each server process
    answers it once, most likely), before the timed run: the slowest answer, in ms.

    A slow aggregate is computed on its first view in each process and kept
    (api/kept.py), then refreshed in the background: this column is what a
    person waits for the first time after a start, the timed run what every
    view after it costs.
    """
    import httpx

    slowest = 0.0

    async def one(path: str) -> float:
        async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=120) as client:
            started = time.perf_counter()
            await client.get(path)
            return time.perf_counter() - started

    for path in list(dict.fromkeys(paths))[:FIRST_VIEWS]:
        times = await asyncio.gather(*(one(path) for _ in range(2 * workers)))
        slowest = max(slowest, *times)
    return slowest * 1000


def run_backend(name: str, url: str, workdir: Path, loader: Loader, args: argparse.Namespace) -> list[dict[str, Any]]:
    from fixtures.servers import free_port

    from api.keys import create_key
    from responsemaster.store import Store, make_engine, upgrade_to_head

    engine = make_engine(url)
    upgrade_to_head(engine)
    t0 = time.perf_counter()
    load_s: float | None = None
    if not (args.skip_load and api_bench._has_data(engine)):
        if name == "sqlite":
            api_bench.load_sqlite(Path(engine.url.database or ""), loader)
        else:
            api_bench.load_postgres(url, loader)
        load_console(name, url, ConsoleLoader(loader))
        load_s = time.perf_counter() - t0
    with Store(engine, workdir / "var").transaction() as session:
        key = create_key(session, f"console-bench-{os.getpid()}-{name}", "admin")
    engine.dispose()
    port = free_port()
    proc = api_bench.serve(workdir, url, port, args.workers, RELAYS)
    results = []
    try:
        for label, paths in chosen(pages(loader, random.Random(5)), args.pages).items():
            base = f"http://127.0.0.1:{port}"
            first = asyncio.run(first_views(base, key, paths, args.workers))
            for conns in api_bench.levels(args):
                load_before = os.getloadavg()[0]
                if shutil.which("wrk"):
                    stats = api_bench.drive_wrk(base, key, paths, conns, args.duration, workdir)
                else:
                    stats = asyncio.run(api_bench.drive(base, key, paths, conns, args.duration))
                stats["load"] = max(load_before, os.getloadavg()[0])
                stats["first"] = first
                print(f"  {name} {label} x{conns}: {stats}", flush=True)
                results.append({"backend": name, "page": label, "conns": conns, "load_s": load_s, **stats})
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return results


#: Two relays, so the sending page has quotas to show.
RELAYS = ('[[mailer.relays]]\nname = "primary"\nhost = "smtp1.example"\nport = 587\nmax_per_hour = 20000\n'
          'max_per_day = 200000\n[[mailer.relays]]\nname = "backup"\nhost = "smtp2.example"\nport = 587\n'
          'max_per_hour = 5000\nmax_per_day = 50000\n')


def write_table(out: Path, rows: list[dict[str, Any]], args: argparse.Namespace, loader: Loader, pg: str) -> None:
    command = (f"Command: `python benchmarks/console_bench.py --scale {args.scale:g} --backend {args.backend} "
               f"--concurrency {args.concurrency} --duration {args.duration:g} --workers {args.workers}"
               f"{' --pages ' + repr(args.pages) if args.pages else ''}"
               f"{'' if args.cgroup_used else chr(32) + '--cgroup ' + repr('')}`")
    per = max(10, int(PER_CAMPAIGN * loader.n_subscribers / 1_000_000))
    data = (f"Data: the API benchmark's {loader.n_subscribers:,} subscribers and {loader.n_verdicts:,} message "
            f"verdicts (365 days, {api_bench.N_DOMAINS} Zipf domains, 5% suppressed), plus 3 lists "
            f"({loader.n_subscribers + loader.n_subscribers // 3 + loader.n_subscribers // 50:,} memberships), "
            f"{N_CAMPAIGNS} campaigns of {per:,} deliveries ({N_CAMPAIGNS * per:,} rows, one every "
            f"{CAMPAIGN_EVERY_DAYS} days), hourly usage of 2 relays, a review item per human reply (one in ten "
            "open) and 50,000 operation-log rows.")
    client = "wrk (2 threads)" if shutil.which("wrk") else "httpx (one process)"
    load = (f"Load: `responsemaster serve --workers {args.workers}`; the client is {client} on the same machine, "
            f"{args.concurrency} concurrent keep-alive connections, {args.duration:g} s per page after a 3 s warm-up, "
            "an admin key in a header. *first view*: before the timed run, each distinct path of the page (at most "
            f"{FIRST_VIEWS}) asked "
            f"{2 * args.workers} times at once on fresh connections (each server process computes a slow aggregate "
            "once and keeps it for a while, refreshing it in the background): the slowest of those answers. "
            "*load avg*: the machine's 1-minute load average around the run. "
            f"Target: p95 < {TARGET_P95_MS:.0f} ms. "
            + ("The bench, the server and the PostgreSQL cluster ran in one cpu cgroup (`--cgroup`)."
               if args.cgroup_used else "No cpu cgroup."))
    lines = ["# Console pages under load", "", command, "", f"Machine: {api_bench.machine()}{pg}.", "", data, "",
             load, "",
             "| backend | page | first view ms (slowest) | connections | requests | req/s | p50 ms | p95 ms | p99 ms | errors "
             "| p95 < 300 ms | load avg |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        ok = "yes" if r["p95"] < TARGET_P95_MS else f"**no** (+{r['p95'] - TARGET_P95_MS:.0f} ms)"
        lines.append(f"| {r['backend']} | {r['page']} | {r['first']:.0f} | {r['conns']} | {r['requests']:,} | {r['rps']:,.1f} | "
                     f"{r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['errors']} | {ok} | {r['load']:.1f} |")
    loads = {r["backend"]: r["load_s"] for r in rows}
    lines += ["", "Data load: " + ", ".join(f"{b} {'(reused)' if s is None else f'{s:.0f} s'}" for b, s in loads.items()), ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))


def chosen(every: dict[str, list[str]], wanted: str) -> dict[str, list[str]]:
    """The pages whose label contains one of the comma-separated ``wanted`` words (all when empty)."""
    words = [w.strip().lower() for w in wanted.split(",") if w.strip()]
    picked = {label: paths for label, paths in every.items() if not words or any(w in label for w in words)}
    if not picked:
        raise SystemExit(f"no page matches --pages {wanted!r}; pages: {', '.join(every)}")
    return picked


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pages", default="", help="Only the pages whose label contains one of these "
                        "comma-separated words (e.g. 'campaign by domain,dashboard'); default: every page")


def main() -> None:
    api_bench.bench_main(__doc__.split("\n")[0], "console", run_backend, write_table, concurrency="4", duration=10.0,
                         workers=2, more_options=_options)


if __name__ == "__main__":
    main()
