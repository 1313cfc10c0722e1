"""The mailbox provider or mail filter behind a host name: one feature of a bounce.

Providers word their refusals their own way and publish their own codes
(Microsoft's ``AS(201806281)``, Yahoo's ``TSS04``, Cox's ``AUP#CXBL``), so the
same words can mean different things from different families. The family
is read from the remote MTA's host name and from the recipient's domain;
the table holds only published MX and relay host names, matched on a label
boundary.
"""

from __future__ import annotations

#: family -> domain suffixes of its MX hosts, relays and mailbox domains.
FAMILIES: dict[str, tuple[str, ...]] = {
    "google": ("google.com", "googlemail.com", "gmail.com", "aspmx.l.google.com", "gmail-smtp-in.l.google.com"),
    "microsoft": ("outlook.com", "hotmail.com", "live.com", "msn.com", "protection.outlook.com", "office365.com",
                  "microsoft.com", "exchangelabs.com"),
    "yahoo": ("yahoo.com", "yahoodns.net", "yahoo.co.jp", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "ymail.com",
              "aol.com", "aol.net", "verizon.net"),
    "apple": ("icloud.com", "me.com", "mac.com", "apple.com"),
    "comcast": ("comcast.net", "xfinity.com"),
    "cox": ("cox.net", "cox.com", "cloudfilter.net"),
    "charter": ("charter.net", "charter.com", "spectrum.net", "rr.com", "twc.com"),
    "att": ("att.net", "sbcglobal.net", "bellsouth.net", "prodigy.net"),
    "gmx": ("gmx.net", "gmx.de", "gmx.com", "web.de", "1and1.com", "ionos.com", "kundenserver.de", "mail.com"),
    "orange": ("orange.fr", "wanadoo.fr", "laposte.net", "orange.com", "sfr.fr", "free.fr"),
    "mailru": ("mail.ru", "list.ru", "bk.ru", "inbox.ru", "yandex.ru", "yandex.net"),
    "tencent": ("qq.com", "foxmail.com", "163.com", "126.com", "netease.com", "sina.com"),
    "zoho": ("zoho.com", "zohomail.com", "zoho.eu"),
    "godaddy": ("secureserver.net", "godaddy.com"),
    "japan-mobile": ("docomo.ne.jp", "ezweb.ne.jp", "au.com", "softbank.ne.jp", "i.softbank.jp", "vodafone.ne.jp"),
    "mimecast": ("mimecast.com", "mimecast.co.za", "mimecast-offshore.com"),
    "proofpoint": ("pphosted.com", "ppe-hosted.com", "proofpoint.com"),
    "barracuda": ("barracudanetworks.com", "barracuda.com", "cudamail.com"),
    "cisco": ("iphmx.com", "ironport.com", "cisco.com"),
    "messagelabs": ("messagelabs.com", "symantec.com"),
    "trendmicro": ("trendmicro.com", "trendmicro.eu", "tmes.trendmicro.com"),
    "amazon": ("amazonaws.com", "amazonses.com"),
    "sendgrid": ("sendgrid.net", "sendgrid.com"),
    "mailchimp": ("mandrillapp.com", "mcsv.net"),
    "fastmail": ("messagingengine.com", "fastmail.com"),
    "protonmail": ("protonmail.ch", "protonmail.com", "proton.me"),
}

_BY_SUFFIX: dict[str, str] = {suffix: family for family, suffixes in FAMILIES.items() for suffix in suffixes}


def family(host: str) -> str:
    """The provider family of a host name or mail domain ('' if none known)."""
    labels = host.strip().strip(".[]").lower().split(".")
    for start in range(len(labels) - 1):
        found = _BY_SUFFIX.get(".".join(labels[start:]))
        if found:
            return found
    return ""
