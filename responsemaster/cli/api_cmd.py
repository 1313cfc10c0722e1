"""``responsemaster serve`` (the HTTP API and the review page) and ``responsemaster apikey``.

Keys are made here and only here: the API has no endpoint that creates a
key, so a leaked admin key cannot mint more. The clear key is printed once;
only its salted hash is stored. Every create and revoke is written to the
operation log as ``cli:<login name>``.
"""

from __future__ import annotations

from pathlib import Path

import click

from responsemaster.cli.common import config_option, settings_from


@click.command()
@config_option
@click.option("--host", default=None, help="Address to listen on (default: [api] host, else 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: [api] port, else 8025).")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Worker processes (each with its own database pool); 1 serves from this process.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
def serve(config_path: Path | None, host: str | None, port: int | None, workers: int, log_level: str) -> None:
    """Serve the HTTP API, the review page and the one-click unsubscribe endpoint."""
    import uvicorn

    from api.app import create_app
    from api.config import ApiSettings
    from api.tasks import BackgroundConsumer

    settings = settings_from(config_path)
    api = ApiSettings.from_settings(settings)
    host = host or api.host
    port = port or api.port
    app = create_app(settings, config_path=str(config_path.resolve()) if config_path else None)
    ctx = app.state.ctx
    consumer = BackgroundConsumer(ctx.tasks.huey) if ctx.tasks.huey is not None else None
    base = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    click.echo(f"API:          {base}/api/v1/   (OpenAPI schema: {base}/schema)")
    click.echo(f"Review page:  {base}/review")
    click.echo(f"Unsubscribe:  {base}/unsubscribe/<token>   Health: {base}/health   Metrics: {base}/metrics")
    if consumer is not None:
        consumer.start()
    try:
        if workers > 1:
            import os

            from api.asgi import CONFIG_ENV

            if config_path:
                os.environ[CONFIG_ENV] = str(config_path.resolve())
            uvicorn.run("api.asgi:app_from_env", factory=True, workers=workers, host=host, port=port,
                        log_level=log_level, proxy_headers=False, server_header=False)
        else:
            uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=False, server_header=False)
    finally:
        if consumer is not None:
            consumer.stop()
        ctx.store.close()


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
