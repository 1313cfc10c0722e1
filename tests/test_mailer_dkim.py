"""DKIM: generated keys sign every campaign message, List-Unsubscribe headers included, and verify."""

from __future__ import annotations

import dkim
from click.testing import CliRunner
from test_mailer_support import ScriptedSink, make_settings, open_test_store, populate, simple_campaign

from mailer.dkim_keys import dkim_record, generate_rsa_key, public_der_from_private
from mailer.service import send_campaign
from responsemaster.cli.mailer_cmd import mailer


def _dns_for(record_value: str, name: str):
    def dnsfunc(query, timeout=5):  # type: ignore[no-untyped-def]
        return record_value.encode() if query.decode().rstrip(".") == name else None
    return dnsfunc


def test_keygen_prints_spf_dkim_dmarc_and_writes_a_private_key(tmp_path):
    key_path = tmp_path / "k.pem"
    result = CliRunner().invoke(mailer, ["dkim-keygen", "--domain", "example.org", "--selector", "rm1",
                                         "--out", str(key_path), "--config", str(tmp_path / "none.toml")])
    assert result.exit_code != 0  # a config file that does not exist is an error, not a silent default
    result = CliRunner().invoke(mailer, ["dkim-keygen", "--domain", "example.org", "--selector", "rm1", "--out", str(key_path)])
    assert result.exit_code == 0, result.output
    assert "example.org. 3600 IN TXT \"v=spf1 mx" in result.output
    assert "rm1._domainkey.example.org. 3600 IN TXT" in result.output and "v=DKIM1; k=rsa; p=" in result.output
    assert "_dmarc.example.org. 3600 IN TXT \"v=DMARC1; p=none" in result.output
    assert oct(key_path.stat().st_mode & 0o777) == "0o600"
    again = CliRunner().invoke(mailer, ["dkim-keygen", "--domain", "example.org", "--selector", "rm1", "--out", str(key_path)])
    assert again.exit_code != 0 and "refusing" in again.output


def test_campaign_messages_are_signed_and_verify_against_the_published_key(tmp_path):
    private, public = generate_rsa_key(2048)
    assert public_der_from_private(private) == public
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(private)
    sink = ScriptedSink().start()
    try:
        settings = make_settings(tmp_path, [sink.relay()], dkim={"domain": "example.org", "selector": "rm1", "key_file": str(key_file)})
        store = open_test_store(settings)
        populate(store, ["d1@example.com", "d2@example.com"])
        send_campaign(settings, simple_campaign(store), store=store)
    finally:
        sink.stop()
    record = dkim_record("example.org", "rm1", public)
    assert len(sink.messages) == 2
    for raw in sink.messages:
        assert dkim.verify(raw, dnsfunc=_dns_for(record.value, record.name))
        header = raw.split(b"\r\n\r\n", 1)[0].decode()
        signed = header.split("h=", 1)[1].split(";", 1)[0].replace("\r\n", "").replace(" ", "").replace("\t", "").lower()
        assert "list-unsubscribe" in signed.split(":") and "list-unsubscribe-post" in signed.split(":")
        tampered = raw.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: List-Unsubscribe=Two-Click")
        assert not dkim.verify(tampered, dnsfunc=_dns_for(record.value, record.name))
