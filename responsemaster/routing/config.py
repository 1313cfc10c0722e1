"""What happens per category: configuration, with the defaults of docs/categories.md.

Like listmonk's bounce actions, dispositions are data. An operator overrides a
category in TOML::

    [routing]
    prune_confidence = 0.8            # a less sure hard bounce waits for a person (pending prune)
    require_token_for_prune = true    # only mail we signed prunes; unsigned hard bounces wait too

    [routing.categories.hard_bounce]
    actions = ["log", "prune"]

    [routing.bounce_score]
    weights = { soft_bounce = 1.0, mailbox_full = 0.5 }
    threshold = 5.0
    stale_days = 7

An action is a disposition name, optionally with an argument after a colon
(``"move:Replies"``). Unknown names are a configuration error at start-up,
not a surprise at the first message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from responsemaster.categories import CATEGORIES
from responsemaster.config import ConfigError, SettingError, Settings, setting_value

DEFAULT_ACTIONS: dict[str, list[str]] = {
    "hard_bounce": ["log", "prune"],
    "soft_bounce": ["log", "bounce_score"],
    "mailbox_full": ["log", "bounce_score"],
    "mail_block": ["log", "alert"],
    "message_restriction": ["log", "alert"],
    "delivery_status": ["log", "good_delivery"],
    "auto_reply": ["log", "record_moved", "reset_score"],
    "challenge_response": ["log", "forward", "review"],
    "feedback_loop": ["log", "unsubscribe", "suppress"],
    "unsubscribe_request": ["log", "unsubscribe"],
    "user_reply": ["log", "reset_score", "forward", "review"],
}


@dataclass
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 25
    username: str = ""
    password: str = ""
    #: none | starttls | ssl
    tls: str = "none"
    timeout: float = 30.0


@dataclass
class BounceScoreSettings:
    weights: dict[str, float] = field(default_factory=lambda: {"soft_bounce": 1.0, "mailbox_full": 0.5, "hard_bounce": 5.0})
    threshold: float = 5.0
    stale_days: int = 7
    #: Mailman counts at most one bounce per address per day.
    once_per_day: bool = True
    #: What is left of a score when the address proves it works (a mail from it, a
    #: delivery report): 0 resets it (Mailman), 0.5 halves it at each such proof.
    reset_factor: float = 0.0


@dataclass
class OutboxSettings:
    #: A claimed effect is someone else's only after this; keep it above the send timeouts.
    lease_seconds: float = 120.0
    max_attempts: int = 8
    backoff_seconds: float = 5.0
    backoff_max_seconds: float = 3600.0


@dataclass
class RoutingConfig:
    actions: dict[str, list[str]] = field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_ACTIONS.items()})
    folders: dict[str, str] = field(default_factory=dict)
    forward_to: str = ""
    alert_to: str = ""
    from_address: str = "responsemaster@localhost"
    #: Prune only on a verified token naming the address; other prunes wait in the review queue.
    require_token_for_prune: bool = False
    max_forwards_per_sender: int = 10
    max_alerts_per_domain: int = 10
    #: Categories whose Auto-Submitted mail is still forwarded (a person must act on a challenge).
    forward_auto_submitted: list[str] = field(default_factory=lambda: ["challenge_response"])
    #: A hard bounce less sure than this is not pruned at once: it waits in the review queue as a
    #: pending prune until a person confirms (or relabels) it (docs/bounces.md).
    prune_confidence: float = 0.8
    webhook_url: str = ""
    webhook_timeout: float = 10.0
    webhook_headers: dict[str, str] = field(default_factory=dict)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    bounce_score: BounceScoreSettings = field(default_factory=BounceScoreSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)

    def actions_for(self, category: str) -> tuple[tuple[str, str], ...]:
        """(disposition, argument) pairs configured for ``category``."""
        return _split_all(tuple(self.actions.get(category, ("log",))))


@lru_cache(maxsize=256)
def _split_all(specs: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Each ``name[:argument]`` split once: the router asks twice for every message it routes."""
    return tuple(_split(spec) for spec in specs)


def _split(spec: str) -> tuple[str, str]:
    name, _, arg = spec.partition(":")
    return name.strip(), arg.strip()


def load_routing(settings: Settings) -> RoutingConfig:
    """``[routing]`` over the defaults; raises :class:`ConfigError` naming the bad key."""
    data = settings.section("routing")
    config = RoutingConfig()
    for key in ("forward_to", "alert_to", "from_address", "webhook_url"):
        setattr(config, key, setting_value("routing", data, key, str, getattr(config, key)))
    for key in ("max_forwards_per_sender", "max_alerts_per_domain"):
        setattr(config, key, setting_value("routing", data, key, int, getattr(config, key)))
    config.prune_confidence = setting_value("routing", data, "prune_confidence", float, config.prune_confidence)
    config.require_token_for_prune = setting_value("routing", data, "require_token_for_prune", bool,
                                                   config.require_token_for_prune)
    if "forward_auto_submitted" in data:
        config.forward_auto_submitted = _strings("[routing] forward_auto_submitted", data["forward_auto_submitted"])
    _load_categories(config, data.get("categories", {}))
    smtp = _table(data, "smtp")
    _fill(config.smtp, smtp, "smtp")
    config.smtp.password = os.environ.get(setting_value("routing.smtp", smtp, "password_env", str, "RESPONSEMASTER_SMTP_PASSWORD"),
                                          config.smtp.password)
    webhook = _table(data, "webhook")
    config.webhook_url = setting_value("routing.webhook", webhook, "url", str, config.webhook_url)
    config.webhook_timeout = setting_value("routing.webhook", webhook, "timeout", float, config.webhook_timeout)
    headers = webhook.get("headers", {})
    if not isinstance(headers, dict):
        raise SettingError("[routing.webhook] headers", 'must be a table of "Header" = "value"')
    config.webhook_headers = {str(k): setting_value("routing.webhook.headers", headers, k, str, "") for k in headers}
    _fill(config.bounce_score, _table(data, "bounce_score"), "bounce_score")
    _fill(config.outbox, _table(data, "outbox"), "outbox")
    _validate(config)
    return config


def _strings(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SettingError(name, "must be a list of strings")
    return list(value)


def _table(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[routing.{name}] must be a table")
    return value


def _load_categories(config: RoutingConfig, categories: Any) -> None:
    if not isinstance(categories, dict):
        raise ConfigError("[routing.categories] must be a table of categories")
    for category, table in categories.items():
        if category not in CATEGORIES:
            raise ConfigError(f"[routing.categories.{category}]: unknown category (one of {', '.join(CATEGORIES)})")
        if "actions" in table:
            actions = table["actions"]
            if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
                raise ConfigError(f"[routing.categories.{category}] actions must be a list of strings")
            config.actions[category] = list(actions)
        if "folder" in table:
            config.folders[category] = str(table["folder"])


def _fill(target: Any, values: dict[str, Any], table: str) -> None:
    """Set ``target``'s fields from ``[routing.<table>]``, each of its field's type (dicts: of numbers)."""
    for key, value in values.items():
        if key == "password_env":
            continue
        if not hasattr(target, key):
            raise SettingError(f"[routing.{table}] {key}", "unknown setting")
        current = getattr(target, key)
        if isinstance(current, dict):
            if not isinstance(value, dict):
                raise SettingError(f"[routing.{table}] {key}", "must be a table")
            setattr(target, key, {str(k): setting_value(f"routing.{table}.{key}", value, k, float, 0.0) for k in value})
        else:
            setattr(target, key, setting_value(f"routing.{table}", values, key, type(current), current))


def _validate(config: RoutingConfig) -> None:
    from responsemaster.routing.dispositions import DISPOSITIONS

    for category, actions in config.actions.items():
        for name, _arg in (_split(a) for a in actions):
            if name not in DISPOSITIONS:
                raise ConfigError(
                    f"[routing.categories.{category}]: unknown action {name!r} (one of {', '.join(sorted(DISPOSITIONS))})"
                )
    if not 0.0 <= config.prune_confidence <= 1.0:
        raise ConfigError("[routing] prune_confidence must be between 0 (always prune) and 1 (always ask a person)")
    if not 0.0 <= config.bounce_score.reset_factor <= 1.0:
        raise ConfigError("[routing.bounce_score] reset_factor must be between 0 (reset) and 1 (keep)")
    if config.smtp.tls not in ("none", "starttls", "ssl"):
        raise ConfigError("[routing.smtp] tls must be none, starttls or ssl")
    longest = max(config.smtp.timeout, config.webhook_timeout)
    if config.outbox.lease_seconds <= longest:
        raise ConfigError(
            f"[routing.outbox] lease_seconds ({config.outbox.lease_seconds:g}) must exceed the SMTP and webhook "
            f"timeouts ({longest:g}): otherwise a slow send could be taken over and sent twice"
        )
