"""DKIM key generation and the DNS records a sending domain must publish.

``mailer dkim-keygen`` writes the private key (mode 0600) and prints three
records: the DKIM public key at ``<selector>._domainkey.<domain>``, an SPF
record naming the relays allowed to send, and a DMARC policy that starts at
``p=none`` with aggregate reports, so an operator can watch before enforcing.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class DnsRecord:
    name: str
    type: str
    value: str

    def zone_line(self) -> str:
        """A BIND zone-file line; TXT values longer than 255 octets split into quoted strings."""
        chunks = [self.value[i : i + 255] for i in range(0, len(self.value), 255)] or [""]
        quoted = " ".join(f'"{c}"' for c in chunks)
        return f"{self.name}. 3600 IN {self.type} ( {quoted} )" if len(chunks) > 1 else f"{self.name}. 3600 IN {self.type} {quoted}"


def generate_rsa_key(bits: int = 2048) -> tuple[bytes, bytes]:
    """(private key PEM in PKCS#1, public key DER SubjectPublicKeyInfo)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def write_private_key(path: Path, pem: bytes, overwrite: bool = False) -> None:
    """Write the key readable by its owner only; refuse to overwrite a key already in use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def dkim_record(domain: str, selector: str, public_der: bytes) -> DnsRecord:
    value = "v=DKIM1; k=rsa; p=" + base64.b64encode(public_der).decode("ascii")
    return DnsRecord(f"{selector}._domainkey.{domain}", "TXT", value)


def spf_record(domain: str, relay_hosts: list[str]) -> DnsRecord:
    """``v=spf1 ... -all``: relays given as IPs become ip4/ip6, names become ``a:``."""
    mechanisms = []
    for host in relay_hosts:
        if host in ("127.0.0.1", "localhost", "::1"):
            continue
        if ":" in host:
            mechanisms.append(f"ip6:{host}")
        elif host.replace(".", "").isdigit():
            mechanisms.append(f"ip4:{host}")
        else:
            mechanisms.append(f"a:{host}")
    return DnsRecord(domain, "TXT", " ".join(["v=spf1", "mx", *mechanisms, "~all"]))


def dmarc_record(domain: str, report_address: str | None = None) -> DnsRecord:
    rua = report_address or f"dmarc-reports@{domain}"
    return DnsRecord(f"_dmarc.{domain}", "TXT", f"v=DMARC1; p=none; rua=mailto:{rua}; adkim=r; aspf=r; pct=100")


def dns_records(domain: str, selector: str, public_der: bytes, relay_hosts: list[str]) -> list[DnsRecord]:
    return [spf_record(domain, relay_hosts), dkim_record(domain, selector, public_der), dmarc_record(domain)]


def public_der_from_private(pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(pem, password=None)
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
