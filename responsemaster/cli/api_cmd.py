"""``responsemaster serve`` (the HTTP API and the review page) and ``responsemaster apikey``.

Keys are made here and only here: the API has no endpoint that creates a
key, so a leaked admin key cannot mint more. The clear key is printed once;
only its salted hash is stored. Every create and revoke is written to the
operation log as ``cli:<login name>``.
"""

from __future__ import annotations

import logging

from pathlib import Path

import click

from responsemaster.cli.common import config_option, settings_from

LEVELS = ["critical", "error", "warning", "info", "debug"]


@click.command()
@config_option
@click.option("--host", default=None, help="Address to listen on (default: [api] host, else 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: [api] port, else 8025; 0: any free port).")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Worker processes (each with its own database pool); 1 serves from this process.")
@click.option("--log-level", default=None, type=click.Choice(LEVELS),
              help="uvicorn's level (default: [api] log_level, else info: one access-log line per request).")
def serve(config_path: Path | None, host: str | None, port: int | None, workers: int, log_level: str | None) -> None:
    """Serve the HTTP API, the review page and the one-click unsubscribe endpoint."""
    import uvicorn

    from api.app import create_app
    from api.config import ApiSettings
    from api.console.campaigns import mailer_tasks
    from api.tasks import BackgroundConsumer

    settings = settings_from(config_path)
    api = ApiSettings.from_settings(settings)
    host = host or api.host
    port = api.port if port is None else port
    level = log_level or api.log_level or "info"
    app = create_app(settings, config_path=str(config_path.resolve()) if config_path else None)
    ctx = app.state.ctx
    hint = None if _has_active_key(ctx.store) else _key_hint(config_path)
    # The API's background tasks, and the mailer's queue the console sends campaigns on.
    consumers = [BackgroundConsumer(h) for h in (ctx.tasks.huey, mailer_tasks(app).huey) if h is not None]
    # Huey's start-up lines at the server's level: under run (warning) they are chatter among the verdicts.
    logging.getLogger("huey").setLevel(getattr(logging, level.upper(), logging.DEBUG))
    for consumer in consumers:
        consumer.start()
    try:
        if workers > 1:
            import os

            from api.asgi import CONFIG_ENV

            if config_path:
                os.environ[CONFIG_ENV] = str(config_path.resolve())
            _announce(host, port, hint)
            uvicorn.run("api.asgi:app_from_env", factory=True, workers=workers, host=host, port=port,
                        log_level=level, proxy_headers=False, server_header=False)
        else:
            config = uvicorn.Config(app, host=host, port=port, log_level=level, proxy_headers=False,
                                    server_header=False, timeout_graceful_shutdown=5)
            _announcing_server(config, hint).run()
    finally:
        for consumer in consumers:
            consumer.stop()
        ctx.store.close()


def _announce(host: str, port: int, hint: str | None) -> None:
    """The addresses (the README promises them at start-up), then how to get a key if there is none."""
    base = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    click.echo(f"API:          {base}/api/v1/   (OpenAPI schema: {base}/schema/openapi.json)")
    click.echo(f"Review page:  {base}/review")
    click.echo(f"Console:      {base}/console")
    click.echo(f"Unsubscribe:  {base}/unsubscribe/<token>   Health: {base}/health   Metrics: {base}/metrics")
    if hint:
        click.echo(hint)


def _has_active_key(store) -> bool:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from responsemaster.store.platform import ApiKey

    with store.reader() as session:
        return session.execute(select(ApiKey.id).where(ApiKey.revoked_at.is_(None)).limit(1)).first() is not None  # type: ignore[union-attr]


def _key_hint(config_path: Path | None) -> str:
    """A fresh install has no key, and the review page asks for one: say how to make it (never make one here,
    a key printed by a long-running command would end up in its log)."""
    config = f" --config {config_path}" if config_path else ""
    return ("No API key yet. Sign in to the review page (and call the API) with a key made by:\n"
            f"              responsemaster apikey create me --scope admin{config}")


def _announcing_server(config, hint: str | None):  # type: ignore[no-untyped-def]
    """uvicorn's server, printing the addresses once the socket listens (so a script can wait for them)."""
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets=None) -> None:  # type: ignore[no-untyped-def]
            await super().startup(sockets)
            if not self.should_exit and self.servers:
                _announce(config.host, int(self.servers[0].sockets[0].getsockname()[1]), hint)

    return AnnouncingServer(config)


@click.group()
def apikey() -> None:
    """Create, revoke and list API keys (stored hashed; a key is shown once)."""


@apikey.command("create")
@config_option
@click.argument("name")
@click.option("--scope", type=click.Choice(["read", "write", "admin"]), default="read", show_default=True,
              help="read: queries; write: changes (resolve, relabel, re-subscribe...); admin: also retrain, audit log.")
def apikey_create(config_path: Path | None, name: str, scope: str) -> None:
    """Create key NAME and print it once."""
    from api import oplog
    from api.keys import KeyError_, create_key
    from responsemaster.store import open_store

    store = open_store(settings_from(config_path))
    try:
        with store.transaction() as session:
            key = create_key(session, name, scope)
            oplog.record(session, oplog.cli_actor(), "local", "apikey.create", name, scope=scope)
    except KeyError_ as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(key)
    click.echo(f"API key {name!r} ({scope}) created. It is shown only now: store it safely.", err=True)


@apikey.command("revoke")
@config_option
@click.argument("name")
def apikey_revoke(config_path: Path | None, name: str) -> None:
    """Revoke key NAME at once (the row stays for the audit trail)."""
    from api import oplog
    from api.keys import KeyError_, revoke_key
    from responsemaster.store import open_store

    store = open_store(settings_from(config_path))
    try:
        with store.transaction() as session:
            revoke_key(session, name)
            oplog.record(session, oplog.cli_actor(), "local", "apikey.revoke", name)
    except KeyError_ as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"API key {name!r} revoked.")


@apikey.command("list")
@config_option
def apikey_list(config_path: Path | None) -> None:
    """Names, scopes and dates of every key (never the keys)."""
    from sqlalchemy import select

    from responsemaster.store import open_store
    from responsemaster.store.platform import ApiKey

    store = open_store(settings_from(config_path))
    try:
        with store.reader() as session:
            rows = list(session.execute(select(ApiKey).order_by(ApiKey.name)).scalars())
    finally:
        store.close()
    for row in rows:
        state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
        used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
        click.echo(f"{row.name}\t{row.scope}\t{state}\tcreated {row.created_at:%Y-%m-%d}\tlast used {used}")
