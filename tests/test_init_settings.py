"""`responsemaster init`, and wrong settings as one line naming the setting (never a traceback)."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailer.settings import mailer_settings
from responsemaster.cli import main
from responsemaster.config import load_settings
from responsemaster.verp import list_unsubscribe_headers, one_click_url_warning

SECRET = "0123456789abcdef0123"
MESSAGE = b"From: Jane <jane@example.org>\nTo: news@example.org\nSubject: Re: news\n\nThanks!\n"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for name in ("RESPONSEMASTER_VERP_SECRET", "RESPONSEMASTER_VERP_KEY_K1", "RESPONSEMASTER_DATABASE_URL",
                 "RESPONSEMASTER_QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_init_writes_a_private_commented_config_the_mailer_accepts(runner: CliRunner, tmp_path: Path) -> None:
    made = runner.invoke(main, ["init", "--relay", "smtp.example.org:587", "--bounce-domain", "Bounces.Example.org",
                                "--public-url", "https://lists.example.org/"])
    assert made.exit_code == 0 and "warning" not in made.output, made.output
    path = tmp_path / "responsemaster.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert text.count("\n# ") > 10  # commented for a reader
    data = tomllib.loads(text)
    secret = data["verp"]["keys"]["k1"]
    assert len(secret) >= 40 and data["verp"]["bounce_domain"] == "bounces.example.org"
    mailer = mailer_settings(load_settings(path))
    relay = mailer.relays[0]
    assert (relay.host, relay.port, relay.tls) == ("smtp.example.org", 587, "starttls")
    assert mailer.unsubscribe_url == "https://lists.example.org/unsubscribe/{token}" and not mailer.url_warning
    assert mailer.from_address == "News <news@example.org>" and mailer.verp.keyring.current == "k1"
    again = runner.invoke(main, ["init", "--relay", "other:25"])
    assert again.exit_code == 1 and "not overwriting" in again.output
    assert tomllib.loads(path.read_text())["verp"]["keys"]["k1"] == secret
    assert runner.invoke(main, ["init", "--config", "second.toml"]).exit_code == 0
    assert tomllib.loads((tmp_path / "second.toml").read_text())["verp"]["keys"]["k1"] != secret  # fresh each time


@pytest.mark.parametrize("url,accepted", [
    ("http://127.0.0.1:8025", True), ("http://localhost:8025", True), ("http://[::1]:8025", True),
    ("https://lists.example.org", True), ("http://lists.example.org", False), ("http://10.0.0.5", False),
    ("ftp://127.0.0.1", False), ("https://", False),
])
def test_plain_http_links_only_on_a_loopback_host(runner: CliRunner, tmp_path: Path, url: str, accepted: bool) -> None:
    made = runner.invoke(main, ["init", "--public-url", url])
    assert (made.exit_code == 0) is accepted, made.output
    if not accepted:
        assert "--public-url" in made.output and not (tmp_path / "responsemaster.toml").exists()
        return
    warned = url.startswith("http://")
    assert ("plain http on a loopback host" in made.output) is warned
    assert len([line for line in made.output.splitlines() if line.startswith("warning")]) == int(warned)
    mailer = mailer_settings(load_settings(tmp_path / "responsemaster.toml"))
    assert bool(mailer.url_warning) is warned
    token = "1abc"
    assert f"<{url}/unsubscribe/{token}>" in list_unsubscribe_headers(token, "u@example.org", mailer.unsubscribe_url)[
        "List-Unsubscribe"]


def test_one_click_url_check() -> None:
    assert one_click_url_warning("https://x.example/u/{token}") == ""
    assert "loopback" in one_click_url_warning("http://127.0.0.9/u")
    with pytest.raises(ValueError, match="https"):
        one_click_url_warning("http://localhost.example.org/u")


BOTH, RUN = ("classify", "run"), ("run",)
BAD_SETTINGS = [
    ('[verp]\nkeys = { k1 = "" }', "[verp] keys: VERP key 'k1' has no secret", BOTH),
    ('[verp]\nkeys = { k1 = "short" }', "[verp] keys: VERP key 'k1' is 5 bytes", BOTH),
    (f'[verp]\nkeys = {{ k1 = "{SECRET}", k2 = "{SECRET}" }}', "[verp] current_key:", BOTH),
    ('[classify]\nuse_model = "yes"', "[classify] use_model: must be true or false", BOTH),
    ('[classify]\nrules_files = ["missing.toml"]', "[classify] rules_files:", BOTH),
    ("var_dir = 5", "var_dir: must be a string", BOTH),
    ("mailer = 5", "[mailer]: must be a table", BOTH),
    ('[database]\nurl = "nonsense"', "[database] url:", RUN),
    ('[worker]\nbatch_size = "ten"', "[worker] batch_size: must be a whole number", RUN),
    ('[routing.bounce_score]\nthreshold = "high"', "[routing.bounce_score] threshold: must be a number", RUN),
    ("[routing.bounce_score]\nweights = 3", "[routing.bounce_score] weights: must be a table", RUN),
    ('[routing]\nmax_forwards_per_sender = "x"', "[routing] max_forwards_per_sender:", RUN),
]
CASES = [(command, toml, message) for toml, message, commands in BAD_SETTINGS for command in commands]


@pytest.mark.parametrize("command,toml,message", CASES)
def test_a_wrong_setting_is_one_line_naming_it(runner: CliRunner, tmp_path: Path, command: str, toml: str,
                                               message: str) -> None:
    (tmp_path / "responsemaster.toml").write_text(f"{toml}\n[receiver]\nenabled = false\n", encoding="utf-8")
    (tmp_path / "m.eml").write_bytes(MESSAGE)
    args = ["classify", "--no-model", "m.eml"] if command == "classify" else ["run", "--once"]
    result = runner.invoke(main, args)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {message}"), result.output


def test_mailer_settings_name_the_relay_setting(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "responsemaster.toml").write_text(
        f'[verp]\nkeys = {{ k1 = "{SECRET}" }}\n[[mailer.relays]]\nname = "primary"\nport = "587"\n', encoding="utf-8")
    result = runner.invoke(main, ["mailer", "campaigns"])
    assert result.exit_code == 0  # listing reads no relay
    result = runner.invoke(main, ["mailer", "send", "nothing"])
    assert result.exit_code == 1 and result.output.strip() == (
        "Error: [mailer.relays primary] port: must be a whole number, got '587'")


@pytest.mark.parametrize("toml,message", [
    ('[verp]\nkeys = { k1 = "" }', "[verp] keys: VERP key 'k1' has no secret"),
    ('[api]\nport = "8025"', "[api] port: must be a whole number"),
    ('[queue]\nurl = "amqp://127.0.0.1/"', "[queue] url: must be"),
])
def test_the_long_running_run_checks_its_settings_before_it_starts_anything(tmp_path: Path, toml: str, message: str) -> None:
    """Not ``--once``: the sidecar and the consumers would each read these later, in their own process."""
    import subprocess
    import sys

    (tmp_path / "responsemaster.toml").write_text(f"{toml}\n[receiver]\nenabled = false\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "responsemaster", "run", "--config", "responsemaster.toml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and lines[0].startswith(f"Error: {message}"), done.stderr
    assert not (tmp_path / "var").exists()  # nothing was started or created
