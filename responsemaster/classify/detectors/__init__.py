"""The one registry of detectors, in the order they are tried.

Standards whose structure decides the category come first (a complaint or a
read receipt is never a bounce), then the vendors whose RFC 3464 reports
carry wording of their own meaning (McAfee's appliance), then RFC 3464
DSNs, then the MTA and
provider formats (specific before generic: a format recognised by a marker
only its MTA prints comes before a family shape others imitate), then the
generic text-bounce fallback. Auto-reply markers come last, after the message
rules, and only label what nothing else claimed.
Adding a format = one module with ``name`` and ``detect(msg)`` + a line here
(tests/test_detectors.py checks that every module is registered).
"""

from __future__ import annotations

from responsemaster.classify.detection import Detector
from responsemaster.classify.detectors import (
    amazonses,
    arf,
    autoreply,
    biglobe,
    domino,
    dragonfly,
    exchange2003,
    exim,
    ezweb,
    fml,
    generic,
    gmail,
    googlegroups,
    imailserver,
    kddi,
    mailfoundry,
    mailmarshal,
    mailru,
    mcafee,
    mdn,
    mfilter,
    notes,
    office365,
    postfix,
    qmail,
    rfc3464,
    sendmail,
    trendmicro,
    v5sendmail,
    verizon,
    x2,
    x3,
    x4,
    x6,
    yahoo,
    zoho,
)

#: Provider and MTA formats: markers only one sender prints come first.
FORMATS: tuple[Detector, ...] = (  # type: ignore[assignment]
    amazonses,
    googlegroups,
    fml,
    dragonfly,
    mfilter,
    trendmicro,
    ezweb,
    kddi,
    biglobe,
    notes,
    domino,
    verizon,
    x6,
    x3,
    mailmarshal,
    mailfoundry,
    imailserver,
    exchange2003,
    office365,
    gmail,
    yahoo,
    zoho,
    mailru,
    x2,
    x4,
    qmail,
    exim,
    postfix,
    v5sendmail,
    sendmail,
)

#: Structural detectors; the first one that recognises a message decides.
STRUCTURAL: tuple[Detector, ...] = (arf, mdn, mcafee, rfc3464, *FORMATS, generic)  # type: ignore[assignment]

#: Tried after the message rules, as the last word before the model.
FALLBACK: tuple[Detector, ...] = (autoreply,)  # type: ignore[assignment]

DETECTORS: tuple[Detector, ...] = STRUCTURAL + FALLBACK
