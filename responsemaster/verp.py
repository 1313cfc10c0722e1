"""Return-path tokens: tie every returned message to a campaign and a subscriber.

A bounce goes to the envelope sender, a human reply quotes the Message-ID, and
an unsubscribe click hits a URL. If all three carry the same signed token, a
return can be attributed without guessing, and nobody can unsubscribe or prune
someone else by inventing an address. The wire format is specified in
``docs/return-path-spec.md`` (with test vectors); this module implements it.

Token layout (version ``1``)::

    token = "1" + base32_lower_nopad(field(key_id) field(campaign) field(subscriber) mac)
    field = header byte (type << 6 | length) + value bytes
    mac   = HMAC-SHA256(secret, b"1" + the three fields)[:8]

Only ``[0-9a-z]`` appears in a token, so upper- or lower-casing it changes
nothing once it is lower-cased again, and no MTA delimiter (``+ - = .``) can
split it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from types import MappingProxyType
from urllib.parse import quote, urlsplit

from responsemaster.config import is_loopback_host

VERSION = "1"
MAC_BYTES = 8  # 64-bit tag: see the forgery argument in the spec
MAX_LOCAL_PART = 64  # RFC 5321 section 4.5.3.1.1
DEFAULT_PREFIX = "bounces"
MIN_SECRET_BYTES = 16
ENV_KEY_PREFIX = "RESPONSEMASTER_VERP_KEY_"

# Field value types, stored in the two high bits of a field header byte.
TYPE_UTF8, TYPE_UINT, TYPE_HEX, TYPE_UUID = 0, 1, 2, 3
MAX_FIELD_BYTES = 63  # the six low bits of the header

_KEY_ID = re.compile(r"[a-z0-9]{1,8}")
_UINT = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_HEX = re.compile(r"(?:[0-9a-f]{2})+", re.ASCII)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)
_B32 = re.compile(r"[a-z2-7]+", re.ASCII)
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
# Smallest possible token: three one-byte values, three headers, the tag.
MIN_TOKEN_LENGTH = 1 + -(-(3 * 2 + MAC_BYTES) * 8 // 5)
MAX_TOKEN_LENGTH = MAX_LOCAL_PART - 2  # at least a one-octet prefix and "+"
_TOKEN_SHAPE = re.compile(
    rf"{VERSION}[a-z2-7]{{{MIN_TOKEN_LENGTH - 1},{MAX_TOKEN_LENGTH - 1}}}", re.ASCII
)


class InvalidToken(ValueError):
    """A token that must not be trusted: malformed, altered, forged or under a retired key.

    A ValueError so that callers validating input in bulk can catch one type;
    a separate class so that attribution code can tell "no token" from
    "a token that lies" and flag the latter.
    """


@dataclass(frozen=True)
class TokenData:
    """What a verified token says. Only ever built from a token that verified."""

    campaign: str
    subscriber: str
    key_id: str
    version: int
    token: str


@dataclass(frozen=True)
class Keyring:
    """The signing and verifying keys, by key id.

    ``current`` signs new tokens; every other non-retired key still verifies,
    so tokens already in mailboxes keep working through a rotation. A retired
    id never verifies, even if its secret is still listed, which is how an
    operator ends trust in a leaked or old key.
    """

    keys: Mapping[str, bytes] = field(repr=False, hash=False)
    current: str
    retired: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        keys = {}
        for key_id, secret in self.keys.items():
            _check_key_id(key_id)
            if isinstance(secret, str):
                secret = secret.encode("utf-8")
            if len(secret) < MIN_SECRET_BYTES:
                raise ValueError(
                    f"VERP key {key_id!r} is {len(secret)} bytes; use at least "
                    f"{MIN_SECRET_BYTES} random bytes (e.g. secrets.token_urlsafe(32))"
                )
            keys[key_id] = bytes(secret)
        retired = frozenset(self.retired)
        list(map(_check_key_id, retired))
        if self.current not in keys:
            raise ValueError(f"current VERP key {self.current!r} has no secret")
        if self.current in retired:
            raise ValueError(f"current VERP key {self.current!r} is also listed as retired")
        # Read-only view: a keyring is shared by threads and must not change under them.
        object.__setattr__(self, "keys", MappingProxyType(keys))
        object.__setattr__(self, "retired", retired)

    def __repr__(self) -> str:  # never print secrets into logs
        ids, retired = sorted(self.keys), sorted(self.retired)
        return f"Keyring(key_ids={ids!r}, current={self.current!r}, retired={retired!r})"

    @classmethod
    def from_settings(
        cls, keys: Mapping[str, str], current: str, retired: Iterable[str] = (),
        environ: Mapping[str, str] | None = None,
    ) -> Keyring:
        """Build from configuration, letting ``RESPONSEMASTER_VERP_KEY_<ID>`` override secrets.

        Secrets belong in the environment, not in a TOML file under version
        control; a config may therefore list a key id with an empty secret and
        let the environment provide it. Retired ids need no secret.
        """
        env = os.environ if environ is None else environ
        retired = frozenset(retired)
        resolved: dict[str, bytes] = {}
        for key_id in sorted(set(keys) | {current}):
            if key_id in retired:
                continue
            secret = env.get(env_var_for(key_id)) or keys.get(key_id, "")
            if not secret:
                where = f"in the config or in the environment variable {env_var_for(key_id)}"
                raise ValueError(f"VERP key {key_id!r} has no secret: set it {where}")
            resolved[key_id] = secret.encode("utf-8")
        return cls(keys=resolved, current=current, retired=retired)

    def verifying_secret(self, key_id: str) -> bytes:
        """The secret for ``key_id``, or InvalidToken if it is unknown or retired."""
        if key_id in self.retired:
            raise InvalidToken(f"token is under retired key id {key_id!r}; it is no longer trusted")
        try:
            return self.keys[key_id]
        except KeyError:
            raise InvalidToken(f"token names unknown key id {key_id!r}") from None


def env_var_for(key_id: str) -> str:
    """The environment variable holding the secret of ``key_id``: ``k1`` -> ``..._K1``."""
    return ENV_KEY_PREFIX + key_id.upper()


def _check_key_id(key_id: str) -> None:
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise ValueError(f"VERP key id {key_id!r} must be 1-8 lowercase letters or digits")


# --- field codec


def encode_field(value: str) -> bytes:
    """One id as header byte + value bytes, using the shortest type that round-trips.

    Numeric database ids shrink to their binary size and UUIDs to 16 bytes,
    which is what lets realistic ids fit in 64 octets. A type is only chosen
    when decoding gives back exactly the same string, so ``"007"`` or an
    upper-case UUID fall back to UTF-8 and still round-trip.
    """
    if not isinstance(value, str) or not value:
        raise ValueError("campaign and subscriber ids must be non-empty strings")
    candidates = []
    if _UINT.fullmatch(value):
        number = int(value)
        candidates.append((TYPE_UINT, number.to_bytes(max(1, -(-number.bit_length() // 8)), "big")))
    if _UUID.fullmatch(value):
        candidates.append((TYPE_UUID, uuid.UUID(value).bytes))
    if _HEX.fullmatch(value):
        candidates.append((TYPE_HEX, bytes.fromhex(value)))
    try:  # a lone surrogate cannot be sent anywhere, so refuse it here
        candidates.append((TYPE_UTF8, value.encode("utf-8")))
    except UnicodeEncodeError:
        raise ValueError(f"id {value!r} is not encodable as UTF-8") from None
    kind, raw = min(candidates, key=lambda c: len(c[1]))  # min keeps the first of equals
    if len(raw) > MAX_FIELD_BYTES:
        raise ValueError(f"id {value[:20]!r}... encodes to {len(raw)} bytes; max {MAX_FIELD_BYTES}")
    return bytes([kind << 6 | len(raw)]) + raw


def decode_field(data: bytes, offset: int) -> tuple[str, int]:
    """Read one field at ``offset``; return the string and the next offset.

    Strict about canonical forms so that one id has one meaning; raises
    InvalidToken on anything a correct encoder would not produce.
    """
    if offset >= len(data):
        raise InvalidToken("token is truncated")
    kind, length = data[offset] >> 6, data[offset] & 0x3F
    raw = data[offset + 1 : offset + 1 + length]
    if length == 0 or len(raw) != length:
        raise InvalidToken("token has a malformed field")
    if kind == TYPE_UINT:
        if length > 1 and raw[0] == 0:
            raise InvalidToken("token has a non-canonical number")
        value = str(int.from_bytes(raw, "big"))
    elif kind == TYPE_UUID:
        if length != 16:
            raise InvalidToken("token has a malformed UUID field")
        value = str(uuid.UUID(bytes=raw))
    elif kind == TYPE_HEX:
        value = raw.hex()
    else:
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidToken("token has a field that is not UTF-8") from None
    return value, offset + 1 + length


# --- tokens


def _mac(secret: bytes, signed: bytes) -> bytes:
    return hmac.new(secret, signed, hashlib.sha256).digest()[:MAC_BYTES]


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def encode_token(campaign: str, subscriber: str, keyring: Keyring, *, prefix: str = DEFAULT_PREFIX) -> str:
    """Sign ``campaign`` and ``subscriber`` with the current key.

    ``prefix`` is only used to check the 64-octet local-part budget now, at
    send time, rather than let an MTA reject or truncate the envelope sender.
    """
    fields = encode_field(keyring.current) + encode_field(campaign) + encode_field(subscriber)
    tag = _mac(keyring.keys[keyring.current], VERSION.encode("ascii") + fields)
    token = VERSION + _b32(fields + tag)
    local_length = len(prefix.encode("utf-8")) + 1 + len(token)
    if local_length > MAX_LOCAL_PART:
        raise ValueError(
            f"return-path local part would be {local_length} octets (max {MAX_LOCAL_PART}): "
            f"campaign {campaign!r} and subscriber {subscriber!r} are too long for prefix "
            f"{prefix!r}; see the id length limits in docs/return-path-spec.md"
        )
    return token


def decode_token(token: str, keyring: Keyring) -> TokenData:
    """Verify ``token`` and return its fields, or raise InvalidToken saying why."""
    text = token.strip().lower()
    if not MIN_TOKEN_LENGTH <= len(text) <= MAX_TOKEN_LENGTH:
        raise InvalidToken(f"token length {len(text)} is outside {MIN_TOKEN_LENGTH}-{MAX_TOKEN_LENGTH}")
    if text[0] != VERSION:
        raise InvalidToken(f"unknown token version {text[0]!r}")
    body = text[1:]
    if not _B32.fullmatch(body):
        raise InvalidToken("token contains characters outside the base32 alphabet")
    try:
        data = base64.b32decode(body.upper() + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError):
        raise InvalidToken("token is not valid base32") from None
    if _b32(data) != body:  # spare bits in the last character must be zero
        raise InvalidToken("token is not canonically encoded")
    key_id, offset = decode_field(data, 0)
    campaign, offset = decode_field(data, offset)
    subscriber, offset = decode_field(data, offset)
    if len(data) - offset != MAC_BYTES:
        raise InvalidToken("token has a malformed authentication tag")
    secret = keyring.verifying_secret(key_id)
    expected = _mac(secret, VERSION.encode("ascii") + data[:offset])
    if not hmac.compare_digest(expected, data[offset:]):
        raise InvalidToken("token authentication failed: altered or forged")
    return TokenData(campaign, subscriber, key_id, int(VERSION), text)


# --- envelope sender


def return_path(prefix: str, token: str, bounce_domain: str) -> str:
    """The envelope sender ``<prefix>+<token>@<bounce-domain>``."""
    if not prefix or "@" in prefix or "+" in prefix:
        raise ValueError(f"return-path prefix {prefix!r} must be non-empty, without '@' or '+'")
    local = f"{prefix}+{token}"
    if len(local.encode("utf-8")) > MAX_LOCAL_PART:
        raise ValueError(f"local part {local!r} exceeds {MAX_LOCAL_PART} octets")
    return f"{local}@{bounce_domain}"


def _local_part(address: str) -> str:
    """The lower-cased local part of ``address``, which may be ``Name <addr>`` or bare."""
    parsed = parseaddr(address)[1] or address.strip().strip("<>")
    local, at, _domain = parsed.rpartition("@")
    return (local if at else parsed).strip('"').lower()


def parse_return_path(address: str, keyring: Keyring, prefix: str | None = None) -> TokenData:
    """Find and verify the token in an address's local part.

    With ``prefix`` the local part must be ``<prefix>+<token>``. Without it,
    every alphanumeric run that looks like a token is tried, so the token is
    still found after an MTA rewrote the delimiter or wrapped the address in
    SRS (``SRS0=hash=tt=domain=bounces+1...``). Case is ignored throughout.
    """
    local = _local_part(address)
    if prefix is not None:
        head, plus, token = local.partition("+")
        if not plus or head != prefix.lower():
            raise InvalidToken(f"address {address!r} is not of the form {prefix}+<token>@...")
        return decode_token(token, keyring)
    candidates = [c for c in re.findall(r"[0-9a-z]+", local) if _TOKEN_SHAPE.fullmatch(c)]
    if not candidates:
        raise InvalidToken(f"no return-path token in {address!r}")
    first_error: InvalidToken | None = None
    for candidate in reversed(candidates):  # the token follows the prefix
        try:
            return decode_token(candidate, keyring)
        except InvalidToken as error:
            first_error = first_error or error
    assert first_error is not None
    raise first_error


# --- Message-ID


def message_id(token: str, domain: str, nonce: str | None = None) -> str:
    """``<token.nonce@domain>``: attributable through a reply's In-Reply-To/References.

    The nonce keeps Message-IDs unique when the same subscriber gets the same
    campaign twice (a resend, a retry after a dropped connection). It must be
    dot-atom text; the default is random.
    """
    nonce = secrets.token_hex(6) if nonce is None else nonce
    if not _DOT_ATOM.fullmatch(nonce):
        raise ValueError(f"Message-ID nonce {nonce!r} is not dot-atom text")
    return f"<{token}.{nonce}@{domain}>"


def token_from_message_id(value: str) -> str | None:
    """The (unverified, lower-cased) token at the start of a Message-ID, or None.

    Only the first dot-separated element is looked at, so a nonce that happens
    to look like a token is never mistaken for one and flagged as forged.
    """
    match = re.search(r"<?\s*([^<>@\s]+)@[^<>\s]*>?", value)
    if not match:
        return None
    first = match.group(1).split(".", 1)[0].lower()
    return first if _TOKEN_SHAPE.fullmatch(first) else None


def tokens_in_references(header_value: str) -> list[str]:
    """Tokens in an In-Reply-To or References value, in header order, without repeats.

    The nearest parent is last in References; callers attributing a reply
    should try the list from the end. Tokens are unverified: pass each to
    ``decode_token``.
    """
    found: list[str] = []
    for msg_id in re.findall(r"<[^<>]*>", header_value or ""):
        token = token_from_message_id(msg_id)
        if token and token not in found:
            found.append(token)
    return found


# --- List-Unsubscribe (RFC 2369, RFC 8058)


def one_click_url_warning(url: str) -> str:
    """Check a one-click unsubscribe URL: ``""`` when it is https, a warning for a loopback http URL.

    RFC 8058 wants https, and a subscriber's mail client must be able to reach
    the URL. ``http://`` on a loopback host (``127.0.0.0/8``, ``::1``,
    ``localhost``) is the product's own local endpoint: accepted for a trial,
    with a warning, since no real recipient can click it. Anything else
    raises ValueError.
    """
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme == "https" and host:
        return ""
    if scheme == "http" and is_loopback_host(host):
        return f"{url} is plain http on a loopback host: fine for a trial, but no subscriber can reach it"
    raise ValueError(f"one-click unsubscribe needs an https:// URL (http:// only on a loopback host), got {url!r}")


def list_unsubscribe_headers(token: str, mailto_address: str, https_base: str) -> dict[str, str]:
    """``List-Unsubscribe`` with tokened mailto and https URIs, plus RFC 8058 one-click.

    The token goes into the mailto local part (``unsubscribe+<token>@...``) and
    into the https URL (replacing ``{token}``, else appended as a path
    segment). Both headers must be covered by the DKIM signature for RFC 8058.
    """
    one_click_url_warning(https_base)
    local, at, domain = mailto_address.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"unsubscribe mailbox {mailto_address!r} is not an address")
    tokened_local = f"{local}+{token}"
    if len(tokened_local.encode("utf-8")) > MAX_LOCAL_PART:
        raise ValueError(f"unsubscribe local part {tokened_local!r} exceeds {MAX_LOCAL_PART} octets")
    if "{token}" in https_base:
        url = https_base.replace("{token}", quote(token, safe=""))
    else:
        url = https_base.rstrip("/") + "/" + quote(token, safe="")
    return {
        "List-Unsubscribe": f"<mailto:{tokened_local}@{domain}?subject=unsubscribe>, <{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
