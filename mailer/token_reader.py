"""The ingestion side's view of the mailer's tokens: ids back into names.

The mailer puts the campaign and subscriber *database ids* in the VERP token
(two integers always fit the 64-octet budget; names and addresses do not).
Verification is :func:`responsemaster.verp_keys.token_reader`'s; this wrapper
maps the verified ids back to the subscriber's address and the campaign's
name, so attribution and routing work with the same values whichever way a
message was attributed. A token that fails verification stays reported as
such (``valid=False``), which flags the message and blocks every state
change it would cause.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from sqlalchemy import select

from responsemaster.classify.attribution import TokenReader, TokenResult
from responsemaster.store.database import Store
from responsemaster.store.subscribers import Campaign, Subscriber
from responsemaster.verp import Keyring
from responsemaster.verp_keys import token_reader


def lookup_names(store: Store, campaign: str, subscriber: str) -> tuple[str | None, str | None]:
    """The campaign's name and the subscriber's address for a token's ids; None for what the database lacks."""
    name = address = None
    with store.reader() as session:
        if campaign.isdecimal() and campaign.isascii():
            name = session.execute(select(Campaign.name).where(Campaign.id == int(campaign))).scalar()
        if subscriber.isdecimal() and subscriber.isascii():
            address = session.execute(select(Subscriber.address).where(Subscriber.id == int(subscriber))).scalar()
    return name, address


def make_token_reader(
    keyring: Keyring, section: Mapping[str, Any], store: Store | None = None, id_domains: Iterable[str] = (),
    prefixes: Iterable[str] = (),
) -> TokenReader:
    """A ``TokenReader`` for the classifier; without a store the ids are returned as they are."""
    verify = token_reader(keyring, section, id_domains, prefixes)

    @lru_cache(maxsize=4096)
    def names(campaign: str, subscriber: str) -> tuple[str, str]:
        if store is None:
            return campaign, subscriber
        name, address = lookup_names(store, campaign, subscriber)
        return name or campaign, address or subscriber

    def read(value: str) -> TokenResult | None:
        result = verify(value)
        if result is None or not result.valid:
            return result
        campaign, subscriber = names(result.campaign, result.subscriber)
        return TokenResult(subscriber, campaign, True)

    return read
