"""The ``[api]`` table of the configuration file, with the SPEC's safe defaults.

    [api]
    host = "127.0.0.1"          # SPEC section 10: the API listens on 127.0.0.1:8025
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

from responsemaster.config import ConfigError, Settings

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

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiSettings:
        data = settings.section("api")
        training = str(data.get("training_data", "") or "")
        path = None
        if training:
            path = Path(training)
            path = path if path.is_absolute() else settings.base_dir / path
        return cls(
            host=str(data.get("host", DEFAULT_HOST)),
            port=int(data.get("port", DEFAULT_PORT)),
            metrics_public=bool(data.get("metrics_public", True)),
            trusted_proxies=frozenset(str(p) for p in data.get("trusted_proxies", [])),
            secure_cookies=_tri_state(data.get("secure_cookies", "auto"), "secure_cookies"),
            session_hours=_positive(data.get("session_hours", 12.0), "session_hours"),
            training_data=path,
            key_cache_seconds=float(data.get("key_cache_seconds", 2.0)),
            serve_with_run=bool(data.get("serve_with_run", True)),
            log_level=str(data.get("log_level", "") or "").lower(),
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
    raise ConfigError(f'[api] {name} must be true, false or "auto", not {value!r}')


def _positive(value: object, name: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = 0.0
    if number <= 0:
        raise ConfigError(f"[api] {name} must be a positive number, not {value!r}")
    return number
