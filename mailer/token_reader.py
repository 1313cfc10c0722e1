"""The ingestion side's view of our tokens: verify, then turn database ids back into names.

The mailer puts the campaign and subscriber *database ids* in the VERP
token (two integers always fit the 64-octet budget; names and addresses do
not). Attribution and routing work with addresses and campaign names, so
this reader, handed to the classifier as its ``read_token``, maps the ids
back after the HMAC verified. A token that fails verification is reported
as such (``valid=False``), which flags the message and blocks every state
change it would cause.
"""

from __future__ import annotations

import re
from functools import lru_cache

from sqlalchemy import select

from responsemaster.classify.attribution import TokenReader, TokenResult
from responsemaster.store.database import Store
from responsemaster.store.subscribers import Campaign, Subscriber
from responsemaster.verp import InvalidToken, Keyring, decode_token, parse_return_path, token_from_message_id

_TOKEN_RUN = re.compile(r"1[a-z2-7]{23,61}")


def make_token_reader(keyring: Keyring, store: Store | None = None) -> TokenReader:
    """A ``TokenReader`` for the classifier; without a store the ids are returned as they are."""

    @lru_cache(maxsize=4096)
    def names(campaign: str, subscriber: str) -> tuple[str, str]:
        if store is None or not campaign.isdigit() or not subscriber.isdigit():
            return campaign, subscriber
        with store.reader() as session:
            name = session.execute(select(Campaign.name).where(Campaign.id == int(campaign))).scalar()
            address = session.execute(select(Subscriber.address).where(Subscriber.id == int(subscriber))).scalar()
        return name or campaign, address or subscriber

    def read(value: str) -> TokenResult | None:
        local = value.rpartition("@")[0].lower() if "@" in value else value.lower()
        try:
            if "+" not in local and "." in local:  # a Message-ID: only its first element may be a token
                token = token_from_message_id(f"<{value}>")
                if token is None:
                    return None
                data = decode_token(token, keyring)
            else:
                if not _TOKEN_RUN.search(local):
                    return None
                data = parse_return_path(value, keyring)
        except InvalidToken:
            return TokenResult("", "", False)
        campaign, subscriber = names(data.campaign, data.subscriber)
        return TokenResult(subscriber, campaign, True)

    return read
