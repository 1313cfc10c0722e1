"""One rendered copy of a campaign, outside any run: the preview file and the test send.

Both render exactly what the campaign would send to one member (the stored
template, that member's fields, a real token), and both leave no trace in the
delivery log, the relay quotas or the statistics.

A test copy goes to an address of the operator's choosing, with ``[TEST]`` in
its subject and an ``X-ResponseMaster-Test`` header. Its token names the
campaign and subscriber id 0, which no subscriber has: if the copy bounces,
is answered, or its unsubscribe link is clicked, the return is attributed to
the campaign and to nobody, so the member whose data filled it is never
pruned or unsubscribed because of a test.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

import aiosmtplib

from mailer.campaigns import CampaignError, Loaded
from mailer.compose import Composer, Envelope
from mailer.deliveries import Recipient, members
from mailer.settings import MailerSettings, RelaySettings
from mailer.templates import Rendered, TemplateProblem, recipient_context
from responsemaster.store.base import address_key
from responsemaster.store.database import Store

#: The subscriber id a test copy's token names: ids start at 1, so it is nobody.
NOBODY = 0
TEST_HEADER = "X-ResponseMaster-Test"


@dataclass(frozen=True)
class Copy:
    recipient: Recipient
    rendered: Rendered


def member(store: Store, loaded: Loaded, address: str | None) -> Recipient:
    """The list member called ``address``, or the list's first mailable member when None."""
    key = address_key(address) if address is not None else None
    found = members(store, loaded.campaign.list_id, loaded.campaign.id, key)  # type: ignore[arg-type]
    if address is not None:
        if not found:
            raise CampaignError(f"{address} is not on list {loaded.list_name!r} of campaign {loaded.campaign.name!r}")
        return found[0]
    for recipient in found:
        if recipient.mailable:
            return recipient
    raise CampaignError(f"list {loaded.list_name!r} has no mailable member to render the campaign for")


def render(settings: MailerSettings, loaded: Loaded, recipient: Recipient) -> Copy:
    """What ``recipient`` would receive (the unsubscribe link carries their real token)."""
    composer = Composer(settings, loaded.campaign.id, loaded.campaign.name, settings.from_address)  # type: ignore[arg-type]
    url = composer.unsubscribe_url(composer.token(recipient.subscriber_id))
    context = recipient_context(recipient.subscriber_id, recipient.address, recipient.name, recipient.fields,
                                loaded.campaign.name, url)
    try:
        return Copy(recipient, loaded.template.render(context))
    except TemplateProblem as exc:
        raise CampaignError(f"{recipient.address}: {exc}") from exc


def test_envelope(settings: MailerSettings, loaded: Loaded, recipient: Recipient, to: str) -> Envelope:
    """A copy rendered for ``recipient``, addressed to ``to``, marked as a test, tokened for nobody."""
    plan = loaded.plan
    composer = Composer(settings, loaded.campaign.id, loaded.campaign.name,  # type: ignore[arg-type]
                        plan.from_address or settings.from_address, plan.reply_to or settings.reply_to)
    token = composer.token(NOBODY)
    context = recipient_context(recipient.subscriber_id, recipient.address, recipient.name, recipient.fields,
                                loaded.campaign.name, composer.unsubscribe_url(token))
    try:
        rendered = loaded.template.render(context)
    except TemplateProblem as exc:
        raise CampaignError(f"{recipient.address}: {exc}") from exc
    rendered = replace(rendered, subject=f"[TEST] {rendered.subject}")
    note = f"test copy of {loaded.campaign.name}, rendered for {recipient.address}"
    return composer.compose(NOBODY, to, "", rendered, token, extra_headers=[(TEST_HEADER, note)])


def send_one(relay: RelaySettings, envelope: Envelope) -> str:
    """Hand one message to ``relay``; the relay's reply, or CampaignError with it when refused."""

    async def go() -> str:
        smtp = aiosmtplib.SMTP(hostname=relay.host, port=relay.port, timeout=relay.timeout,
                               use_tls=relay.tls == "tls", start_tls=relay.tls == "starttls")
        async with smtp:
            if relay.username:
                await smtp.login(relay.username, relay.password)
            await smtp.mail(envelope.mail_from)
            await smtp.rcpt(envelope.rcpt_to)
            reply = await smtp.data(envelope.data)
        return f"{reply.code} {reply.message}"

    try:
        return asyncio.run(go())
    except aiosmtplib.SMTPResponseException as exc:
        raise CampaignError(f"relay {relay.name} refused the test copy: {exc.code} {exc.message}") from exc
    except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
        raise CampaignError(f"relay {relay.name} ({relay.host}:{relay.port}): {exc}") from exc

