"""The operator console at ``/console``: lists, templates, campaigns, sending, failures, the operation log.

Server-rendered pages (Jinja2 templates in ``api/templates/console/``, one
stylesheet ``api/static/console.css``, served with the review page's from ``/review/static/``) behind the review page's sign-in and
the API's guard: ``read`` to look, ``write`` to import, send and change,
``admin`` for the operation log and the keys. Every number comes from the
queries the JSON API answers with (:mod:`api.counts`, :mod:`api.sending_views`,
:mod:`mailer.analytics`...). One module per page:

- :mod:`api.console.dashboard`   ``/console``            today and the last 30 days, charts, worst domains
- :mod:`api.console.lists`       ``/console/lists``      lists, subscriber search, CSV import and export
- :mod:`api.console.templates`   ``/console/templates``  templates with a rendered preview
- :mod:`api.console.campaigns`   ``/console/campaigns``  create, pre-flight, send or schedule, pause, results
- :mod:`api.console.sending`     ``/console/sending``    relays and quotas, the delivery log
- :mod:`api.console.failures`    ``/console/failures``   failures by reason and domain, the suppression list
- :mod:`api.console.admin`       ``/console/oplog``, ``/console/keys``
"""

from __future__ import annotations

from litestar import Router
from litestar.exceptions import HTTPException

from api.console.web import READ_OPT, ROOT, html_error


def console_router() -> Router:
    """Every console page under ``/console``, with the console's error pages."""
    from api.console.admin import KeysController, OplogPageController
    from api.console.campaigns import CampaignPagesController
    from api.console.dashboard import DashboardController
    from api.console.failures import FailuresController
    from api.console.lists import ListsController
    from api.console.sending import SendingPageController
    from api.console.templates import TemplatesController

    return Router(
        path=ROOT,
        route_handlers=[DashboardController, ListsController, TemplatesController, CampaignPagesController,
                        SendingPageController, FailuresController, OplogPageController, KeysController],
        opt=READ_OPT,
        include_in_schema=False,
        exception_handlers={HTTPException: html_error},
    )
