"""Mailer throughput: a whole campaign into a local aiosmtpd sink, side by side with two baselines.

    python benchmarks/mailer_bench.py [--recipients 100000] [--connections 4] [--smtplib-limit N]

Contenders, each in its own process so peak RSS is its own:

1. ``mailer``: ``send_campaign`` on a list of N subscribers in SQLite: pre-flight
   render of every recipient, stream from the DB in batches, render + compose
   (VERP token, Message-ID, List-Unsubscribe), mark ``sending``, send over
   ``--connections`` aiosmtplib connections, record outcomes.
2. ``aiosmtplib``: the same messages pre-rendered in memory, sent over the same
   number of aiosmtplib connections in a plain loop (no DB, no rendering).
3. ``smtplib``: the same pre-rendered messages, one connection, sequentially.

The sink (aiosmtpd, answers 250, counts) runs in its own process. Prints one
Markdown table with messages/second, peak RSS and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SECRET = "benchmark secret, at least sixteen bytes"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_sink(port: int, counter: multiprocessing.Value) -> None:  # type: ignore[type-arg]
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            counter.value += 1  # one writer (this process): no lock needed
            return "250 2.0.0 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    while True:
        time.sleep(3600)


def settings_for(workdir: Path, port: int, connections: int):  # type: ignore[no-untyped-def]
    import tomli_w

    from responsemaster.config import load_settings

    data = {
        "var_dir": str(workdir / "var"),
        "verp": {"keys": {"k1": SECRET}, "bounce_domain": "bounces.example.org"},
        "mailer": {"from_address": "News <news@example.org>", "unsubscribe_mailto": "unsubscribe@example.org",
                   "unsubscribe_url": "https://example.org/u/{token}", "batch_size": 500,
                   "relays": [{"name": "sink", "host": "127.0.0.1", "port": port, "max_connections": connections}]},
    }
    path = workdir / "responsemaster.toml"
    path.write_text(tomli_w.dumps(data))
    return load_settings(path)


HTML = "<html><body><h1>Hello {{ first_name }}</h1><p>News for {{ name }} at {{ subscriber.domain }}.</p>" + (
    "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>" * 10) + "<a href='{{ unsubscribe_url }}'>unsubscribe</a></body></html>"
TEXT = "Hello {{ first_name }},\n\nNews for {{ name }}.\n" + ("Lorem ipsum dolor sit amet.\n" * 10) + "Unsubscribe: {{ unsubscribe_url }}\n"


def populate(settings, n: int) -> int:  # type: ignore[no-untyped-def]
    """N subscribers on one list, inserted in bulk (setup, not measured); the campaign id."""
    from mailer.campaigns import create_campaign, save_template
    from mailer.subscribers import ensure_list
    from responsemaster.store.base import utcnow
    from responsemaster.store.database import open_store
    from responsemaster.store.mailing import SubscriberFields
    from responsemaster.store.subscribers import ListMembership, Subscriber

    store = open_store(settings)
    now = utcnow()
    with store.transaction() as session:
        list_id = ensure_list(session, "bench").id
        session.execute(Subscriber.__table__.insert(), [  # type: ignore[attr-defined]
            {"address": f"user{i}@domain{i % 500}.example", "address_key": f"user{i}@domain{i % 500}.example",
             "domain": f"domain{i % 500}.example", "name": f"User {i}", "status": "active", "status_reason": "",
             "bounce_score": 0.0, "last_category": "", "suggested_address": "", "origin": "bench",
             "created_at": now, "updated_at": now} for i in range(n)])
        session.execute(ListMembership.__table__.insert(), [  # type: ignore[attr-defined]
            {"list_id": list_id, "subscriber_id": i + 1, "status": "subscribed", "joined_at": now} for i in range(n)])
        session.execute(SubscriberFields.__table__.insert(), [  # type: ignore[attr-defined]
            {"subscriber_id": i + 1, "data": json.dumps({"first_name": f"First{i}"}), "updated_at": now} for i in range(n)])
    save_template(store, "bench", "News for {{ name }}", HTML, TEXT)
    cid = create_campaign(store, "bench", "bench", "bench")
    store.close()
    return cid


def prerender(settings, n: int) -> list:  # type: ignore[no-untyped-def,type-arg]
    from mailer.compose import Composer
    from mailer.settings import mailer_settings
    from mailer.templates import CampaignTemplate, recipient_context

    composer = Composer(mailer_settings(settings), 1, "bench", "News <news@example.org>")
    template = CampaignTemplate("News for {{ name }}", HTML, TEXT)
    out = []
    for i in range(n):
        address = f"user{i}@domain{i % 500}.example"
        token = composer.token(i + 1)
        context = recipient_context(i + 1, address, f"User {i}", {"first_name": f"First{i}"}, "bench", composer.unsubscribe_url(token))
        out.append(composer.compose(i + 1, address, f"User {i}", template.render(context), token))
    return out


def child_populate(workdir: Path, port: int, n: int, connections: int) -> dict:  # type: ignore[type-arg]
    """Setup in its own process, so the bulk insert's memory is not charged to the mailer."""
    return {"campaign": populate(settings_for(workdir, port, connections), n)}


def child_mailer(workdir: Path, port: int, n: int, connections: int) -> dict:  # type: ignore[type-arg]
    from mailer.service import send_campaign

    settings = settings_for(workdir, port, connections)
    cid = json.loads((workdir / "campaign.json").read_text())["campaign"]
    started = time.perf_counter()
    result = send_campaign(settings, cid)
    seconds = time.perf_counter() - started
    assert result.counts["sent"] == n, result
    return {"sent": n, "seconds": seconds}


async def _aiosmtplib_loop(envelopes: list, port: int, connections: int) -> None:  # type: ignore[type-arg]
    import aiosmtplib

    queue: asyncio.Queue = asyncio.Queue()  # type: ignore[type-arg]
    for env in envelopes:
        queue.put_nowait(env)

    async def worker() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await smtp.connect()
        while not queue.empty():
            env = queue.get_nowait()
            await smtp.sendmail(env.mail_from, [env.rcpt_to], env.data)
        await smtp.quit()

    await asyncio.gather(*(worker() for _ in range(connections)))


def child_aiosmtplib(workdir: Path, port: int, n: int, connections: int) -> dict:  # type: ignore[type-arg]
    envelopes = prerender(settings_for(workdir, port, connections), n)
    started = time.perf_counter()
    asyncio.run(_aiosmtplib_loop(envelopes, port, connections))
    return {"sent": n, "seconds": time.perf_counter() - started}


def child_smtplib(workdir: Path, port: int, n: int, connections: int) -> dict:  # type: ignore[type-arg]
    import smtplib

    envelopes = prerender(settings_for(workdir, port, connections), n)
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for env in envelopes:
            smtp.sendmail(env.mail_from, [env.rcpt_to], env.data)
    return {"sent": n, "seconds": time.perf_counter() - started}


CHILDREN = {"populate": child_populate, "mailer": child_mailer, "aiosmtplib": child_aiosmtplib, "smtplib": child_smtplib}


def _child(name: str, workdir: str, port: int, n: int, connections: int) -> dict:  # type: ignore[type-arg]
    out = subprocess.run([sys.executable, __file__, "--child", name, "--port", str(port), "--recipients", str(n),
                          "--connections", str(connections), "--workdir", workdir],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_child(name: str, port: int, n: int, connections: int) -> dict:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory(prefix="mailer-bench-") as workdir:
        if name.startswith("mailer"):
            setup = _child("populate", workdir, port, n, connections)
            (Path(workdir) / "campaign.json").write_text(json.dumps(setup))
            name = "mailer"
        return _child(name, workdir, port, n, connections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--smtplib-limit", type=int, default=0, help="Send only this many in the smtplib loop (0: all).")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = CHILDREN[args.child](Path(args.workdir), args.port, args.recipients, args.connections)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    port, counter = free_port(), multiprocessing.Value("q", 0, lock=False)
    sink = multiprocessing.Process(target=run_sink, args=(port, counter), daemon=True)
    sink.start()
    time.sleep(1.0)
    rows = {}
    try:
        for name in ("mailer", "mailer (1/10 list)", "aiosmtplib", "smtplib"):
            n = args.smtplib_limit if name == "smtplib" and args.smtplib_limit else args.recipients
            n = n // 10 if name.startswith("mailer (") else n
            before = counter.value
            rows[name] = run_child(name, port, n, args.connections)
            rows[name]["received"] = counter.value - before
            print(f"{name}: {rows[name]}", file=sys.stderr)
    finally:
        sink.terminate()
    print_table(rows, args)


def print_table(rows: dict, args: argparse.Namespace) -> None:  # type: ignore[type-arg]
    base = rows["aiosmtplib"]["sent"] / rows["aiosmtplib"]["seconds"]
    print(f"\n{args.recipients:,} recipients, {args.connections} connections, aiosmtpd sink in its own process, "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n")
    print("| contender | messages | received at sink | seconds | messages/s | × aiosmtplib loop | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        rate = row["sent"] / row["seconds"]
        print(f"| {name} | {row['sent']:,} | {row['received']:,} | {row['seconds']:.1f} | {rate:,.0f} | {rate / base:.2f} | {row['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
