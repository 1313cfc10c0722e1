"""The ``[api]`` table of the configuration file, with safe defaults.

    [api]
    host = "127.0.0.1"          # the API listens on 127.0.0.1:8025 by default
    port = 8025
    metrics_public = true       # /metrics and /health without a key (for Prometheus)
    trusted_proxies = []        # X-Forwarded-For is believed only from these addresses
    secure_cookies = "auto"     # session cookie Secure unless plain HTTP on loopback; true / false to force
    session_hours = 12          # a sign-in to the review page or the console lasts this long
    training_data = ""          # default: [classify] training_data, ./training_data, the repo's
    key_cache_seconds = 2       # a revoked key stops working within this time (0: check every request)
    serve_with_run = true       # `responsemaster run` also serves the API and the review page
    log_level = ""              # uvicorn's level; default "info" under `serve` (access log), "warning" under `run`
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from responsemaster.config import SettingError, Settings, setting_value

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8025


@dataclass(frozen=True)
class ApiSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    metrics_public: bool = True
    trusted_proxies: frozenset[str] = field(default_factory=frozenset)
    #: None ("auto"): Secure unless the connection is plain HTTP on loopback (:func:`api.sessions.cookie_secure`).
    secure_cookies: bool | None = None
    session_hours: float = 12.0
    training_data: Path | None = None
    key_cache_seconds: float = 2.0
    serve_with_run: bool = True
    log_level: str = ""
    #: Seconds past which a console aggregate is kept and reused (api/kept.py); a huge value keeps none.
    keep_results_slower_than: float = 0.05

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiSettings:
        data = settings.section("api")
        training = setting_value("api", data, "training_data", str, "")
        path = None
        if training:
            path = Path(training)
            path = path if path.is_absolute() else settings.base_dir / path
        proxies = data.get("trusted_proxies", [])
        if not isinstance(proxies, list):
            raise SettingError("[api] trusted_proxies", "must be a list of addresses")
        return cls(
            host=setting_value("api", data, "host", str, DEFAULT_HOST),
            port=setting_value("api", data, "port", int, DEFAULT_PORT),
            metrics_public=setting_value("api", data, "metrics_public", bool, True),
            trusted_proxies=frozenset(str(p) for p in proxies),
            secure_cookies=_tri_state(data.get("secure_cookies", "auto"), "secure_cookies"),
            session_hours=_positive(setting_value("api", data, "session_hours", float, 12.0), "session_hours"),
            training_data=path,
            key_cache_seconds=setting_value("api", data, "key_cache_seconds", float, 2.0),
            serve_with_run=setting_value("api", data, "serve_with_run", bool, True),
            log_level=setting_value("api", data, "log_level", str, "").lower(),
            keep_results_slower_than=_positive(setting_value("api", data, "keep_results_slower_than", float, 0.05),
                                               "keep_results_slower_than"),
        )

    def training_dir(self, settings: Settings) -> Path:
        """Where relabelled messages go: the folder ``responsemaster train`` reads."""
        if self.training_data is not None:
            return self.training_data
        from responsemaster.classify.model.training import default_data_dir

        return default_data_dir(settings)


def _tri_state(value: object, name: str) -> bool | None:
    if value in ("auto", None):
        return None
    if isinstance(value, bool):
        return value
    raise SettingError(f"[api] {name}", f'must be true, false or "auto", got {value!r}')


def _positive(value: float, name: str) -> float:
    if value <= 0:
        raise SettingError(f"[api] {name}", f"must be a positive number, got {value!r}")
    return value
