"""Typed settings, read once from ``VERROU_*`` environment variables and passed in.

Nothing in verrou reads the environment at import time: the CLI (and later the app factory) calls
:func:`Settings.from_env` once and hands the object down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from verrou.errors import ConfigError


def _default_key_file() -> Path:
    # Keys never live beside the data they protect: the default is the user's config folder,
    # not the working directory where the SQLite registry is created.
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "verrou" / "fingerprint.key"


@dataclass(frozen=True)
class Setting:
    """Documentation of one environment variable (the README table is checked against these)."""

    env: str
    help: str


SETTINGS_DOC: tuple[Setting, ...] = (
    Setting(
        "VERROU_DATABASE_URL",
        "Registry store: sqlite:///path/to/file.sqlite3 (default "
        "sqlite:///verrou.sqlite3) or postgresql://user@host:port/db.",
    ),
    Setting(
        "VERROU_KEY_FILE",
        "Fingerprint key file (created by `verrou keys init`, mode 0600). "
        "Default ~/.config/verrou/fingerprint.key.",
    ),
    Setting(
        "VERROU_KEY",
        "Fingerprint key given directly, hex or base64 (at least 32 bytes); "
        "takes precedence over VERROU_KEY_FILE. For containers with a secret store.",
    ),
    Setting(
        "VERROU_BATCH_ROWS",
        "Rows per ingest batch (default 32768, 1,000-1,000,000); memory grows with it.",
    ),
    Setting("VERROU_WORKERS", "Ingest worker processes (default: number of CPUs, 0 = in-process)."),
    Setting(
        "VERROU_REPORT_DIR",
        "Folder for ingest reports of rejected rows (default ./verrou-reports).",
    ),
)


@dataclass(frozen=True)
class Settings:
    """Every knob of verrou, validated at start."""

    database_url: str = "sqlite:///verrou.sqlite3"
    key_file: Path = field(default_factory=_default_key_file)
    key_value: str | None = field(default=None, repr=False)
    batch_rows: int = 32768
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    report_dir: Path = Path("verrou-reports")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``VERROU_*`` variables (``environ`` defaults to ``os.environ``); overrides win."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        if "VERROU_DATABASE_URL" in env:
            values["database_url"] = env["VERROU_DATABASE_URL"]
        if "VERROU_KEY_FILE" in env:
            values["key_file"] = Path(env["VERROU_KEY_FILE"]).expanduser()
        if env.get("VERROU_KEY"):
            values["key_value"] = env["VERROU_KEY"]
        if "VERROU_BATCH_ROWS" in env:
            values["batch_rows"] = _int_setting(env, "VERROU_BATCH_ROWS", 1_000, 1_000_000)
        if "VERROU_WORKERS" in env:
            values["workers"] = _int_setting(env, "VERROU_WORKERS", 0, 64)
        if "VERROU_REPORT_DIR" in env:
            values["report_dir"] = Path(env["VERROU_REPORT_DIR"]).expanduser()
        known = {f.name for f in fields(cls)}
        values.update({k: v for k, v in overrides.items() if v is not None and k in known})
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse settings that cannot work, with a sentence that names the variable."""
        scheme = self.database_url.split(":", 1)[0]
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ConfigError(
                f"VERROU_DATABASE_URL must start with sqlite:/// or postgresql://, got {scheme}://"
            )
        if not 1_000 <= self.batch_rows <= 1_000_000:
            raise ConfigError("VERROU_BATCH_ROWS must be between 1,000 and 1,000,000")
        if self.workers < 0:
            raise ConfigError("VERROU_WORKERS must be 0 or more")


def _int_setting(env: Mapping[str, str], name: str, low: int, high: int) -> int:
    raw = env[name].replace("_", "").replace(",", "")
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {env[name]!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:,} and {high:,}, got {value:,}")
    return value
