"""Company configuration: where the data is, how its columns map, and the analysis settings.

A config is a TOML or YAML file (see ``config/demo.toml`` and
``config/cdnow.toml``). Paths inside it are relative to the config file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from analysis.core.paths import CONFIG_DIR
from analysis.data.contract import Formats, Rules

DEFAULT_SEED = 20261125
SECTION_DEFAULTS_DIR = CONFIG_DIR


@dataclasses.dataclass(frozen=True)
class Settings:
    """Analysis settings read from a config file, with sensible defaults."""

    name: str
    path: Path | None
    raw: Mapping[str, Any]
    satisfaction_scale: str | None = "csat5"
    seed: int = DEFAULT_SEED
    churn_days: int = 180
    period_months: int = 1
    fiscal_start_month: int = 1
    rules: Rules = dataclasses.field(default_factory=Rules)
    formats: Formats = dataclasses.field(default_factory=Formats)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def section(self, name: str) -> dict[str, Any]:
        """A table of the config as a plain dict; falls back to config/<name>.default.toml."""
        if name in self.raw:
            return dict(self.raw[name])
        default = SECTION_DEFAULTS_DIR / f"{name}.default.toml"
        if default.exists():
            data = tomllib.loads(default.read_text())
            return dict(data.get(name, data))
        return {}

    def resolve(self, path: str | Path) -> Path:
        path = Path(path)
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    def fingerprint(self) -> str:
        """Stable hash of the config's content (for caches)."""
        return hashlib.sha256(
            json.dumps(self.raw, sort_keys=True, default=str).encode()
        ).hexdigest()[:16]


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"config file {path} does not exist; see config/demo.toml for an example"
        )
    text = path.read_text()
    if path.suffix in {".yml", ".yaml"}:
        return yaml.safe_load(text) or {}
    if path.suffix == ".toml":
        return tomllib.loads(text)
    raise ValueError(f"config {path}: use a .toml or .yaml file")


def load_settings(config: str | Path | Mapping[str, Any]) -> Settings:
    """Settings from a config file path, or from an already-parsed mapping."""
    if isinstance(config, Mapping):
        raw, path = dict(config), None
    else:
        path = Path(config).resolve()
        raw = read_config_file(path)
    periods = raw.get("periods", {})
    churn = raw.get("churn", {})
    formats = raw.get("formats", {})
    if "currency_symbols" in formats:
        formats = {**formats, "currency_symbols": tuple(formats["currency_symbols"])}
    rules = raw.get("rules", {})
    if "cancelled_values" in rules:
        rules = {**rules, "cancelled_values": tuple(v.lower() for v in rules["cancelled_values"])}
    settings = Settings(
        name=str(raw.get("name", path.stem if path else "inline")),
        path=path,
        raw=raw,
        satisfaction_scale=raw.get("satisfaction_scale", "csat5"),
        seed=int(raw.get("seed", DEFAULT_SEED)),
        churn_days=int(churn.get("inactivity_days", 180)),
        period_months=int(periods.get("months", 1)),
        fiscal_start_month=int(periods.get("fiscal_start_month", 1)),
        rules=Rules(**rules),
        formats=Formats(**formats),
    )
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    where = f"config {settings.path or settings.name}"
    if settings.period_months not in {1, 2, 3, 4, 6, 12}:
        raise ValueError(f"{where}: periods.months must divide 12 (1, 2, 3, 4, 6 or 12)")
    if not 1 <= settings.fiscal_start_month <= 12:
        raise ValueError(f"{where}: periods.fiscal_start_month must be 1..12")
    if settings.churn_days <= 0:
        raise ValueError(f"{where}: churn.inactivity_days must be a positive number of days")
    if "source" not in settings.raw:
        raise ValueError(f"{where}: needs a [source] table (kind and path or url)")
