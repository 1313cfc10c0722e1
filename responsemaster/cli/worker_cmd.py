"""``run``, ``status`` and ``export``: the worker from the shell (docs/worker.md).

``run`` is the one command a new user types (README), so it also serves the
HTTP API and the review page (``responsemaster serve`` as a child process of
the sidecar) unless ``--no-api`` or ``[api] serve_with_run = false``.
``run --once`` drains and exits: it serves nothing.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

import click
from rich.console import Console

from responsemaster.cli.common import config_option, settings_from
from responsemaster.config import ConfigError, Settings, setting_value

console = Console(stderr=True, log_path=False)
if not console.is_terminal:  # logs to a file or a pipe: one line per batch, never wrapped
    console = Console(stderr=True, log_path=False, width=400)


@click.command("run")
@config_option
@click.option("--once", is_flag=True, help="Drain what is there now, deliver pending effects, and exit (serves nothing).")
@click.option("--workers", type=int, default=None, help="Huey consumer workers (default [queue] workers, else 1).")
@click.option("--no-receiver", is_flag=True, help="Do not start the built-in SMTP receiver.")
@click.option("--no-api", is_flag=True,
              help="Do not serve the API and the review page (default: served, unless [api] serve_with_run = false).")
def run(config_path: Path | None, once: bool, workers: int | None, no_receiver: bool, no_api: bool) -> None:
    """The worker: drain every configured source, record verdicts, route them; serve the API beside it."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_from(config_path)
    api_on = not no_api and bool(settings.section("api").get("serve_with_run", True))
    if not once:
        check_run_settings(settings, receiver=not no_receiver, api=api_on)
    try:
        if once:
            _run_once(settings)
        else:
            config_file = str(config_path.resolve()) if config_path else None
            _run_forever(settings, config_file, workers, not no_receiver, api_on)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def check_run_settings(settings: Settings, *, receiver: bool, api: bool) -> None:
    """Read every section the long-running ``run`` uses, before anything forks.

    A wrong setting then stops ``run`` with its one-line SettingError here,
    instead of surfacing as a traceback in a child process (the sidecar, a
    consumer) while the others keep running.
    """
    from responsemaster.classify import configured_rules
    from responsemaster.queue import check_queue_url
    from responsemaster.routing.config import load_routing
    from responsemaster.verp_keys import configured_keyring
    from responsemaster.worker_runtime import worker_options

    configured_rules(settings)
    if configured_keyring(settings.section("verp")) is not None:  # the worker then reads the mailer's domain
        from mailer.settings import mailer_settings

        mailer_settings(settings)
    load_routing(settings)
    worker_options(settings)
    check_queue_url(settings)
    setting_value("queue", settings.section("queue"), "workers", int, 1)
    if receiver:
        from responsemaster.ingest.factory import receiver_settings

        receiver_settings(settings)
    if api:
        from api.config import ApiSettings

        ApiSettings.from_settings(settings)


def _run_once(settings: Settings) -> None:
    from responsemaster.worker_runtime import Runtime, build_sources, log_batch

    runtime = Runtime.build(settings)
    sources = build_sources(settings)
    settle = float(settings.section("worker").get("settle_seconds", 10.0))
    try:
        totals = runtime.drain_all_once(sources, on_batch=log_batch, settle_seconds=settle)
    finally:
        for source in sources:
            source.close()
        runtime.close()
    for total in totals.values():
        console.log(
            f"[green]done[/] {total.source}: {total.processed} processed, {total.duplicates} already done, "
            f"{total.quarantined} quarantined, {total.failed} failed"
        )


def _run_forever(settings: Settings, config_file: str | None, workers: int | None, receiver_on: bool,
                 api_on: bool) -> None:
    """Huey consumer(s) in this process; the receiver, the task producer and the API under a sidecar process.

    Huey's process workers are forked from this process (at start and when a
    health check restarts one). A fork while another thread holds a lock or an
    SQLite connection is open leaves the child deadlocked, so this process
    keeps no threads and no open database: the SMTP receiver and the producer
    live in a sidecar process started first. The API is a ``serve`` process
    the sidecar starts and stops: its own interpreter, so it shares nothing
    with the consumers, and a crash there leaves the worker running.
    """
    import multiprocessing

    from responsemaster.queue import make_huey, register_tasks
    from responsemaster.store import open_store
    from responsemaster.worker_runtime import build_sources

    open_store(settings).close()  # migrate once, before anything forks
    queue = settings.section("queue")
    count = workers or int(queue.get("workers", 1))
    names = _source_names(settings, build_sources)
    poll = float(settings.section("worker").get("poll_seconds", 2.0))
    sidecar = multiprocessing.get_context("fork").Process(
        target=_sidecar, args=(settings, config_file, names, count, poll, receiver_on, api_on), name="responsemaster-sidecar"
    )
    sidecar.start()
    huey = make_huey(settings)
    register_tasks(huey, warm_config=config_file)
    console.log(f"worker: {count} consumer(s) on {', '.join(names)}; queue {type(huey).__name__}")
    consumer = huey.create_consumer(workers=count, worker_type=str(queue.get("worker_type", "process")), periodic=False)
    try:
        consumer.run()
    finally:
        sidecar.terminate()
        sidecar.join(10)


def _source_names(settings: Settings, build_sources) -> list[str]:  # type: ignore[no-untyped-def]
    sources = build_sources(settings)
    try:
        return [s.name for s in sources]
    finally:
        for source in sources:
            source.close()


def _sidecar(settings: Settings, config_file: str | None, names: list[str], workers: int, poll: float,
             receiver_on: bool, api_on: bool) -> None:
    """The API and the receiver (if enabled) and a loop keeping one drain per source and one outbox sweep queued."""
    import signal

    from responsemaster.queue import make_huey, register_tasks

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    api: subprocess.Popen[bytes] | None = None
    receiver = None
    try:  # everything inside: a failure here (a bad [receiver] section) must not leave the API running alone
        api = _start_api(settings, config_file) if api_on else None
        receiver = _start_receiver(settings) if receiver_on else None
        huey = make_huey(settings)
        tasks = register_tasks(huey)
        while not stop.is_set():
            if huey.pending_count() < max(workers, len(names)):
                for name in names:
                    tasks.drain_source(config_file, name)
                tasks.deliver_outbox(config_file)
            if api is not None and api.poll() is not None:
                console.log(f"[red]API stopped[/] (exit {api.returncode}); the worker goes on. If the port is taken "
                            "(`responsemaster serve` already running?), use `run --no-api` or \\[api] serve_with_run = false.")
                api = None
            stop.wait(poll)
    finally:
        if receiver is not None:
            receiver.stop()
        if api is not None:
            _stop_process(api, timeout=8)


def _start_api(settings: Settings, config_file: str | None) -> subprocess.Popen[bytes]:
    """``responsemaster serve`` as a child: it prints the API, schema and review page addresses when it listens.

    Quieter than a plain ``serve`` (``warning``: no access-log line per request)
    unless ``[api] log_level`` says otherwise, so the verdict lines stay readable.
    """
    level = str(settings.section("api").get("log_level", "") or "warning").lower()
    cmd = [sys.executable, "-m", "responsemaster", "serve", "--log-level", level]
    if config_file:
        cmd += ["--config", config_file]
    return subprocess.Popen(cmd)


def _stop_process(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM (uvicorn finishes the requests in flight), then SIGKILL if it does not exit in ``timeout``."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _start_receiver(settings: Settings):  # type: ignore[no-untyped-def]
    try:
        from responsemaster.ingest.smtp_receiver import start_receiver
    except ModuleNotFoundError:
        return None
    receiver = start_receiver(settings)
    if receiver is not None:
        console.log(f"receiver: listening on {receiver.address[0]}:{receiver.address[1]}")
    return receiver


@click.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help='Print {"sources": [...]} as JSON.')
def status(config_path: Path | None, as_json: bool) -> None:
    """Per source: processed, pending, quarantined, last error."""
    from responsemaster.store import open_store
    from responsemaster.store.queries import source_counts
    from responsemaster.worker_runtime import build_sources

    settings = settings_from(config_path)
    store = open_store(settings)
    with store.reader() as session:
        counts = source_counts(session)
    store.close()
    rows = []
    for source in build_sources(settings):
        entry = counts.pop(source.name, {"processed": 0, "quarantined": 0, "last_error": None})
        try:
            pending = source.pending()
        finally:
            source.close()
        rows.append({"name": source.name, "processed": entry["processed"], "pending": pending,
                     "quarantined": entry["quarantined"], "last_error": entry["last_error"]})
    for name, entry in sorted(counts.items()):  # sources no longer configured keep their history
        rows.append({"name": name, "processed": entry["processed"], "pending": 0,
                     "quarantined": entry["quarantined"], "last_error": entry["last_error"]})
    if as_json:
        click.echo(json.dumps({"sources": rows}))
        return
    _print_status(rows)


def _print_status(rows: list[dict]) -> None:  # type: ignore[type-arg]
    from rich.table import Table

    table = Table("source", "processed", "pending", "quarantined", "last error")
    for row in rows:
        table.add_row(row["name"], str(row["processed"]), str(row["pending"]), str(row["quarantined"]), row["last_error"] or "")
    Console().print(table)


@click.group("export")
def export() -> None:
    """Export recorded data."""


@export.command("verdicts")
@config_option
def export_verdicts(config_path: Path | None) -> None:
    """Every recorded verdict as JSONL: one line per message and recipient, with the message's stable id."""
    from responsemaster.store import open_store
    from responsemaster.store.queries import iter_verdict_lines

    store = open_store(settings_from(config_path))
    out = click.get_text_stream("stdout")
    with store.reader() as session:
        for line in iter_verdict_lines(session):
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    store.close()


