"""Content-Security-Policies and headers for the HTML pages (review page, unsubscribe page).

The review page shows mail written by strangers. Defence in depth:
1. nh3 removes scripts, event handlers, ``javascript:`` URLs, forms, styles
   that can fetch, and remote images (:mod:`api.mail_render`);
2. what remains is shown in ``<iframe sandbox srcdoc=...>`` without
   ``allow-scripts`` or ``allow-same-origin``: even a script nh3 missed could
   not run, and could not reach the page or its cookie;
3. the page's CSP, which a srcdoc frame inherits, allows scripts only from
   our own ``/review/static/`` file, no connections, no frames from anywhere,
   and images only from ``data:`` (the message's own ``cid:`` parts, inlined)
   unless the reviewer asked for remote content;
4. the frame document adds its own stricter CSP (no scripts at all).
"""

from __future__ import annotations

#: The unsubscribe and login pages: our stylesheet, nothing else.
PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'")


#: The operator console: our stylesheet and script only, no inline anything (charts are inline SVG with
#: presentation attributes, which CSP does not treat as style), no connections, forms only to ourselves.
CONSOLE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'none'; "
               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'")


def review_csp(remote: bool) -> str:
    """The review page. Inline style is allowed for the mail frame (inherited by srcdoc); scripts are not."""
    images = "'self' data: https: http:" if remote else "'self' data:"
    fonts = "https:" if remote else "'none'"
    return (f"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src {images}; "
            f"font-src {fonts}; connect-src 'none'; frame-src 'self'; child-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'; object-src 'none'")


def frame_csp(remote: bool) -> str:
    """The mail document's own policy (a meta tag inside srcdoc): no scripts, no fetches, no forms."""
    images = "data: https: http:" if remote else "data:"
    fonts = "https:" if remote else "'none'"
    return (f"default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src {images}; "
            f"font-src {fonts}; form-action 'none'; base-uri 'none'")


def page_headers(csp: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }
