"""Hostile requests get a clear 400 (never a 500), on SQLite and PostgreSQL; exports never carry a live formula.

Each case here was a 500, an alias of another URL or a stored NUL before
(issues 15 and 16): malformed targets (``%00``, ``%0a``, bytes that are not
UTF-8), JSON nested 1,000 deep, days and instants past the calendar's ends
once converted to UTC, numbers in paths spelled with superscripts or Arabic
digits, control characters in addresses and reasons, and formula cells in the
suppression export.
"""

from __future__ import annotations

import csv
import io

from fixtures.api_setup import ApiEnv, add_message, add_subscriber, add_suppression, api_env  # noqa: F401
from fixtures.store_backends import db_url, store  # noqa: F401
from sqlalchemy import select

from responsemaster.store.subscribers import Suppression

MALFORMED_TARGETS = [
    "/review/static/%00",                      # was a 500 with a NUL written into the log
    "/api/v1/subscribers/ann%00@example.org",
    "/api/v1/x%0a2026-01-01%20ERROR%20forged",
    "/api/v1/subscribers/%ff@example.org",     # not UTF-8 once decoded
    "/api/v1/subscribers/%zz",                 # '%' without two hex digits
    "/api/v1/suppressions/?domain=%00",        # PostgreSQL refuses NUL in text: was a 500 there
    "/api/v1/suppressions/?reason=a%0d%0aSet-Cookie:%20x",
    "/api/v1/suppressions/?domain=%E2%80%AEgro.elpmaxe",  # a bidi override
    "/nowhere/%00",                            # no route: still 400, not 404
]


def test_a_malformed_target_is_a_400_whatever_the_route(api_env: ApiEnv) -> None:  # noqa: F811
    for target in MALFORMED_TARGETS:
        response = api_env.client.get(target, headers=api_env.h())
        assert response.status_code == 400, (target, response.text)
        if target.startswith("/review"):  # a page for people, JSON for programs
            assert response.headers["content-type"].startswith("text/html") and "Bad request" in response.text
        else:
            assert response.headers["content-type"] == "application/json" and response.json()["status_code"] == 400


def test_a_malformed_unsubscribe_link_gets_the_form_its_endpoint_documents(api_env: ApiEnv) -> None:  # noqa: F811
    page = api_env.client.get("/unsubscribe/1abc%0a")
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    one_click = api_env.client.post("/unsubscribe/1abc%00", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 400 and one_click.headers["content-type"].startswith("text/plain")
    assert "Nothing was changed" in one_click.text


def test_well_formed_targets_still_pass(api_env: ApiEnv) -> None:  # noqa: F811
    assert api_env.client.get("/review/static/review.js").status_code == 200
    assert api_env.client.get("/api/v1/subscribers/j%C3%A9r%C3%B4me@example.org", headers=api_env.h()).status_code == 404
    assert api_env.client.get("/api/v1/suppressions/?domain=b%C3%BCcher.example", headers=api_env.h()).status_code == 200


def test_json_nested_a_thousand_deep_is_a_400(api_env: ApiEnv) -> None:  # noqa: F811
    for body in ("[" * 1000 + "]" * 1000, '{"address":' * 1000 + "1" + "}" * 1000):
        response = api_env.client.post("/api/v1/suppressions/", content=body, headers={
            **api_env.h("write"), "Content-Type": "application/json"})
        assert response.status_code == 400 and "nested too deeply" in response.json()["detail"]


EDGE_DATES = [
    ("/api/v1/stats/categories", {"until": "0001-01-05"}),    # the 30-day default start falls before year 1
    ("/api/v1/stats/categories", {"until": "9999-12-31"}),    # the range's end (the next day) does not exist
    ("/api/v1/stats/domains", {"since": "9999-12-31", "until": "9999-12-31"}),
    ("/api/v1/sending/", {"until": "0001-01-01"}),
    ("/api/v1/oplog/", {"since": "0001-01-01T00:00:00+05:00"}),
    ("/api/v1/oplog/", {"until": "9999-12-31T23:59:59-05:00"}),
    ("/api/v1/subscribers/ann@example.org/verdicts", {"before": "0001-01-01T00:00:00+14:00"}),
    ("/api/v1/subscribers/ann@example.org/verdicts", {"before": "9999-12-31T23:00:00-12:00"}),
]


def test_dates_past_the_calendars_ends_are_400s(api_env: ApiEnv) -> None:  # noqa: F811
    for path, params in EDGE_DATES:
        response = api_env.client.get(path, params=params, headers=api_env.h("admin"))
        assert response.status_code == 400, (path, params, response.text)


def test_the_calendars_ends_themselves_still_answer(api_env: ApiEnv) -> None:  # noqa: F811
    h = api_env.h("admin")
    assert api_env.client.get("/api/v1/oplog/", params={"since": "0001-01-01T00:00:00Z"}, headers=h).status_code == 200
    assert api_env.client.get("/api/v1/oplog/", params={"until": "9999-12-31T23:59:59Z"}, headers=h).status_code == 200
    days = {"since": "9999-12-01", "until": "9999-12-30"}
    assert api_env.client.get("/api/v1/stats/categories", params=days, headers=h).status_code == 200


def test_numbers_in_paths_are_plain_ascii_digits(api_env: ApiEnv) -> None:  # noqa: F811
    """``int()`` reads ``٣``, ``+3``, ``3_0`` and `` 3``: each was another name for an item; now a 400."""
    item = add_message(api_env.store, category="user_reply", review=0.5)["review_id"]
    plain = str(item)
    arabic = plain.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    for spelled in (f"+{plain}", f"0{plain}", f"%20{plain}", f"{plain}%20", arabic, "1_0", "-1"):
        for path in (f"/api/v1/review/{spelled}", f"/review/{spelled}"):
            response = api_env.client.get(path, headers=api_env.h())
            assert response.status_code == 400, (path, response.status_code)
    assert api_env.client.get(f"/api/v1/review/{plain}", headers=api_env.h()).status_code == 200
    assert api_env.client.get(f"/review/{plain}", headers=api_env.h()).status_code == 200


def test_the_superscript_campaign_is_looked_up_by_name_not_crashed_on(api_env: ApiEnv) -> None:  # noqa: F811
    """``GET /api/v1/campaigns/²`` was a 500: ``'²'.isdigit()`` is True and ``int('²')`` raises."""
    for spelled in ("%C2%B2", "%D9%A3", "%EF%BC%91"):  # superscript two, Arabic-Indic three, full-width one
        response = api_env.client.get(f"/api/v1/campaigns/{spelled}", headers=api_env.h())
        assert response.status_code == 404 and "no campaign" in response.json()["detail"]


BAD_SUPPRESSIONS = [
    {"address": "ann\u0000@example.org"},
    {"address": "ann@example.org\u0000"},
    {"address": "ann@exa\u0001mple.org"},
    {"address": "ann@example.org\n"},
    {"address": "ann@example.org", "reason": "manual\u0000"},
    {"address": "ann@example.org", "reason": "a\nERROR forged"},
    {"address": "ann@example.org", "reason": "gro.elpmaxe\u202e"},
    {"address": "not an address"},
]


def test_control_characters_in_an_address_or_a_reason_are_refused(api_env: ApiEnv) -> None:  # noqa: F811
    for body in BAD_SUPPRESSIONS:
        response = api_env.client.post("/api/v1/suppressions/", json=body, headers=api_env.h("write"))
        assert response.status_code == 400, (body, response.text)
    with api_env.store.reader() as s:
        assert s.execute(select(Suppression)).first() is None


def test_a_clean_suppression_is_stored_normalised(api_env: ApiEnv) -> None:  # noqa: F811
    response = api_env.client.post("/api/v1/suppressions/", json={"address": "Ann@Example.ORG", "reason": "by phone"},
                                   headers=api_env.h("write"))
    assert response.status_code == 201 and response.json()["address"] == "Ann@example.org"


def test_notes_and_resubscribe_reasons_refuse_control_characters(api_env: ApiEnv) -> None:  # noqa: F811
    sid = add_subscriber(api_env.store, "bob@example.org", status="pruned")
    add_suppression(api_env.store, "bob@example.org", "hard_bounce", sid)
    made = add_message(api_env.store, category="user_reply", review=0.5)
    w = api_env.h("write")
    assert api_env.client.post("/api/v1/suppressions/bob@example.org/resubscribe", json={"reason": "ok\u0000ok"},
                               headers=w).status_code == 400
    assert api_env.client.post(f"/api/v1/review/{made['review_id']}/resolve", json={"note": "x\u0000"},
                               headers=w).status_code == 400
    item = made["review_id"]
    for path, body in ((f"/api/v1/review/{item}/recipients/relabel",
                        {"address": "ann@example.org", "category": "hard_bounce", "note": "a\u0000"}),
                       (f"/api/v1/review/{item}/recipients/relabel",
                        {"address": "ann@example.org", "category": "hard_bounce", "reason": "user\u001bunknown"}),
                       (f"/api/v1/review/{item}/confirm-prune", {"address": "ann\u0000@example.org"})):
        assert api_env.client.post(path, json=body, headers=w).status_code == 400, (path, body)
    ok = api_env.client.post(f"/api/v1/review/{made['review_id']}/resolve", json={"note": "line one\r\nline two"},
                             headers=w)
    assert ok.status_code == 200, ok.text


def test_the_suppression_export_neutralises_formula_cells(api_env: ApiEnv) -> None:  # noqa: F811
    """A DSN naming ``=1+2@evil.example`` (a valid address) put a live formula into the export."""
    for address, reason in (("=1+2@evil.example", "hard_bounce"), ("-ann@example.org", "hard_bounce"),
                            ("plain@example.org", "=HYPERLINK(\"http://evil.example/\",\"click\")"),
                            ("at@example.org", "@SUM(A1)")):
        add_suppression(api_env.store, address, reason)
    with api_env.client.stream("GET", "/api/v1/suppressions/export.csv", headers=api_env.h()) as response:
        body = "".join(response.iter_text())
    rows = list(csv.DictReader(io.StringIO(body)))
    cells = [c for row in rows for c in row.values()]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
    assert {r["address"] for r in rows} == {"'=1+2@evil.example", "'-ann@example.org", "plain@example.org",
                                            "at@example.org"}
    assert {r["reason"] for r in rows} >= {"'=HYPERLINK(\"http://evil.example/\",\"click\")", "'@SUM(A1)"}


def test_addresses_with_control_characters_are_never_stored_from_mail(api_env: ApiEnv, classifier) -> None:  # noqa: F811
    """A DSN naming ``ann\\x01@example.org`` is classified, recorded and routed (here through the API's
    re-process, the worker's path) without a subscriber or a suppression for that address."""
    from api.reprocess import reprocess
    from responsemaster.routing.router import build_router
    from responsemaster.store.subscribers import Subscriber
    from test_api_reprocess import DSN

    for i, address in enumerate(("ann\x01@example.org", "bob\x00@example.org", "eve\u202e@example.org")):
        raw = DSN.replace(b"gone@example.net", address.encode()).replace(b"mx.example.net", f"mx{i}.example.net".encode())
        made = add_message(api_env.store, category="user_reply", state="quarantined", error="crashed", raw=raw)
        assert reprocess(api_env.store, classifier, build_router(api_env.settings), made["uid"])["category"] == "hard_bounce"
    with api_env.store.reader() as s:
        assert s.execute(select(Subscriber)).first() is None and s.execute(select(Suppression)).first() is None
