"""Scopes answer as HTTP says (issue #11.7): a valid key whose scope is too small is 403, never 401.

401 means "who are you?" (no key, a wrong or revoked one); a known key that
may not do this is 403. Every write route the app has is tried, so a route
added later is covered without editing a list.
"""

from __future__ import annotations

import re

import pytest
from fixtures.api_setup import ApiEnv, api_env  # noqa: F401 - fixture
from fixtures.store_backends import db_url, store  # noqa: F401 - fixtures

_PARAM = re.compile(r"\{[^}]+\}")


def _write_routes(env: ApiEnv) -> list[tuple[str, str, str]]:
    found = []
    for route in env.app.routes:
        for handler in getattr(route, "route_handlers", []):
            scope = handler.opt.get("scope")
            for method in sorted(getattr(handler, "http_methods", set()) & {"POST", "PUT", "PATCH", "DELETE"}):
                if scope in ("write", "admin"):
                    found.append((method, _PARAM.sub("1", route.path), scope))
    return found


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the guard reads no table: one backend is enough
def test_a_read_key_on_any_write_route_is_403_and_no_key_is_401(api_env: ApiEnv) -> None:  # noqa: F811
    routes = _write_routes(api_env)
    assert len(routes) >= 5, routes
    for method, path, scope in routes:
        for headers in (api_env.h("read"), {"Authorization": f"Bearer {api_env.keys['read']}"}):
            answer = api_env.client.request(method, path, headers=headers, json={}, follow_redirects=False)
            assert answer.status_code == 403, (method, path, scope, answer.status_code, answer.text[:200])
        if scope == "admin":
            answer = api_env.client.request(method, path, headers=api_env.h("write"), json={}, follow_redirects=False)
            assert answer.status_code == 403, (method, path, answer.status_code)
        anonymous = api_env.client.request(method, path, json={}, follow_redirects=False)
        if path.startswith(("/review", "/console")):  # the pages send a missing sign-in to the sign-in form
            assert anonymous.status_code in (302, 303), (method, path, anonymous.status_code)
            assert anonymous.headers["location"].split("?")[0].endswith("/review/login"), (method, path)
        else:
            assert anonymous.status_code == 401, (method, path)
