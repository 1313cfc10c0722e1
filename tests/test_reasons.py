"""The reason of a reported recipient: words, provider codes, status and SMTP stage.

Each case is a diagnostic as real servers word it (taken from the shapes in
the corpus, with our own addresses) and the reason the evidence supports.
"""

from __future__ import annotations

import pytest

from responsemaster.classify import reasons
from responsemaster.classify.detection import Detection, recipient
from responsemaster.classify.rules import RuleSet

RULES = RuleSet.load()


def decide(diagnostic: str, status: str = "", command: str = "", remote_mta: str = "",
           address: str = "someone@example.org", reply_code: str = "") -> str:
    rcpt = recipient(address, diagnostic=diagnostic, status=status, command=command, remote_mta=remote_mta,
                     reply_code=reply_code)
    reason, _ = reasons.decide(RULES, rcpt, {}, Detection(detector="test"))
    return reason


@pytest.mark.parametrize(
    ("case", "kwargs", "reason"),
    [
        # The stage decides what "user unknown" means.
        ("unknown user to RCPT", dict(diagnostic="550 5.1.1 <a@b>: User unknown", status="5.1.1", command="RCPT"),
         "userunknown"),
        ("unknown user after DATA", dict(diagnostic="550 Unknown user a@b", status="5.0.0", command="DATA"),
         "filtered"),
        ("mailbox-status code with unknown user", dict(diagnostic="550 User unknown", status="5.2.0"), "filtered"),
        # No stage known and a code that says nothing about the address: a relay's
        # summary of a refusal at RCPT, where unknown users are refused.
        ("unknown user, stage and code unknown",
         dict(diagnostic="550 kijitora@example.com... No such user", status="5.0.0"), "userunknown"),
        ("unknown user with no status at all", dict(diagnostic="550 unknown user"), "userunknown"),
        ("unknown user under a protocol status", dict(diagnostic="550 User unknown", status="5.5.0"), "userunknown"),
        ("mailbox unavailable, stage unknown",
         dict(diagnostic="550 Requested action not taken: mailbox unavailable", status="5.0.0"), "userunknown"),
        ("mailbox-status code at RCPT is still the address",
         dict(diagnostic="550 5.2.1 <a@b>: Recipient address rejected: User unknown", status="5.2.1", command="RCPT"),
         "userunknown"),
        # Said in answer to DATA it is a filter whatever the code (docs/bounces.md: au's "550 <a@au.com>: User
        # unknown" comes with 5.1.1 and with 5.2.0 alike); with no stage known, an addressing code or a directory
        # lookup's words tie it to the address.
        ("5.1.1 where the transcript says DATA",
         dict(diagnostic="550 5.1.1 <a@b>... User unknown", status="5.1.1", command="DATA"), "filtered"),
        ("a directory lookup's words in answer to DATA",
         dict(diagnostic="550 5.1.1 <a@b>: Recipient address rejected: User unknown in local recipient table",
              status="5.1.1", command="DATA"), "filtered"),
        ("5.1.1, stage unknown", dict(diagnostic="550 5.1.1 <a@b>... User unknown", status="5.1.1"), "userunknown"),
        ("5.1.10 recipient not found by address lookup",
         dict(diagnostic="550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
              status="5.1.10"), "userunknown"),
        ("Domino directory lookup", dict(diagnostic="User some.name (a@b.example) not listed in Domino Directory"),
         "userunknown"),
        ("Exim found no router for the address", dict(diagnostic="Unrouteable address"), "userunknown"),
        # A server that answered with a code refused us: "connection refused" in its words is a block.
        ("server refuses a listed host", dict(diagnostic="554 5.7.1 Connection refused: 192.0.2.10 blocked. AUP#1",
                                              status="5.7.1", command="CONN"), "blocked"),
        ("server refuses a host on a blocklist",
         dict(diagnostic="554 mx IB401 Connection refused. 192.0.2.10 is listed on a DNS blocklist.",
              command="CONN"), "blocked"),
        ("our side could not connect", dict(diagnostic="connect to mx.example.org[192.0.2.1]:25: Connection refused"),
         "networkerror"),
        ("a bare block quoted by Exim", dict(
            diagnostic="host mx.example.biz [192.0.2.25] SMTP error from remote mail server after RCPT TO:<a@b>: "
                       "550 Blocked", reply_code="550", command="RCPT"), "blocked"),
        ("Postfix's table lookup", dict(diagnostic="550 <a@b.example>: User unknown in virtual mailbox table"),
         "userunknown"),
        ("Gmail's account lookup",
         dict(diagnostic="The email account that you tried to reach does not exist. Please try double-checking"),
         "userunknown"),
        ("Exchange directory lookup",
         dict(diagnostic="The recipient name is not recognized MSEXCH:IMS:X:Y:Z 0 (000C05A6) Unknown Recipient"),
         "userunknown"),
        ("'does not exist' to MAIL FROM is our sender",
         dict(diagnostic="553 5.1.0 sender.example does not exist", status="5.1.0", command="MAIL"), "rejected"),
        # A specific status outranks words of a later or unrelated reason ...
        ("5.1.1 with a virus scanner in the transcript",
         dict(diagnostic="550 5.1.1 <a@b>... User unknown; scanned by ClamAV virus filter", status="5.1.1"),
         "userunknown"),
        ("5.4.4 that says 'name service error'",
         dict(diagnostic="Host or domain name not found. Name service error for name=x.example type=A",
              status="5.4.4"), "hostunknown"),
        # ... but not words that name the sender's side or the mailbox state.
        ("5.1.1 reused for a blocklist", dict(diagnostic="550 5.1.1 Client host blocked using zen.spamhaus.org",
                                               status="5.1.1"), "blocked"),
        ("5.1.1 reused for a full mailbox", dict(diagnostic="550 5.1.1 mailbox is full", status="5.1.1"),
         "mailboxfull"),
        # The server's own code beats the relay's summary.
        ("X.0.0 in the DSN, 5.1.0 from the server", dict(diagnostic="550 #5.1.0 Address rejected.", status="5.0.0"),
         "userunknown"),
        # Clear words beat a contradicting code.
        ("over-quota words under 5.2.3", dict(diagnostic="552 5.2.3 user is over quota", status="5.2.3"),
         "mailboxfull"),
        ("RFC 5321's storage wording", dict(diagnostic="552 Requested mail action aborted: exceeded storage allocation",
                                             status="5.2.2"), "mailboxfull"),
        ("permanent 'domain not found'",
         dict(diagnostic="550 Host or domain name not found. Name service error for name=x.example type=A: Host not "
                         "found", status="5.0.0"), "hostunknown"),
        ("the resolver said try again",
         dict(diagnostic="Name service error for domain x.example: Host not found, try again"), "networkerror"),
        # A refusal without a cause is not a missing mailbox (docs/bounces.md): a reply code alone
        # never prunes.
        ("bare 550 Blocked", dict(diagnostic="550 Blocked"), "blocked"),
        ("the recipient's rules refused it", dict(diagnostic="550 Mail is rejected by recipients"), "filtered"),
        ("spoofing check", dict(diagnostic="550 rejecting spoofed message"), "authfailure"),
        ("Sender ID", dict(diagnostic="550 command rejected due to Sender ID validation failure"), "authfailure"),
        ("words nobody understood under a 550", dict(diagnostic="550 Frobnication xyz"),
         "onhold"),
        ("a 551 alone is not a moved address", dict(diagnostic="551 see you", reply_code="551"), "onhold"),
        # Nothing understood.
        ("words nobody understood", dict(diagnostic="Error (test message)"), "onhold"),
        ("nothing said", dict(diagnostic=""), "undefined"),
    ],
)
def test_generic_evidence(case: str, kwargs: dict, reason: str) -> None:
    assert decide(**kwargs) == reason, case


@pytest.mark.parametrize(
    ("case", "kwargs", "reason"),
    [
        ("Cox blocklist code", dict(diagnostic="550 5.1.0 <x@y> sender rejected. AUP#CDRBL",
                                    remote_mta="cxr.mx.a.cloudfilter.net", status="5.1.0"), "blocked"),
        ("Spectrum limit code by recipient domain", dict(diagnostic="550 5.1.0 <x@y> sender rejected. AUP#In-1310",
                                                          address="a@charter.net", status="5.1.0"), "toomanyconn"),
        ("La Poste 'try later' code", dict(diagnostic="550 5.5.0 Service refuse. LPN001_108",
                                          remote_mta="smtpz4.laposte.net", reply_code="550"), "undefined"),
        ("Orange spam-IP code", dict(diagnostic="550 mwinf ME Client host blocked for spamming issues. OFR006_102",
                                     remote_mta="smtp-in.orange.fr"), "blocked"),
        ("docomo after DATA", dict(diagnostic="550 Unknown user a@docomo.ne.jp", status="5.0.0", command="DATA",
                                   remote_mta="mfsmax.docomo.ne.jp"), "rejected"),
        ("au reception filter", dict(diagnostic="550 : User unknown", remote_mta="lsean.ezweb.ne.jp"), "filtered"),
        ("au names the missing address", dict(diagnostic="550 <a@ezweb.ne.jp>: User unknown", status="5.0.0",
                                              remote_mta="lsean.ezweb.ne.jp"), "userunknown"),
        ("Yahoo checks recipients at the end of DATA",
         dict(diagnostic="554 delivery error: dd This user doesn't have a yahoo.com account (a@yahoo.com) [0] - "
                         "mta1061.mail.ne1.yahoo.com", status="5.0.0", command="DATA",
              remote_mta="mta6.am0.yahoodns.net"), "userunknown"),
        ("the same words from a host that is not Yahoo, stage unknown",
         dict(diagnostic="This user doesn't have a example.co.jp account (a@example.co.jp) [-9]"), "userunknown"),
        ("the same words from a host that is not Yahoo, after DATA",
         dict(diagnostic="This user doesn't have a example.co.jp account (a@example.co.jp) [-9]", command="DATA"),
         "filtered"),
        ("MessageLabs' refusal of an address it protects",
         dict(diagnostic="542 kijitora@example.com Rejected", status="5.0.0",
              remote_mta="server-00.bemta-0.messagelabs.com"), "userunknown"),
        ("SES receipt rule's Bounce action", dict(diagnostic="550 5.1.1 Mailbox does not exist", status="5.1.1",
                                                  remote_mta="inbound-smtp.us-west-2.amazonaws.com"), "filtered"),
        ("the same words from any other server", dict(diagnostic="550 5.1.1 Mailbox does not exist", status="5.1.1",
                                                      remote_mta="mx.example.org"), "userunknown"),
        ("Verizon SMS gateway", dict(diagnostic="Error: Invalid user address Error message below: 550 - Requested "
                                                "action not taken: no such user here", address="5555550100@vtext.com"),
         "userunknown"),
        ("GoDaddy SPF code", dict(diagnostic="550 5.1.0 not allowed per SPF Record. IB508",
                                  remote_mta="smtp.secureserver.net"), "authfailure"),
    ],
)
def test_provider_codes(case: str, kwargs: dict, reason: str) -> None:
    assert decide(**kwargs) == reason, case


def test_provider_code_means_nothing_elsewhere() -> None:
    # The same AUP code from an unrelated host falls back to the generic words.
    assert decide("550 5.1.0 <x@y> sender rejected. AUP#CDRBL", status="5.1.0", remote_mta="mx.example.org") == "rejected"


def test_precise_status() -> None:
    assert reasons.precise_status("5.0.0", "550 5.1.1 <a@b> no such user") == "5.1.1"
    assert reasons.precise_status("5.0.0", "421 4.4.2 timeout") == "5.0.0"  # another class: keep the DSN's
    # Sendmail reports every permanent RCPT refusal as 5.1.1 "User unknown": the server's own code is the evidence.
    assert reasons.precise_status("5.1.1", "550-5.2.1 The email account that you tried to reach is inactive.") == "5.2.1"
    assert reasons.precise_status("5.1.1", "a@b.example: 550 5.7.1 Access denied") == "5.7.1"
    assert reasons.precise_status("5.7.1", "550 5.0.0 whatever") == "5.7.1"  # the server's code says less
    assert reasons.precise_status("5.7.1", "refused, see 5.1.1 in RFC 3463") == "5.7.1"  # not the reply's own code
    assert reasons.precise_status("4.5.0", "550 5.5.0 Service refuse") == "4.5.0"  # the MTA chose to retry
    assert reasons.precise_status("", "") == ""


@pytest.mark.parametrize(
    ("case", "kwargs", "reason"),
    [
        ("bare refusal to MAIL FROM", dict(diagnostic="550 5.7.1 Access denied", status="5.7.1", command="MAIL"),
         "rejected"),
        ("specific words to MAIL FROM still decide",
         dict(diagnostic="550 5.7.0 Please use the smtp server of your ISP.", status="5.7.0", command="MAIL"),
         "blocked"),
        ("refused at connection", dict(diagnostic="550 Access denied...", command="CONN"), "blocked"),
        ("bare 5.7.1 with no cause", dict(diagnostic="550 5.7.1 <a@b>... Access denied (state 13).", status="5.7.1"),
         "securityerror"),
        ("one word and a specific code: the code says why", dict(diagnostic="550 5.7.9 Rejected", status="5.7.9"),
         "securityerror"),
        ("one word and no specific code", dict(diagnostic="550 Rejected", status="5.0.0"), "blocked"),
        ("greeting refused with RFC 5321's stock 421 text",
         dict(diagnostic="delivery temporarily suspended: connect to mx.example.com[192.0.2.232]: server refused to "
                         "talk to me: 421 Service not available, closing transmission channel",
              status="4.0.0", command="CONN"), "blocked"),
        ("the same words later in the session are the server's fault",
         dict(diagnostic="451 4.3.0 Service not available, try again later", status="4.3.0", command="DATA"),
         "systemerror"),
        ("expired because DNS failed", dict(diagnostic="550 5.4.312 Message expired, DNS query failed",
                                            status="5.4.312"), "networkerror"),
        ("expired because no connection",
         dict(diagnostic="Sorry, I wasn't able to establish an SMTP connection. (#4.4.1) I'm not going to try again; "
                         "this message has been in the queue too long.", status="4.4.1"), "networkerror"),
        ("'no mailbox found' to RCPT with a policy code", dict(diagnostic="550 5.7.1 No mailbox found",
                                                               status="5.7.1", command="RCPT"), "userunknown"),
        ("a reason's name in a URL is not evidence",
         dict(diagnostic="550 5.2.1 <a@b>: Recipient address rejected: User unknown. See https://x.example/#filtered",
              status="5.2.1", command="RCPT"), "userunknown"),
    ],
)
def test_stage_and_cause(case: str, kwargs: dict, reason: str) -> None:
    assert decide(**kwargs) == reason, case


def test_connection_stage_is_read_from_text() -> None:
    from responsemaster.classify.detectors._scan import smtp_command

    assert smtp_command("SMTP error from remote mail server after initial connection: 554 go away") == "CONN"
    assert smtp_command("connect to mx.example.net[192.0.2.1]: server refused to talk to me: 421 busy") == "CONN"
    assert smtp_command("said: 550 no (in reply to RCPT TO command)") == "RCPT"
    # qmail-remote names the stage in words.
    assert smtp_command("192.0.2.1 does not like recipient. Remote host said: 550 mailbox unavailable") == "RCPT"
    assert smtp_command("192.0.2.1 does not like sender. Remote host said: 553 sorry") == "MAIL"
    # Postfix's smtpd says "Recipient address rejected:" only in answer to RCPT TO.
    assert smtp_command("550 <a@b.example>: Recipient address rejected: User unknown in local recipient table") == "RCPT"
    assert smtp_command("504 <x@y>: Sender address rejected: need fully-qualified address") == "MAIL"
    assert smtp_command("Unknown user RCPT TO generated following response: 553 5.3.0 <a@b>... Addressee unknown") == "RCPT"


@pytest.mark.parametrize(
    ("diagnostic", "reason"),
    [
        ("Your message wasn't delivered to a@b.example because the address couldn't be found.", "userunknown"),
        ("550 Your server requires confirmation. Visit http://x.example/Whitelist.aspx to confirm this mail server.",
         "blocked"),
    ],
)
def test_words_without_codes(diagnostic: str, reason: str) -> None:
    assert decide(diagnostic) == reason


@pytest.mark.parametrize(
    ("diagnostic", "reason"),
    [
        # Wordings real servers use (as collected in Sisimai's reason lists), no code to lean on.
        ("552 Recipient rejected: mailbox would exceed maximum allowed storage", "mailboxfull"),
        ("Maildir delivery failed: Userdisk quota exceeded", "mailboxfull"),
        ("554 Throttling failure: Daily message quota exceeded.", "ratelimited"),
        ("550 RESOLVER.RST.NotAuthorized; not authorized", "filtered"),
        ("554 refused due to recipient preferences", "filtered"),
        ("421 Too many errors from your IP", "toomanyconn"),
        ("554 Message rejected: Email address is not verified.", "rejected"),
        ("451 Could not find a gateway for a@example.org", "expired"),
        ("553 sorry, that domain isn't in my list of allowed rcpthosts; domain must exist", "norelaying"),
        ("550 Requested action not taken: mailbox unavailable (this account has been suspended)", "suspend"),
        ("554 This message contains text that uses unnecessary base64 encoding", "contenterror"),
        ("550 The message has a potentially executable attachment", "virusdetected"),
        # Sendmail's MaxHeadersLength refusal: the headers' content, as Sisimai files it (5.6.0 media error).
        ("552 5.6.0 Headers too large (32768 max)", "contenterror"),
        # Sendmail: the MX points back at the sending host, a configuration error there.
        ("553 5.3.5 mail for mail.example.lv loops back to myself", "systemerror"),
        ("Your mail to the following recipients could not be delivered because they are not accepting mail from "
         "list@example.com", "filtered"),
        ("554 5.7.1 Message Rejected Class=size limit=15728640 Subclass=reject size=18571048", "mesgtoobig"),
    ],
)
def test_server_wordings(diagnostic: str, reason: str) -> None:
    assert decide(diagnostic) == reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # A bounce with no diagnostic line is read from its body, and the same
        # evidence ties "unknown" words to the address there.
        ("Delivery failed.\n\nUser kijitora (kijitora@example.jp) not listed in Domino Directory\n", "userunknown"),
        ("Delivery failed.\n\nkijitora@example.jp: 550 unknown user\n", "userunknown"),
    ],
)
def test_body_of_a_bounce_without_diagnostic(body: str, reason: str) -> None:
    rcpt = recipient("kijitora@example.jp")
    assert reasons.decide(RULES, rcpt, {"body": body}, Detection(detector="test"))[0] == reason
