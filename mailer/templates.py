"""Jinja2 templates for campaigns: sandboxed, autoescaped HTML, strict about undefined names.

- Sandboxed: a template comes from an operator's editor, not from code
  review; ``SandboxedEnvironment`` refuses ``__class__``/``mro`` walks and
  unsafe attribute access, so a template cannot reach Python internals.
- Autoescaped HTML: a subscriber's name is data typed into a web form;
  ``<script>`` in it must arrive as text. The text part and the subject are
  not HTML and are not escaped.
- ``StrictUndefined``: a misspelt ``{{ frist_name }}`` must fail at the
  pre-flight render of every recipient, before the first message leaves,
  never produce "Dear ," for half the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment


class TemplateProblem(ValueError):
    """A template that cannot be compiled or rendered; names the part and the cause."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


def _environment(autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=autoescape, undefined=StrictUndefined, keep_trailing_newline=True)


_HTML_ENV = _environment(True)
_TEXT_ENV = _environment(False)


class CampaignTemplate:
    """Subject, HTML and text parts compiled once, rendered once per recipient."""

    def __init__(self, subject: str, html: str, text: str) -> None:
        if not html and not text:
            raise TemplateProblem("a template needs an HTML part, a text part, or both")
        self._parts = {}
        for part, source, env in (("subject", subject, _TEXT_ENV), ("html", html, _HTML_ENV), ("text", text, _TEXT_ENV)):
            try:
                self._parts[part] = env.from_string(source) if source else None
            except TemplateError as exc:
                raise TemplateProblem(f"{part}: {exc}") from exc

    def render(self, context: dict[str, Any]) -> Rendered:
        """Render every part for one recipient, or TemplateProblem naming the part."""
        out: dict[str, str] = {}
        for part, template in self._parts.items():
            if template is None:
                out[part] = ""
                continue
            try:
                out[part] = template.render(context)
            except TemplateError as exc:  # UndefinedError, SecurityError, ...
                raise TemplateProblem(f"{part}: {type(exc).__name__}: {exc}") from exc
            except Exception as exc:
                raise TemplateProblem(f"{part}: {type(exc).__name__}: {exc}") from exc
        subject = " ".join(out["subject"].split())  # no header injection through CR/LF
        return Rendered(subject, out["html"], out["text"])


def recipient_context(
    subscriber_id: int, address: str, name: str, fields: dict[str, str], campaign: str, unsubscribe_url: str
) -> dict[str, Any]:
    """What a template can use: ``subscriber.*``, each field by its own name, ``campaign``, ``unsubscribe_url``."""
    subscriber = {**fields, "id": subscriber_id, "email": address, "name": name,
                  "domain": address.rpartition("@")[2]}
    return {**fields, "email": address, "name": name, "subscriber": subscriber,
            "campaign": campaign, "unsubscribe_url": unsubscribe_url}
