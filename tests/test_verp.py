"""Properties of the return-path token library, and the spec's test vectors.

The vectors in docs/return-path-spec.md are parsed and re-checked here, so the
published page cannot drift from the code.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from responsemaster.verp import (
    MAX_LOCAL_PART,
    InvalidToken,
    Keyring,
    decode_field,
    decode_token,
    encode_field,
    encode_token,
    list_unsubscribe_headers,
    message_id,
    parse_return_path,
    return_path,
    token_from_message_id,
    tokens_in_references,
)

SPEC = Path(__file__).resolve().parents[1] / "docs" / "return-path-spec.md"
SECRET_1 = b"unit-test secret number one"
SECRET_2 = b"unit-test secret number two"
KEYRING = Keyring({"k1": SECRET_1}, current="k1")
DOMAIN = "bounces.example.com"
# Documented budget: with prefix "bounces" and a two-character key id, the
# encoded campaign and subscriber values together take at most 21 bytes.
VALUE_BUDGET = 21

ids = st.one_of(
    st.integers(min_value=0, max_value=2**64).map(str),
    st.uuids().map(str),
    st.binary(min_size=1, max_size=10).map(bytes.hex),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12),
)


def value_bytes(value: str) -> int:
    return len(encode_field(value)) - 1  # without the header byte


def fits(campaign: str, subscriber: str) -> bool:
    return value_bytes(campaign) + value_bytes(subscriber) <= VALUE_BUDGET


# --- round trip and the 64-octet budget ---------------------------------------------


@given(campaign=ids, subscriber=ids)
def test_round_trip_within_documented_limits_and_clear_error_beyond(campaign, subscriber):
    if not fits(campaign, subscriber):
        with pytest.raises(ValueError, match="64"):
            encode_token(campaign, subscriber, KEYRING)
        return
    token = encode_token(campaign, subscriber, KEYRING)
    address = return_path("bounces", token, DOMAIN)
    assert len(address.split("@")[0].encode()) <= MAX_LOCAL_PART
    data = parse_return_path(address, KEYRING, prefix="bounces")
    assert (data.campaign, data.subscriber, data.key_id, data.version) == (campaign, subscriber, "k1", 1)
    assert decode_token(token, KEYRING) == data


@given(
    campaign=st.integers(min_value=0, max_value=2**64 - 1).map(str),
    subscriber=st.integers(min_value=0, max_value=2**64 - 1).map(str),
)
def test_any_pair_of_64_bit_database_ids_fits(campaign, subscriber):
    token = encode_token(campaign, subscriber, KEYRING)
    assert len(f"bounces+{token}".encode()) <= MAX_LOCAL_PART


@given(campaign=st.integers(min_value=0, max_value=2**40 - 1).map(str), subscriber=st.uuids().map(str))
def test_uuid_subscriber_with_40_bit_campaign_fits(campaign, subscriber):
    decode_token(encode_token(campaign, subscriber, KEYRING), KEYRING)


def test_too_long_ids_raise_a_clear_value_error():
    with pytest.raises(ValueError, match=r"117 octets \(max 64\).*too long"):
        encode_token("a-campaign-name-that-is-long", "another-long-subscriber-id", KEYRING)
    with pytest.raises(ValueError, match="too long"):
        encode_token("42", "123", KEYRING, prefix="p" * 40)
    with pytest.raises(ValueError, match="non-empty"):
        encode_token("", "1", KEYRING)


@pytest.mark.parametrize(
    "value", ["0", "007", "ABCD", "abcd", "abc", "12 ", "٣", "3FA85F64-5717-4562-B3FC-2C963F66AFA6"]
)
def test_ids_that_look_typed_but_are_not_canonical_still_round_trip(value):
    assert decode_field(encode_field(value), 0) == (value, len(encode_field(value)))
    if fits(value, "1"):
        assert decode_token(encode_token(value, "1", KEYRING), KEYRING).campaign == value


def test_field_types_are_the_shortest_that_round_trip():
    assert encode_field("123456") == bytes.fromhex("4301e240")  # uint
    assert encode_field("00ff") == bytes.fromhex("8200ff")  # hex keeps the leading zero byte
    assert encode_field("3fa85f64-5717-4562-b3fc-2c963f66afa6")[0] == 0xD0  # uuid, 16 bytes
    assert encode_field("k1") == b"\x02k1"  # utf8


# --- case folding ----------------------------------------------------------------------


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(campaign=ids, subscriber=ids, flips=st.lists(st.booleans(), min_size=80, max_size=80))
def test_any_case_folding_of_the_address_still_verifies(campaign, subscriber, flips):
    assume(fits(campaign, subscriber))
    address = return_path("bounces", encode_token(campaign, subscriber, KEYRING), DOMAIN)
    mixed = "".join(c.upper() if flip else c for c, flip in zip(address, flips)) + address[80:]
    for variant in (address.upper(), address.lower(), mixed, f"Bounce Handler <{address.upper()}>"):
        data = parse_return_path(variant, KEYRING)
        assert (data.campaign, data.subscriber) == (campaign, subscriber)
        assert parse_return_path(variant, KEYRING, prefix="BOUNCES").subscriber == subscriber


def test_token_is_found_through_srs_and_other_delimiters():
    token = encode_token("42", "123456", KEYRING)
    for address in (
        f"SRS0=HHH=TT=example.com=bounces+{token}@forwarder.example".upper(),
        f"bounces-{token}@{DOMAIN}",
        f"<bounces+{token}@{DOMAIN}>",
    ):
        assert parse_return_path(address, KEYRING).campaign == "42"


def test_address_without_token_is_rejected():
    with pytest.raises(InvalidToken, match="no return-path token"):
        parse_return_path("bounces@bounces.example.com", KEYRING)
    token = encode_token("42", "1", KEYRING)
    with pytest.raises(InvalidToken, match="not of the form"):
        parse_return_path(f"returns+{token}@x", KEYRING, prefix="bounces")


# --- tampering and forgery ------------------------------------------------------------------

SUBSTITUTES = string.ascii_lowercase + string.digits + "-+=._!~"


@pytest.mark.parametrize(
    "ids_pair", [("42", "123456"), ("nl-2025", "5f3e9a1c2b4d"), ("7", "3fa85f64-5717-4562-b3fc-2c963f66afa6")]
)
def test_every_single_character_change_is_rejected(ids_pair):
    token = encode_token(*ids_pair, KEYRING)
    checked = 0
    for position, original in enumerate(token):
        for replacement in SUBSTITUTES:
            if replacement == original:
                continue
            altered = token[:position] + replacement + token[position + 1 :]
            with pytest.raises(InvalidToken):
                decode_token(altered, KEYRING)
            checked += 1
    assert checked == len(token) * (len(SUBSTITUTES) - 1)


@given(campaign=ids, subscriber=ids, data=st.data())
def test_random_character_changes_deletions_and_insertions_are_rejected(campaign, subscriber, data):
    assume(fits(campaign, subscriber))
    token = encode_token(campaign, subscriber, KEYRING)
    position = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(st.sampled_from(SUBSTITUTES).filter(lambda c: c != token[position]))
    for altered in (
        token[:position] + replacement + token[position + 1 :],
        token[:position] + token[position + 1 :],
        token[:position] + replacement + token[position:],
    ):
        with pytest.raises(InvalidToken):
            decode_token(altered, KEYRING)


def test_token_from_another_secret_with_the_same_key_id_is_forged():
    impostor = Keyring({"k1": b"an attacker's guess at the key"}, current="k1")
    forged = encode_token("42", "123456", impostor)
    with pytest.raises(InvalidToken, match="altered or forged"):
        decode_token(forged, KEYRING)


def test_unknown_key_id_is_rejected():
    other = Keyring({"k9": SECRET_1}, current="k9")
    with pytest.raises(InvalidToken, match="unknown key id 'k9'"):
        decode_token(encode_token("42", "1", other), KEYRING)


@pytest.mark.parametrize("junk", ["", "1", "2ajvtcqjkima6eqgpetok2mtap7fa", "1" + "a" * 70, "1ajvtc!!", "hello world"])
def test_junk_is_rejected_with_invalid_token(junk):
    with pytest.raises(InvalidToken):
        decode_token(junk, KEYRING)


# --- key rotation -----------------------------------------------------------------------------


def test_old_key_verifies_until_retired():
    old_token = encode_token("42", "123456", Keyring({"k1": SECRET_1}, current="k1"))
    rotated = Keyring({"k1": SECRET_1, "k2": SECRET_2}, current="k2")
    assert decode_token(old_token, rotated).key_id == "k1"
    new_token = encode_token("42", "123456", rotated)
    assert decode_token(new_token, rotated).key_id == "k2"
    retired = Keyring({"k1": SECRET_1, "k2": SECRET_2}, current="k2", retired=["k1"])
    with pytest.raises(InvalidToken, match="retired"):
        decode_token(old_token, retired)
    assert decode_token(new_token, retired).subscriber == "123456"


def test_keyring_validation_and_secret_hygiene():
    with pytest.raises(ValueError, match="at least 16"):
        Keyring({"k1": b"short"}, current="k1")
    with pytest.raises(ValueError, match="no secret"):
        Keyring({"k1": SECRET_1}, current="k2")
    with pytest.raises(ValueError, match="also listed as retired"):
        Keyring({"k1": SECRET_1}, current="k1", retired=["k1"])
    with pytest.raises(ValueError, match="lowercase letters or digits"):
        Keyring({"Key-1": SECRET_1}, current="Key-1")
    assert "unit-test" not in repr(KEYRING) and "k1" in repr(KEYRING)


def test_from_settings_lets_the_environment_override_secrets():
    env = {"RESPONSEMASTER_VERP_KEY_K2": SECRET_2.decode()}
    keyring = Keyring.from_settings(
        {"k1": SECRET_1.decode(), "k2": "config value, overridden", "k0": ""},
        current="k2",
        retired=["k0"],
        environ=env,
    )
    assert keyring.keys["k2"] == SECRET_2 and keyring.keys["k1"] == SECRET_1
    assert keyring.retired == {"k0"}
    with pytest.raises(ValueError, match="RESPONSEMASTER_VERP_KEY_K3"):
        Keyring.from_settings({"k3": ""}, current="k3", environ={})


# --- Message-ID, References, List-Unsubscribe ----------------------------------------------------


def test_message_id_carries_the_token_and_replies_are_attributed():
    token = encode_token("42", "123456", KEYRING)
    mid = message_id(token, "news.example.com", nonce="1aaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    assert mid == f"<{token}.1aaaaaaaaaaaaaaaaaaaaaaaaaaaaa@news.example.com>"
    assert token_from_message_id(mid.upper()) == token
    assert message_id(token, "x.example") != message_id(token, "x.example")  # random nonce
    references = f"<CAF=abc@mail.gmail.com>\r\n <{token.upper()}.z9@news.example.com> <other@x> {mid}"
    assert tokens_in_references(references) == [token]
    assert decode_token(tokens_in_references(references)[-1], KEYRING).subscriber == "123456"
    assert tokens_in_references("") == [] and token_from_message_id("<abc@def>") is None
    with pytest.raises(ValueError, match="dot-atom"):
        message_id(token, "x.example", nonce="has space")


def test_list_unsubscribe_headers_follow_rfc_8058():
    token = encode_token("42", "123456", KEYRING)
    headers = list_unsubscribe_headers(token, "unsubscribe@news.example.com", "https://news.example.com/u/")
    assert headers == {
        "List-Unsubscribe": f"<mailto:unsubscribe+{token}@news.example.com?subject=unsubscribe>, "
        f"<https://news.example.com/u/{token}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    templated = list_unsubscribe_headers(token, "u@x.example", "https://x.example/unsub?t={token}&v=1")
    assert f"<https://x.example/unsub?t={token}&v=1>" in templated["List-Unsubscribe"]
    mailto = re.search(r"<mailto:([^?]+)\?", headers["List-Unsubscribe"]).group(1)
    assert parse_return_path(mailto, KEYRING).campaign == "42"
    with pytest.raises(ValueError, match="https"):
        list_unsubscribe_headers(token, "u@x.example", "http://x.example/u")
    with pytest.raises(ValueError, match="64 octets"):
        list_unsubscribe_headers(token, "u" * 40 + "@x.example", "https://x.example/u")


# --- the published test vectors --------------------------------------------------------------------


def _block(name: str) -> str:
    text = SPEC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {name}:begin -->(.*?)<!-- {name}:end -->", text, re.S)
    assert match, f"marker {name} missing from {SPEC.name}"
    return match.group(1)


def _table(name: str) -> list[list[str]]:
    rows = []
    for line in _block(name).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.strip().startswith("|") and cells[0].startswith("`"):
            rows.append([c[1:-1] if c.startswith("`") and c.endswith("`") else c for c in cells])
    assert rows, f"no rows in {name}"
    return rows


def _spec_keyring() -> tuple[Keyring, dict[str, bytes]]:
    secrets = {}
    current, retired = None, []
    for key_id, secret, status in _table("vector-keys"):
        secrets[key_id] = secret.encode("utf-8")
        current = key_id if status == "current" else current
        retired += [key_id] if status == "retired" else []
    return Keyring(secrets, current=current, retired=retired), secrets


def test_spec_vectors_encode_and_verify():
    keyring, secrets = _spec_keyring()
    rows = _table("vectors")
    assert len(rows) >= 5
    for key_id, campaign, subscriber, token, address in rows:
        signer = Keyring({key_id: secrets[key_id]}, current=key_id)
        assert encode_token(campaign, subscriber, signer) == token, (campaign, subscriber)
        assert return_path("bounces", token, DOMAIN) == address
        if key_id in keyring.retired:
            with pytest.raises(InvalidToken, match="retired"):
                parse_return_path(address, keyring)
        else:
            data = parse_return_path(address.upper(), keyring, prefix="bounces")
            assert (data.key_id, data.campaign, data.subscriber) == (key_id, campaign, subscriber)


def test_spec_rejection_vectors_are_rejected():
    keyring, _ = _spec_keyring()
    for token, _why in _table("rejections"):
        with pytest.raises(InvalidToken):
            decode_token(token, keyring)


def test_spec_worked_example_matches_the_code():
    keyring, secrets = _spec_keyring()
    values = dict(re.findall(r"^(\S[^:\n]*?):\s+(\S+)\s*$", _block("worked-example"), re.M))
    fields = b"".join(encode_field(values[name]) for name in ("key id", "campaign", "subscriber"))
    assert fields.hex() == values["fields (hex)"]
    assert (b"1" + fields).hex() == values["HMAC input (hex)"]
    full = hmac.new(secrets[values["key id"]], b"1" + fields, hashlib.sha256).hexdigest()
    assert full == values["HMAC-SHA256 (hex)"]
    assert full[:16] == values["tag, first 8 bytes (hex)"]
    assert (fields.hex() + full[:16]) == values["payload (hex)"]
    signer = Keyring({values["key id"]: secrets[values["key id"]]}, current=values["key id"])
    assert encode_token(values["campaign"], values["subscriber"], signer) == values["token"]
