"""The `mailer` commands end to end through click: template, campaign, preflight, send, stats, export."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from test_mailer_support import ScriptedSink, make_settings

from responsemaster.cli.mailer_cmd import mailer


@pytest.fixture
def sink():
    server = ScriptedSink().start()
    yield server
    server.stop()


def test_commands_from_csv_to_stats(tmp_path, sink, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_settings(tmp_path, [sink.relay()])
    config = ["--config", str(tmp_path / "responsemaster.toml")]
    (tmp_path / "subs.csv").write_text("email,name,city\nann@example.com,Ann,Paris\nghost@example.net,Gh,Oslo\n")
    (tmp_path / "t.html").write_text("<p>{{ name }} in {{ city }}</p>")
    (tmp_path / "bad.html").write_text("<p>{{ nope }}</p>")
    sink.unknown_users.add("ghost@example.net")
    run = CliRunner().invoke
    assert run(mailer, ["import", "subs.csv", "--list", "news", *config]).exit_code == 0
    assert run(mailer, ["template", "t", "--subject", "Hi {{ name }}", "--html", "t.html", *config]).exit_code == 0
    assert run(mailer, ["template", "bad", "--subject", "x", "--html", "bad.html", *config]).exit_code == 0
    assert run(mailer, ["campaign", "c1", "--list", "news", "--template", "t", *config]).exit_code == 0
    assert run(mailer, ["campaign", "c2", "--list", "news", "--template", "bad", *config]).exit_code == 0
    bad = run(mailer, ["preflight", "c2", *config])
    assert bad.exit_code == 1 and "'nope' is undefined" in bad.output
    assert run(mailer, ["send", "c2", *config]).exit_code == 1 and not sink.messages
    assert run(mailer, ["preflight", "c1", *config]).exit_code == 0
    sent = run(mailer, ["send", "c1", *config])
    assert sent.exit_code == 0 and "campaign c1: sent" in sent.output, sent.output
    stats = json.loads(run(mailer, ["stats", "c1", *config]).output)
    assert (stats["sent"], stats["failed_at_send"], stats["failed_at_send_by_category"]) == (1, 1, {"hard_bounce": 1})
    by_domain = json.loads(run(mailer, ["stats", "c1", "--by-domain", *config]).output)
    assert by_domain["example.net"]["failed_at_send"] == 1 and by_domain["example.com"]["sent"] == 1
    exported = run(mailer, ["export", "--list", "news", "--field", "city", *config])
    assert "ghost@example.net,Gh,pruned,5.0,Oslo" in exported.output  # the hard bounce is in its score
    _assert_operation_log(tmp_path / "responsemaster.toml")


def _assert_operation_log(config) -> None:
    """Every change made from the CLI is in the operation log (issue #6), as cli:<user> from "local"."""
    from api import oplog
    from responsemaster.config import load_settings
    from responsemaster.store import open_store

    store = open_store(load_settings(config))
    try:
        with store.reader() as session:
            rows = list(reversed(oplog.query(session)))
    finally:
        store.close()
    logged = [(row.operation, row.target) for row in rows]
    assert logged == [
        ("subscribers.import", "news"), ("template.save", "t"), ("template.save", "bad"),
        ("campaign.create", "c1"), ("campaign.create", "c2"), ("campaign.send", "c2"), ("campaign.send", "c1"),
    ]
    assert all(row.actor.startswith("cli:") and json.loads(row.detail)["from"] == "local" for row in rows)
    assert json.loads(rows[0].detail)["added"] == 2
