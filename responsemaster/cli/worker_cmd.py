"""``run``, ``status`` and ``export``: the worker from the shell (docs/worker.md).

``run`` is the one command a new user types (README), so it also serves the
HTTP API and the review page (``responsemaster serve`` as a child process of
the sidecar) unless ``--no-api`` or ``[api] serve_with_run = false``.
``run --once`` drains and exits: it serves nothing.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import click

from responsemaster.cli.common import config_option, settings_from
from responsemaster.config import ConfigError, Settings, SettingError, setting_value
from responsemaster.operator_log import say

LOG_LEVELS = ["debug", "info", "warning", "error"]


@click.command("run")
@config_option
@click.option("--once", is_flag=True, help="Drain what is there now, deliver pending effects, and exit (serves nothing).")
@click.option("--workers", type=int, default=None,
              help="Worker processes (Huey consumers; with --once, drainers): default [queue] workers, else one per CPU.")
@click.option("--no-receiver", is_flag=True, help="Do not start the built-in SMTP receiver.")
@click.option("--no-api", is_flag=True,
              help="Do not serve the API and the review page (default: served, unless [api] serve_with_run = false).")
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="warning", show_default=True,
              help="Library log lines shown beside the verdict lines (info: Huey's and the receiver's start-up too).")
def run(config_path: Path | None, once: bool, workers: int | None, no_receiver: bool, no_api: bool, log_level: str) -> None:
    """The worker: drain every configured source, record verdicts, route them; serve the API beside it.

    One line per message (category, reason, address, what decided it) and one per batch.
    """
    logging.basicConfig(level=getattr(logging, log_level.upper()), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_from(config_path)
    api_on = not no_api and bool(settings.section("api").get("serve_with_run", True))
    try:
        if once:
            _run_once(settings, workers)
        else:
            config_file = str(config_path.resolve()) if config_path else None
            _run_forever(settings, config_file, workers, not no_receiver, api_on)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _run_once(settings: Settings, workers: int | None) -> None:
    from responsemaster.worker_pool import WorkersDied, drain_once
    from responsemaster.worker_runtime import log_batch

    settle = setting_value("worker", settings.section("worker"), "settle_seconds", float, 10.0)
    try:
        totals = drain_once(settings, _worker_count(settings, workers), on_batch=log_batch, settle_seconds=settle,
                            say=say)
    except WorkersDied as exc:
        raise click.ClickException(str(exc)) from exc
    for total in totals.values():
        say(
            f"[green]done[/] {total.source}: {total.processed} processed, {total.duplicates} already done, "
            f"{total.quarantined} quarantined, {total.failed} failed"
        )


def _worker_count(settings: Settings, workers: int | None) -> int:
    """``--workers``, else ``[queue] workers``, else one per CPU this process may use."""
    from responsemaster.worker_pool import default_workers

    count = workers if workers is not None else setting_value("queue", settings.section("queue"), "workers", int, 0) or default_workers()
    if count < 1:
        raise SettingError("--workers / [queue] workers", f"must be at least 1, got {count}")
    return count


def _run_forever(settings: Settings, config_file: str | None, workers: int | None, receiver_on: bool,
                 api_on: bool) -> None:
    """Huey consumer(s) in this process; the receiver, the task producer and the API under a sidecar process.

    Before anything starts: the state folder's lock (one ``run`` per folder),
    the settings checked, the receiver's port bound. Each failure is one line.
    Every process started from here dies with this one (see
    :mod:`responsemaster.lifeline`), so a ``run`` killed with SIGKILL leaves
    nothing behind and the next one can start at once.

    Huey's process workers are forked from this process (at start and when a
    health check restarts one). A fork while another thread holds a lock or an
    SQLite connection is open leaves the child deadlocked, so this process
    keeps no threads and no open database: the SMTP receiver and the producer
    live in a sidecar process started first. The API is a ``serve`` process
    the sidecar starts and stops: its own interpreter, so it shares nothing
    with the consumers, and a crash there leaves the worker running.
    """
    import multiprocessing

    from responsemaster import lifeline
    from responsemaster.ingest.factory import receiver_settings

    for signum in (signal.SIGINT, signal.SIGTERM):  # until the consumer takes over: stop quietly, no traceback
        signal.signal(signum, _stop_starting)
    # What the sidecar needs is checked, imported and bound before it is forked (cheap
    # imports, shared with it by the fork): the receiver answers within a second or two
    # of a restart. The consumers' own settings are checked while it starts.
    receiver = receiver_settings(settings) if receiver_on else None
    count, poll, worker_type = _queue_settings(settings, workers)
    _check_light_settings(settings, api_on)
    names = _source_names(settings)
    _hold_state_folder(settings)
    listener = _bind_receiver(receiver) if receiver is not None and receiver.enabled else None
    lifeline.tie_forked_children()
    sidecar = multiprocessing.get_context("fork").Process(
        target=_sidecar, args=(settings, config_file, names, count, poll, listener, api_on), name="responsemaster-sidecar"
    )
    sidecar.start()
    try:
        if listener is not None:
            listener.close()  # the sidecar has it; the consumers must not
        _check_consumer_settings(settings)
        _migrate(settings)
        from responsemaster.queue import make_huey, register_tasks

        huey = make_huey(settings)
        register_tasks(huey, warm_config=config_file)
        if receiver is not None and receiver.enabled:
            say(f"receiver: listening on {receiver.host}:{receiver.port}")
        say(f"worker: {count} consumer(s) on {', '.join(names)}; queue {type(huey).__name__}")
        consumer = huey.create_consumer(workers=count, worker_type=worker_type, periodic=False)
        consumer._signal_actions[signal.SIGHUP] = (False, True)  # SIGHUP stops gracefully: Huey's re-exec would orphan the sidecar
        signal.signal(signal.SIGCHLD, lambda *_: _stop_if_gone(sidecar))
        consumer.run()
    finally:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        sidecar.terminate()
        sidecar.join(10)
    if sidecar.exitcode not in (0, -signal.SIGTERM):
        raise click.ClickException(f"the receiver and task producer stopped (exit {sidecar.exitcode}); the run stopped with them")


def _stop_starting(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _stop_if_gone(sidecar) -> None:  # type: ignore[no-untyped-def]
    """A child ended (SIGCHLD): if it was the sidecar, nothing feeds the consumers any more, so stop them
    (gracefully, as SIGTERM does) and exit non-zero, for a supervisor to start a whole run again."""
    if sidecar.exitcode not in (None, 0):  # 0: it was asked to stop, as this process was (Ctrl-C)
        os.kill(os.getpid(), signal.SIGTERM)


def _hold_state_folder(settings: Settings) -> None:
    """The state folder's lock, kept (inherited by every forked child) until the run ends."""
    from responsemaster import instance_lock

    try:
        instance_lock.hold(settings.var)
    except instance_lock.AlreadyRunning as exc:
        raise click.ClickException(f"{exc}; stop it first, or give this one another var_dir") from exc
    except OSError as exc:
        raise click.ClickException(
            f"the state folder {settings.var} (var_dir) is not writable: {exc.strerror or exc}; "
            "set var_dir to a folder this user can write, or fix its permissions") from exc


def _queue_settings(settings: Settings, workers: int | None) -> tuple[int, float, str]:
    """Consumers, poll interval and worker type (and the queue's URL checked): bad values are one line."""
    from responsemaster.queue import check_queue_url

    check_queue_url(settings)
    queue = settings.section("queue")
    count = _worker_count(settings, workers)
    worker_type = setting_value("queue", queue, "worker_type", str, "process")
    if worker_type not in ("process", "thread"):
        raise ConfigError(f"[queue] worker_type must be \"process\" or \"thread\" (got {worker_type!r})")
    return count, setting_value("worker", settings.section("worker"), "poll_seconds", float, 2.0), worker_type


def _check_light_settings(settings: Settings, api_on: bool) -> None:
    """``[api]`` (for the ``serve`` child) and ``[verp]`` (with the mailer's domain it brings in): cheap to read,
    read before anything is created or started."""
    from responsemaster.verp_keys import configured_keyring

    if api_on:
        from api.config import ApiSettings

        ApiSettings.from_settings(settings)
    if configured_keyring(settings.section("verp")) is not None:  # the worker then reads the mailer's domain
        from mailer.settings import mailer_settings

        mailer_settings(settings)


def _check_consumer_settings(settings: Settings) -> None:
    """The rules, ``[routing]`` and ``[worker]``, as the consumers will read them, read in this process.

    A wrong one then stops ``run`` with its one line here, not as a traceback
    in a consumer while the others keep running. Read after the sidecar is
    forked, because these imports weigh seconds on a busy host and the
    receiver should listen meanwhile; ``run`` says it listens only once they
    passed, and stops the sidecar if one did not (the state folder exists by
    then; nothing else is left).
    """
    from responsemaster.classify import configured_rules
    from responsemaster.routing.config import load_routing
    from responsemaster.worker_runtime import worker_options

    configured_rules(settings)
    load_routing(settings)
    worker_options(settings)


def _bind_receiver(config):  # type: ignore[no-untyped-def]
    """The receiver's listening socket; a taken port is one line."""
    from responsemaster.ingest.smtp_receiver import PortInUse, listening_socket

    try:
        return listening_socket(config)
    except PortInUse as exc:
        raise click.ClickException(str(exc)) from exc


def _migrate(settings: Settings) -> None:
    """Migrate once, before the consumers fork; an unreachable or misnamed database is one line."""
    from sqlalchemy.exc import SQLAlchemyError

    from responsemaster.store import open_store

    try:
        open_store(settings).close()
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise click.ClickException(f"[database] url: cannot open the database: {reason}") from exc


def _source_names(settings: Settings) -> list[str]:
    from responsemaster.ingest.factory import build_sources

    try:
        sources = build_sources(settings)
    except OSError as exc:
        raise ConfigError(f"a source's folder is not usable: {exc.filename or ''} {exc.strerror or exc}; "
                          "check the paths in [[sources]] and var_dir") from exc
    try:
        return [s.name for s in sources]
    finally:
        for source in sources:
            source.close()


def _sidecar(settings: Settings, config_file: str | None, names: list[str], workers: int, poll: float,
             listener: object, api_on: bool) -> None:
    """The receiver (on the socket ``run`` bound), the API, and a loop keeping one drain per source and one outbox sweep queued."""
    from responsemaster.queue import make_huey, register_tasks

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    api: subprocess.Popen[bytes] | None = None
    receiver = None
    try:  # everything inside: a failure here must not leave the API running alone
        receiver = _start_receiver(settings, listener) if listener is not None else None
        api = _start_api(settings, config_file) if api_on else None
        huey = make_huey(settings)
        tasks = register_tasks(huey)
        while not stop.is_set():
            try:
                if huey.pending_count() < max(workers, len(names)):
                    for name in names:
                        tasks.drain_source(config_file, name)
                    tasks.deliver_outbox(config_file)
            except Exception as exc:  # noqa: BLE001 - the queue's server away for a while (Redis restarting)
                say(f"[red]queue unavailable[/]: {type(exc).__name__}: {exc}; trying again")
            if api is not None and api.poll() is not None:
                say(f"[red]API stopped[/] (exit {api.returncode}); the worker goes on. If the port is taken "
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
    It dies with this process (``lifeline.child_env``).
    """
    from responsemaster import lifeline

    level = str(settings.section("api").get("log_level", "") or "warning").lower()
    cmd = [sys.executable, "-m", "responsemaster", "serve", "--log-level", level]
    if config_file:
        cmd += ["--config", config_file]
    return subprocess.Popen(cmd, env=lifeline.child_env())


def _stop_process(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM (uvicorn finishes the requests in flight), then SIGKILL if it does not exit in ``timeout``."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _start_receiver(settings: Settings, listener):  # type: ignore[no-untyped-def]
    """Serve the socket ``run`` bound (``run`` says so once its own checks passed)."""
    from responsemaster.ingest.smtp_receiver import start_receiver

    return start_receiver(settings, sock=listener)


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

    from rich.console import Console

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


