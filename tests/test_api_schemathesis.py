"""schemathesis against the published OpenAPI schema: no 500s, every response as documented.

Runs in-process (ASGI) with an admin key on a seeded SQLite database, so
write endpoints are exercised too (their effects land in the test's
temporary folder). Examples per operation: ``RM_SCHEMATHESIS_EXAMPLES``
(default 30).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fixtures.api_setup import add_message, add_subscriber, add_suppression, build_env
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from responsemaster.store import Store, make_engine, upgrade_to_head

EXAMPLES = int(os.environ.get("RM_SCHEMATHESIS_EXAMPLES", "30"))
_env: dict[str, Any] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    engine = make_engine(f"sqlite:///{tmp / 'var' / 'rm.db'}")
    upgrade_to_head(engine)
    store = Store(engine, tmp / "var")
    env = build_env(store, tmp)
    sid = add_subscriber(store, "ann@example.org", status="pruned")
    add_suppression(store, "ann@example.org", "hard_bounce", sid)
    add_message(store, category="hard_bounce", reason="userunknown", subscriber="ann@example.org", campaign="c1",
                recipients=[{"address": "ann@example.org", "status": "5.1.1"}])
    add_message(store, category="user_reply", review=0.4, reply_text="hello")
    add_message(store, category="user_reply", state="quarantined", error="broken")
    _env["key"] = env.keys["admin"]
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", env.app)
    yield schema
    store.close()


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_api_matches_its_schema_and_never_fails(case: Any) -> None:
    response = case.call(headers={"X-API-Key": _env["key"]})
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    case.validate_response(response, checks=[status_code_conformance, content_type_conformance,
                                              response_schema_conformance])
