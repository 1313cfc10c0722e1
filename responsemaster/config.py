"""One TOML file configures everything; every setting has a safe default.

Without ``--config`` the commands read ``./responsemaster.toml`` when it
exists, else the embedded defaults (docs/configuration.md). Secrets may come
from environment variables, which override the file. Settings are passed down
explicitly; nothing imports a global configuration.

A wrong setting is a :class:`SettingError` naming it as the file spells it
(``[verp] keys.k1``): the command line prints that one line and exits, with no
traceback, whichever command read the setting. :func:`setting_value` reads a
typed value from a table and says which setting is wrong when it is not.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_CONFIG_FILE = Path("responsemaster.toml")
REPO_MODELS = Path(__file__).resolve().parent.parent / "models"


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid."""


class SettingError(ConfigError):
    """One setting is wrong; ``setting`` names it as written in the file (``[mailer] batch_size``)."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting}: {problem}")


_KINDS: dict[type, str] = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


def setting_value(table: str, data: Mapping[str, Any], key: str, kind: type[T], default: T) -> T:
    """``data[key]`` as ``kind`` (bool, int, float or str), ``default`` when absent.

    ``table`` is the TOML table's name as a user writes it (``mailer``,
    ``mailer.relays``; ``""`` for the top level); a value of the wrong type raises :class:`SettingError`
    naming ``[table] key`` instead of failing later with a traceback.
    """
    if key not in data:
        return default
    value = data[key]
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise SettingError(f"[{table}] {key}" if table else key, f"must be {_KINDS.get(kind, kind.__name__)}, got {value!r}")
    return value  # type: ignore[no-any-return]


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
    for name, value in data.items():
        if name in _TABLES and not isinstance(value, dict):
            raise SettingError(f"[{name}]", "must be a table")
    if "var_dir" in data:
        settings.var_dir = Path(setting_value("", data, "var_dir", str, ""))
    classify = data.get("classify", {})
    rules_files = classify.get("rules_files", [])
    if not isinstance(rules_files, list) or not all(isinstance(p, str) for p in rules_files):
        raise SettingError("[classify] rules_files", "must be a list of file names")
    settings.classify.rules_files = [_resolve(base, p) for p in rules_files]
    if "models_dir" in classify:
        settings.classify.models_dir = _resolve(base, setting_value("classify", classify, "models_dir", str, ""))
    settings.classify.use_model = setting_value("classify", classify, "use_model", bool, True)
    url = os.environ.get("RESPONSEMASTER_DATABASE_URL") or setting_value("database", data.get("database", {}), "url", str, "")
    settings.database_url = url or f"sqlite:///{settings.var / 'responsemaster.db'}"
    return settings


#: Top-level names that must be tables when present (``[[sources]]`` is an array of tables).
_TABLES = ("classify", "database", "queue", "worker", "routing", "receiver", "verp", "mailer", "api")


def _resolve(base: Path, value: str | Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path
