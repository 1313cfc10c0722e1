"""What the lab sends: messages, their recipients, and which catalogue entry answers each.

The plan is where causes become known by construction. Every recipient
address is unique in a run; the receiver looks its entry up by address
(or, for a MAIL-stage refusal, by the message's envelope sender; for a
connect-stage one, by the host its domain routes to). Per MTA:

- every permanent RCPT/DATA/MAIL entry once per ``repeat``, alone;
- every temporary (4xx) entry once: a delay warning, then an expiry;
- every connect-stage entry once, on a host of its own;
- the network behaviours (refused, silent, no such host) a few times;
- mixed messages: 2-4 recipients on different domains, each with its own
  outcome (at most one DATA-stage refusal, sometimes an accepted one);
- forwarded recipients (MTAs that can forward), reported by final address;
- a few NOTIFY=SUCCESS messages to accepting hosts ("relayed" DSNs).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from . import receiver
from .catalogue import Catalogue, Entry
from .mtas import BOUNCE_DOMAIN, COLLECTOR_HOST, DOVECOT_HOST

GENERIC_DOMAINS = (
    "example.com", "example.net", "example.org", "mail.example.com", "example.co.uk", "example.de",
    "example.fr", "example.jp", "example.com.br", "example.it", "example.es", "example.nl",
    "example.edu", "example.ca", "example.com.au", "example.pl", "example.se", "example.ch",
    "corp.example.com", "isp.example.net",
)
FORWARD_DOMAIN = "alumni.example.edu"
#: recipient domains whose mailboxes live on the lab's Dovecot (LMTP, quota)
MAILBOX_DOMAINS = ("mbox.example.net", "webmail.example.org")
FIRST = ("anna", "ben", "chloe", "david", "emma", "felix", "greta", "hugo", "ines", "jonas", "karin", "lucas",
         "marie", "noah", "olga", "paul", "quinn", "rosa", "sven", "tara", "umar", "vera", "wei", "xenia",
         "yusuf", "zoe", "aiko", "bruno", "carmen", "dmitri", "elif", "farid")
LAST = ("meyer", "dubois", "rossi", "garcia", "smith", "tanaka", "kowalski", "nielsen", "silva", "novak",
        "jansen", "moreau", "schmidt", "ivanova", "kim", "olsen", "lopez", "weber", "fischer", "brown")


@dataclass
class Recipient:
    address: str
    entry: Entry | None
    #: for a forwarded address: where the MTA forwards it (the receiver sees this one)
    final: str = ""

    @property
    def seen_as(self) -> str:
        return (self.final or self.address).lower()


@dataclass
class Message:
    key: str
    mta: str
    recipients: list[Recipient]
    notify: str = ""

    @property
    def sender(self) -> str:
        return f"bounce-{self.key}@{BOUNCE_DOMAIN}"


@dataclass
class Plan:
    messages: list[Message] = field(default_factory=list)
    #: domain -> (host, "smtp" | "lmtp")
    routes: dict[str, tuple[str, str]] = field(default_factory=dict)
    hosts: dict[str, str] = field(default_factory=lambda: {COLLECTOR_HOST: receiver.COLLECTOR})
    forwards: dict[str, str] = field(default_factory=dict)
    greetings: list[Entry] = field(default_factory=list)
    #: Dovecot users: already over quota (refused at RCPT) / empty (the message tips them over)
    quota_full: list[str] = field(default_factory=list)
    quota_empty: list[str] = field(default_factory=list)
    #: one scripted-receiver address per receiving host name (per-host queues stay independent)
    receivers: dict[str, str] = field(default_factory=dict)

    def script(self) -> receiver.Script:
        script = receiver.Script()
        for message in self.messages:
            for rcpt in message.recipients:
                script.recipients[rcpt.seen_as] = rcpt.entry
                if rcpt.entry is not None and rcpt.entry.stage == "mail":
                    script.senders[message.sender.lower()] = rcpt.entry
        return script


class Planner:
    def __init__(self, catalogue: Catalogue, seed: int = 1) -> None:
        self.catalogue, self.random = catalogue, random.Random(seed)
        self.plan = Plan()
        self.used: set[str] = set()
        self.counter = 0
        self.plan.hosts[DOVECOT_HOST] = receiver.DOVECOT

    # --- addresses and routes -------------------------------------------------------------

    def address(self, domain: str) -> str:
        while True:
            local = f"{self.random.choice(FIRST)}.{self.random.choice(LAST)}{self.random.randint(1, 999)}"
            address = f"{local}@{domain}"
            if address not in self.used:
                self.used.add(address)
                return address

    def route(self, domain: str, host: str, ip: str, kind: str = "smtp") -> None:
        self.plan.routes.setdefault(domain, (host, kind))
        if ip == receiver.RECEIVER:
            ip = self.plan.receivers.setdefault(host, receiver.receiver_host(len(self.plan.receivers)))
        if ip:
            self.plan.hosts.setdefault(host, ip)

    def domain_for(self, entry: Entry) -> str:
        """A domain that routes to the scripted receiver under the entry's provider host."""
        if entry.domains:
            domain = self.random.choice(entry.domains)
            self.route(domain, entry.host or f"mx1.{domain}", receiver.RECEIVER)
            return domain
        domain = self.random.choice(GENERIC_DOMAINS)
        self.route(domain, f"mx1.{domain}", receiver.RECEIVER)
        return domain

    def special_domain(self, entry: Entry) -> str:
        """A domain of its own for connect-stage entries and network behaviours."""
        self.counter += 1
        base = entry.domains[0] if entry.domains else self.random.choice(GENERIC_DOMAINS)
        domain = f"d{self.counter}.{base}"
        host = f"mx.{domain}"
        if entry.behaviour == "reply":
            self.plan.greetings.append(entry)
            self.route(domain, host, receiver.greeting_host(len(self.plan.greetings) - 1))
        elif entry.behaviour == "refuse":
            self.route(domain, host, receiver.REFUSED)
        elif entry.behaviour == "silent":
            self.route(domain, host, receiver.SILENT)
        else:  # nohost: a route to a name no hosts file knows
            self.route(domain, host, "")
        return domain

    def recipient(self, entry: Entry | None) -> Recipient:
        if entry is None:
            domain = self.random.choice(GENERIC_DOMAINS)
            self.route(domain, f"mx1.{domain}", receiver.RECEIVER)
            return Recipient(self.address(domain), None)
        if entry.behaviour == "quota":
            domain = self.random.choice(MAILBOX_DOMAINS)
            self.route(domain, DOVECOT_HOST, "", kind="lmtp")
            address = self.address(domain)
            (self.plan.quota_full if entry.stage == "rcpt" else self.plan.quota_empty).append(address)
            return Recipient(address, entry)
        if entry.stage == "connect":
            return Recipient(self.address(self.special_domain(entry)), entry)
        return Recipient(self.address(self.domain_for(entry)), entry)

    # --- messages ---------------------------------------------------------------------------

    def add(self, mta: str, recipients: list[Recipient], notify: str = "") -> None:
        key = f"{mta[:2]}{len(self.plan.messages):05d}"
        self.plan.messages.append(Message(key, mta, recipients, notify))

    def for_mta(self, mta: str, repeat: int = 1, mixed: int = 60, forwards: int = 0, notify: int = 10,
                network: int = 3, quota: int = 0) -> None:
        entries = list(self.catalogue.entries.values())
        replies = [e for e in entries if e.behaviour == "reply" and e.stage != "connect"]
        permanent = [e for e in replies if not e.temporary]
        temporary = [e for e in replies if e.temporary]
        greetings = [e for e in entries if e.behaviour == "reply" and e.stage == "connect"]
        behaviours = [e for e in entries if e.behaviour in ("refuse", "silent", "nohost")]
        for _ in range(repeat):
            for entry in permanent:
                self.add(mta, [self.recipient(entry)])
        for entry in temporary + greetings:
            self.add(mta, [self.recipient(entry)])
        for entry in behaviours:
            for _ in range(network):
                self.add(mta, [self.recipient(entry)])
        rcpt_stage = [e for e in permanent if e.stage == "rcpt"]
        data_stage = [e for e in permanent if e.stage == "data"]
        temporary_rcpt = [e for e in temporary if e.stage == "rcpt"]
        for _ in range(mixed):
            chosen = self.random.sample(rcpt_stage, self.random.randint(1, 3))
            if self.random.random() < 0.5:
                chosen.append(self.random.choice(data_stage))
            if self.random.random() < 0.2:
                chosen.append(self.random.choice(temporary_rcpt))
            recipients = [self.recipient(e) for e in chosen]
            if self.random.random() < 0.3:
                recipients.insert(self.random.randint(0, len(recipients)), self.recipient(None))
            self.random.shuffle(recipients)
            self.add(mta, recipients)
        for _ in range(forwards):
            entry = self.random.choice(rcpt_stage + data_stage)
            target = self.recipient(entry)
            original = self.address(FORWARD_DOMAIN)
            self.plan.forwards[original] = target.address
            self.add(mta, [Recipient(original, entry, final=target.address)])
        for entry in [e for e in entries if e.behaviour == "quota"]:
            for _ in range(quota):
                self.add(mta, [self.recipient(entry)])
        for _ in range(notify):
            self.add(mta, [self.recipient(None)], notify="SUCCESS,FAILURE,DELAY")
