"""``verp encode`` / ``verp decode`` through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from responsemaster.cli.verp_cmd import keyring_from_env, verp

SECRET = "cli test secret, long enough"
ENV = {"RESPONSEMASTER_VERP_SECRET": SECRET, "RESPONSEMASTER_VERP_KEY_ID": None}


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray ./responsemaster.toml
    for name in ("RESPONSEMASTER_VERP_SECRET", "RESPONSEMASTER_VERP_KEY_ID", "RESPONSEMASTER_VERP_KEY_K1"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def _encode(runner, *args, env=ENV):
    result = runner.invoke(verp, ["encode", "--campaign", "42", "--subscriber", "123456", *args], env=env)
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.output.splitlines())
    return lines["return-path"], lines["token"]


def test_encode_prints_address_and_token_and_decode_round_trips(runner):
    address, token = _encode(runner)
    assert address == f"bounces+{token}@bounces.localhost"
    result = runner.invoke(verp, ["decode", address.upper()], env=ENV)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "campaign": "42",
        "subscriber": "123456",
        "campaign_name": None,  # no database here: nothing to name them with
        "address": None,
        "key_id": "k1",
        "version": 1,
        "token": token,
    }
    bare = runner.invoke(verp, ["decode", token], env=ENV)
    assert json.loads(bare.output)["subscriber"] == "123456"


def test_secret_option_and_prefix_domain_options(runner):
    args = ["--key-id", "k7", "--secret", SECRET, "--prefix", "rp", "--domain", "b.example.org"]
    address, token = _encode(runner, *args, env={})
    assert address == f"rp+{token}@b.example.org"
    result = runner.invoke(verp, ["decode", address, "--key-id", "k7", "--secret", SECRET, "--prefix", "rp"])
    assert result.exit_code == 0 and json.loads(result.output)["key_id"] == "k7"


def test_decode_rejects_altered_and_foreign_tokens_with_non_zero_exit(runner):
    address, token = _encode(runner)
    altered = address.replace(token, token[:-3] + ("b" if token[-3] != "b" else "c") + token[-2:])
    result = runner.invoke(verp, ["decode", altered], env=ENV)
    assert result.exit_code == 1
    assert "token does not verify" in result.output and "forged" in result.output
    other = runner.invoke(verp, ["decode", address], env={"RESPONSEMASTER_VERP_SECRET": "another secret of 16+ bytes"})
    assert other.exit_code == 1 and "does not verify" in other.output
    junk = runner.invoke(verp, ["decode", "nobody@example.com"], env=ENV)
    assert junk.exit_code == 1 and "no return-path token" in junk.output


def test_clear_errors_without_keys_or_with_ids_too_long(runner):
    result = runner.invoke(verp, ["encode", "--campaign", "c", "--subscriber", "s"], env={})
    assert result.exit_code == 1 and "no VERP key configured" in result.output
    weak = runner.invoke(verp, ["encode", "--campaign", "c", "--subscriber", "s", "--secret", "short"])
    assert weak.exit_code == 1 and "at least 16" in weak.output
    long_ids = runner.invoke(verp, ["encode", "--campaign", "x" * 30, "--subscriber", "y" * 30], env=ENV)
    assert long_ids.exit_code == 1 and "max 64" in long_ids.output


def test_keys_from_the_config_file_with_environment_override(runner, tmp_path):
    config = tmp_path / "rm.toml"
    config.write_text(
        '[verp]\nprefix = "returns"\nbounce_domain = "r.example.net"\ncurrent_key = "k2"\n'
        'retired_keys = ["k0"]\n[verp.keys]\nk1 = "old key of the config file"\nk2 = ""\n',
        encoding="utf-8",
    )
    env = {"RESPONSEMASTER_VERP_KEY_K2": "new key from the environment"}
    address, token = _encode(runner, "--config", str(config), env=env)
    assert address == f"returns+{token}@r.example.net"
    result = runner.invoke(verp, ["decode", address, "--config", str(config)], env=env)
    assert result.exit_code == 0 and json.loads(result.output)["key_id"] == "k2"
    missing = runner.invoke(verp, ["decode", address, "--config", str(config)], env={})
    assert missing.exit_code == 1 and "RESPONSEMASTER_VERP_KEY_K2" in missing.output


def test_keyring_from_env():
    assert keyring_from_env({}) is None
    keyring = keyring_from_env({"RESPONSEMASTER_VERP_SECRET": SECRET, "RESPONSEMASTER_VERP_KEY_ID": "k3"})
    assert keyring.current == "k3" and keyring.keys["k3"] == SECRET.encode()


def test_help_is_available(runner):
    for args in (["--help"], ["encode", "--help"], ["decode", "--help"]):
        result = runner.invoke(verp, args)
        assert result.exit_code == 0 and "Usage" in result.output
