"""``create_app(settings, ...)``: the Litestar application, its dependencies and its schema.

Everything a handler needs arrives as the ``ctx`` dependency (an
:class:`~api.context.ApiContext`), built here from the settings unless a test
passes its own store, keyring or tasks. Nothing is imported as a global, so a
test builds the app against a temporary database in one line.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from huey import Huey
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from api.auth import KeyCache, LoginRequired, require_scope
from api.config import ApiSettings
from api.console import console_router
from api.context import ApiContext
from api.controllers.campaigns import CampaignController
from api.controllers.health import HealthController
from api.controllers.lists import ListController
from api.controllers.model import ModelController
from api.controllers.oplog import OplogController
from api.controllers.quarantine import QuarantineController
from api.controllers.review import ReviewController
from api.controllers.review_page import ReviewPageController
from api.controllers.sending import SendingController
from api.controllers.stats import StatsController
from api.controllers.subscribers import SubscriberController
from api.controllers.suppressions import SuppressionController
from api.controllers.unsubscribe import UnsubscribeController
from api.kept import kept
from api.log_redact import install as install_log_redaction
from api.log_redact import redact
from api.strict_input import StrictRequest, reject_malformed_targets, strict_path_numbers
from api.tasks import ApiTasks, make_api_huey, register_api_tasks
from responsemaster.config import Settings
from responsemaster.store.database import Store, open_store
from responsemaster.verp import Keyring

HERE = Path(__file__).resolve().parent
CONTROLLERS = [
    HealthController,
    SubscriberController,
    ListController,
    SuppressionController,
    StatsController,
    CampaignController,
    QuarantineController,
    ReviewController,
    ModelController,
    OplogController,
    SendingController,
    UnsubscribeController,
    ReviewPageController,
]
logger = logging.getLogger("api")


def _keyring(settings: Settings) -> Keyring | None:
    from responsemaster.verp_keys import configured_keyring

    try:
        return configured_keyring(settings.section("verp"))
    except ValueError as exc:
        logger.warning("one-click unsubscribe disabled: %s", exc)
        return None


def _login_redirect(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    target = request.url.path if request.method == "GET" else "/console" if request.url.path.startswith("/console") \
        else "/review"
    return Redirect(path=f"/review/login?next={target}")


def _problem(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Errors as ``{"status_code", "detail"}`` (plus validation details), never a stack trace."""
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if getattr(exc, "extra", None):
        body["extra"] = exc.extra
    return Response(body, status_code=exc.status_code, headers=exc.headers)


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A bug: log the traceback (method and path only, never headers, so never a key) and answer 500."""
    logger.error("internal error on %s %s", request.method, redact(request.url.path), exc_info=exc)
    return Response({"status_code": 500, "detail": "internal server error"}, status_code=500)


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    keyring: Keyring | None | bool = True,
    tasks: ApiTasks | None = None,
    huey: Huey | None = None,
    config_path: str | None = None,
    debug: bool = False,
) -> Litestar:
    """The application for ``settings``.

    ``store``: an open store (default: ``open_store(settings)``, migrated).
    ``keyring``: VERP keys for one-click unsubscribe (default: from ``[verp]``/env; None: refuse all).
    ``tasks``/``huey``: how background work is enqueued (default: the API queue of ``make_api_huey``).
    """
    api = ApiSettings.from_settings(settings)
    kept.slow = api.keep_results_slower_than
    store = store or open_store(settings)
    if keyring is True:
        keyring = _keyring(settings)
    if tasks is None:
        tasks = register_api_tasks(huey or make_api_huey(settings), config_path)
    ctx = ApiContext(settings=settings, api=api, store=store, keyring=keyring or None, tasks=tasks,
                     key_cache=KeyCache(api.key_cache_seconds), config_path=config_path)
    openapi = OpenAPIConfig(
        title="ResponseMaster API",
        version="1",
        description="List hygiene, review queue, model and sending views. Write endpoints need an API key.",
        components=Components(security_schemes={
            "apiKey": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
            "bearer": SecurityScheme(type="http", scheme="bearer"),
        }),
    )
    app = Litestar(
        route_handlers=[
            *CONTROLLERS,
            create_static_files_router(path="/review/static", directories=[HERE / "static"],
                                       include_in_schema=False, send_as_attachment=False),
            console_router(),
        ],
        guards=[strict_path_numbers, require_scope],
        request_class=StrictRequest,
        dependencies={"ctx": Provide(lambda: ctx, use_cache=True, sync_to_thread=False)},
        state=State({"ctx": ctx}),
        template_config=TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine),
        openapi_config=openapi,
        exception_handlers={LoginRequired: _login_redirect, HTTPException: _problem, Exception: _internal_error},
        debug=debug,
        on_startup=[install_log_redaction, _freeze_heap],
    )
    # Before routing, so a malformed target is a 400 whether or not a route would have matched it.
    app.asgi_handler = reject_malformed_targets(app.asgi_handler)
    return app


def _freeze_heap() -> None:
    """Move everything built at start-up out of the garbage collector's sight.

    Without it, each full collection walks every SQLAlchemy/Litestar object
    built at import time: tens of milliseconds of pause, straight into p99.
    """
    import gc

    gc.collect()
    gc.freeze()
