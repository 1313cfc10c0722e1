"""Sources and receiver settings from the TOML configuration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from responsemaster.config import ConfigError, load_settings
from responsemaster.ingest.factory import build_sources, receiver_settings
from responsemaster.ingest.maildir_source import MaildirSource
from responsemaster.ingest.mbox_source import MboxSource


def _settings(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    config = tmp_path / "responsemaster.toml"
    config.write_text(text)
    return load_settings(config)


def test_embedded_default_is_one_maildir(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "")
    [source] = build_sources(settings)
    assert isinstance(source, MaildirSource) and source.name == "returns"
    assert source.root == tmp_path / "var" / "returns" and (source.root / "new").is_dir()
    assert source.quarantine_dir == tmp_path / "var" / "quarantine"
    receiver = receiver_settings(settings)
    assert (receiver.host, receiver.port, receiver.enabled) == ("127.0.0.1", 2525, True)
    assert receiver.maildir == tmp_path / "var" / "returns"


def test_configured_maildir_and_mbox(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        """
[[sources]]
type = "maildir"
name = "bounces"
path = "mail/bounces"
processed_folder = "Done"
errors_folder = "var/errors"
lease_seconds = 60

[[sources]]
type = "mbox"
name = "archive"
paths = ["old.mbox"]
""",
    )
    maildir, mbox = build_sources(settings)
    assert isinstance(maildir, MaildirSource) and maildir.processed_dir == tmp_path / "mail/bounces/.Done"
    assert maildir.quarantine_dir == tmp_path / "var/errors" and maildir.lease_seconds == 60
    assert isinstance(mbox, MboxSource) and mbox.paths == [tmp_path / "old.mbox"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[sources]]\ntype = "maildir"\n', "sources[0]: key 'name' is required"),
        ('[[sources]]\nname = "x"\ntype = "pop3"\npath = "m"\n', "sources[0] (x): key 'type' must be one of"),
        ('[[sources]]\nname = "x"\ntype = "maildir"\n', "sources[0] (x): key 'path' is required"),
        ('[[sources]]\nname = "x"\npath = "m"\nlease_seconds = "soon"\n', "key 'lease_seconds' must be a positive"),
        (
            '[[sources]]\nname = "x"\npath = "a"\n[[sources]]\nname = "x"\npath = "b"\n',
            "sources[1] (x): key 'name' duplicates",
        ),
        ('[[sources]]\nname = "i"\ntype = "imap"\nhost = "h"\nuser = "u"\n', "sources[0] (i): key 'password_env'"),
        ('[receiver]\nhost = "0.0.0.0"\n', "receiver: key 'domains' must list"),
        ('[receiver]\nport = 70000\n', "receiver: key 'port' must be at most"),
    ],
)
def test_errors_name_the_entry_and_key(tmp_path: Path, text: str, message: str) -> None:
    settings = _settings(tmp_path, text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        build_sources(settings)
        receiver_settings(settings)


def test_receiver_section(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        '[receiver]\nhost = "0.0.0.0"\nport = 25\nmaildir = "spool"\nmax_size = 1000\n'
        'domains = ["Returns.Example.org"]\nenabled = false\n',
    )
    receiver = receiver_settings(settings)
    assert receiver.domains == ["returns.example.org"] and receiver.maildir == tmp_path / "spool"
    assert (receiver.port, receiver.max_size, receiver.enabled) == (25, 1000, False)


def test_imap_entries_one_source_per_mailbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from responsemaster.ingest.imap_source import ImapSource

    monkeypatch.setenv("RM_TEST_IMAP_PASSWORD", "from-env")
    settings = _settings(
        tmp_path,
        """
[[sources]]
type = "imap"
name = "shared"
host = "imap.example.org"
tls = "starttls"
user = "returns"
password = "from-file"
password_env = "RM_TEST_IMAP_PASSWORD"
mailboxes = ["INBOX", "Bounces"]
filter = { recipient_contains = "bounces+" }
""",
    )
    first, second = build_sources(settings)  # no connection is made until the first fetch
    assert isinstance(first, ImapSource) and [first.name, second.name] == ["shared/INBOX", "shared/Bounces"]
    assert first.config.password == "from-env" and first.config.port == 143
    assert second.config.mailbox == "Bounces" and first.config.processed_folder == "Processed"
    assert first.config.criteria == (
        '(OR TO "bounces+" OR HEADER Delivered-To "bounces+" HEADER X-Original-To "bounces+")'
    )


def test_imap_filter_errors_name_the_key(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        '[[sources]]\nname = "i"\ntype = "imap"\nhost = "h"\nuser = "u"\npassword = "p"\nfilter = { to = "x" }\n',
    )
    with pytest.raises(ConfigError, match=re.escape("sources[0] (i): key 'filter' unknown filter keys: to")):
        build_sources(settings)
