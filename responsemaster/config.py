"""One TOML file configures everything; every setting has a safe default.

Without ``--config`` the commands read ``./responsemaster.toml`` when it
exists, else the embedded defaults of SPEC section 10. Secrets may come from
environment variables, which override the file. Settings are passed down
explicitly; nothing imports a global configuration.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CONFIG_FILE = Path("responsemaster.toml")
REPO_MODELS = Path(__file__).resolve().parent.parent / "models"


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid."""


@dataclass
class ClassifySettings:
    #: Extra rules files, applied on top of the shipped rules in this order.
    rules_files: list[Path] = field(default_factory=list)
    #: Where trained models live (``models/CURRENT`` names the one in use).
    models_dir: Path = REPO_MODELS
    #: Set to false to run structure and rules only.
    use_model: bool = True


@dataclass
class Settings:
    """Everything a command needs, resolved against the config file's folder."""

    base_dir: Path = field(default_factory=Path.cwd)
    var_dir: Path = Path("var")
    database_url: str = ""
    classify: ClassifySettings = field(default_factory=ClassifySettings)
    #: Raw sections this module does not model yet (sources, routing, mailer, ...),
    #: read by the subsystems that own them.
    sections: dict[str, Any] = field(default_factory=dict)

    @property
    def var(self) -> Path:
        return self.var_dir if self.var_dir.is_absolute() else self.base_dir / self.var_dir

    def section(self, name: str) -> dict[str, Any]:
        value = self.sections.get(name, {})
        return value if isinstance(value, dict) else {}


def is_loopback_host(host: str) -> bool:
    """``localhost`` (or a name under it), 127.0.0.0/8 or ::1: reachable from this machine only."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(path: Path | str | None = None) -> Settings:
    """Settings from ``path``, ``./responsemaster.toml`` or the embedded defaults."""
    if path is None:
        if not DEFAULT_CONFIG_FILE.exists():
            return _finish(Settings(), {})
        path = DEFAULT_CONFIG_FILE
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such configuration file") from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from exc
    return _finish(Settings(base_dir=path.resolve().parent), data)


def _finish(settings: Settings, data: dict[str, Any]) -> Settings:
    base = settings.base_dir
    settings.sections = data
    if "var_dir" in data:
        settings.var_dir = Path(data["var_dir"])
    classify = data.get("classify", {})
    if not isinstance(classify, dict):
        raise ConfigError("[classify] must be a table")
    settings.classify.rules_files = [_resolve(base, p) for p in classify.get("rules_files", [])]
    if "models_dir" in classify:
        settings.classify.models_dir = _resolve(base, classify["models_dir"])
    settings.classify.use_model = bool(classify.get("use_model", True))
    database = data.get("database", {})
    url = os.environ.get("RESPONSEMASTER_DATABASE_URL") or (database.get("url") if isinstance(database, dict) else "")
    settings.database_url = url or f"sqlite:///{settings.var / 'responsemaster.db'}"
    return settings


def _resolve(base: Path, value: str | Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path
