"""Typed settings, read once from ``VERROU_*`` environment variables and passed in.

Nothing in verrou reads the environment at import time: the CLI (and later the app factory) calls
:func:`Settings.from_env` once and hands the object down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from verrou.errors import ConfigError


def _config_file(name: str) -> Path:
    # Keys never live beside the data they protect: the default is the user's config folder,
    # not the working directory where the SQLite registry is created.
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "verrou" / name


def _default_key_file() -> Path:
    return _config_file("fingerprint.key")


def _default_signing_key_file() -> Path:
    return _config_file("signing.key")


def _default_contact_key_file() -> Path:
    return _config_file("contact.key")


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
    Setting(
        "VERROU_SIGNING_KEY_FILE",
        "Ed25519 key that signs verdicts (PEM, mode 0600, created by `verrou keys init`). "
        "Default ~/.config/verrou/signing.key.",
    ),
    Setting(
        "VERROU_CONTACT_KEY_FILE",
        "Key that seals citizens' alert contacts (AES-256-GCM, mode 0600, created by "
        "`verrou keys init`). Default ~/.config/verrou/contact.key.",
    ),
    Setting(
        "VERROU_RATE_LIMIT",
        "Checks a relying party may make per minute, unless its own limit is set "
        "(default 600; bursts up to a tenth of it).",
    ),
    Setting(
        "VERROU_VERDICT_TTL",
        "Seconds a signed verdict stays valid (its valid_until; default 900).",
    ),
    Setting(
        "VERROU_AUTH_CACHE_SECONDS",
        "Seconds the server keeps a relying party's key in memory after a lookup (default 5; "
        "a revoked key stops working within this time; 0 = look up every request).",
    ),
    Setting(
        "VERROU_RECORDER",
        "Where the API records checks: process (default: a child process that canonicalises, "
        "decides, audits and signs on its own core) or thread (inside the web process).",
    ),
    Setting(
        "VERROU_SMTP_URL",
        "SMTP server for email alerts, smtp://host:port (default none: email alerts wait "
        "in the outbox).",
    ),
    Setting(
        "VERROU_ALERT_SENDER",
        "From address of email alerts (default alertes@verrou.invalid).",
    ),
    Setting(
        "VERROU_ALERT_WINDOW",
        "Seconds of one alert window: a relying party's checks of one owner's identity in a "
        "window make one alert that counts them (default 900, 1-86,400).",
    ),
    Setting(
        "VERROU_WEBHOOK_SECRET",
        "Secret that signs webhook alerts (HMAC-SHA256), hex or base64, at least 32 bytes "
        "(default none: webhook alerts wait in the outbox).",
    ),
    Setting(
        "VERROU_METRICS_TOKEN",
        "Bearer token that may read the API's /metrics, at least 32 characters (default none: "
        "/metrics answers 404 to everyone).",
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
    signing_key_file: Path = field(default_factory=_default_signing_key_file)
    contact_key_file: Path = field(default_factory=_default_contact_key_file)
    rate_limit: int = 600
    verdict_ttl: int = 900
    auth_cache_seconds: int = 5
    recorder: str = "process"
    smtp_url: str | None = None
    alert_sender: str = "alertes@verrou.invalid"
    webhook_secret: str | None = field(default=None, repr=False)
    alert_window: int = 900
    metrics_token: str | None = field(default=None, repr=False)

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
        if "VERROU_SIGNING_KEY_FILE" in env:
            values["signing_key_file"] = Path(env["VERROU_SIGNING_KEY_FILE"]).expanduser()
        if "VERROU_CONTACT_KEY_FILE" in env:
            values["contact_key_file"] = Path(env["VERROU_CONTACT_KEY_FILE"]).expanduser()
        if "VERROU_RATE_LIMIT" in env:
            values["rate_limit"] = _int_setting(env, "VERROU_RATE_LIMIT", 1, 10_000_000)
        if "VERROU_VERDICT_TTL" in env:
            values["verdict_ttl"] = _int_setting(env, "VERROU_VERDICT_TTL", 1, 86_400 * 30)
        if "VERROU_AUTH_CACHE_SECONDS" in env:
            values["auth_cache_seconds"] = _int_setting(env, "VERROU_AUTH_CACHE_SECONDS", 0, 3600)
        if env.get("VERROU_RECORDER"):
            values["recorder"] = env["VERROU_RECORDER"]
        if env.get("VERROU_SMTP_URL"):
            values["smtp_url"] = env["VERROU_SMTP_URL"]
        if env.get("VERROU_ALERT_SENDER"):
            values["alert_sender"] = env["VERROU_ALERT_SENDER"]
        if "VERROU_ALERT_WINDOW" in env:
            values["alert_window"] = _int_setting(env, "VERROU_ALERT_WINDOW", 1, 86_400)
        if env.get("VERROU_WEBHOOK_SECRET"):
            values["webhook_secret"] = env["VERROU_WEBHOOK_SECRET"]
        if env.get("VERROU_METRICS_TOKEN"):
            values["metrics_token"] = env["VERROU_METRICS_TOKEN"]
        known = {f.name for f in fields(cls)}
        values.update({k: v for k, v in overrides.items() if v is not None and k in known})
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse settings that cannot work, with a sentence that names the variable."""
        scheme = self.database_url.split(":", 1)[0]
        if scheme not in ("sqlite", "postgresql", "postgres"):
            from verrou.store.urls import redacted_url  # on this error only: a light module

            raise ConfigError(
                "VERROU_DATABASE_URL must start with sqlite:/// or postgresql://, got "
                + redacted_url(self.database_url)
            )
        if not 1_000 <= self.batch_rows <= 1_000_000:
            raise ConfigError("VERROU_BATCH_ROWS must be between 1,000 and 1,000,000")
        if self.workers < 0:
            raise ConfigError("VERROU_WORKERS must be 0 or more")
        if self.rate_limit < 1:
            raise ConfigError("VERROU_RATE_LIMIT must be at least 1 check a minute")
        if self.verdict_ttl < 1:
            raise ConfigError("VERROU_VERDICT_TTL must be at least 1 second")
        if self.auth_cache_seconds < 0:
            raise ConfigError("VERROU_AUTH_CACHE_SECONDS must be 0 or more")
        if self.recorder not in ("process", "thread"):
            raise ConfigError("VERROU_RECORDER must be process or thread")
        if not 1 <= self.alert_window <= 86_400:
            raise ConfigError("VERROU_ALERT_WINDOW must be between 1 and 86,400 seconds")
        if self.smtp_url is not None:
            smtp_address(self.smtp_url)
        if self.metrics_token is not None and len(self.metrics_token) < 32:
            raise ConfigError("VERROU_METRICS_TOKEN must be at least 32 characters")

    @property
    def smtp(self) -> tuple[str, int] | None:
        """(host, port) of the SMTP server for email alerts, or None when not configured."""
        return None if self.smtp_url is None else smtp_address(self.smtp_url)


def smtp_address(url: str) -> tuple[str, int]:
    """(host, port) from ``smtp://host[:port]``; ConfigError naming VERROU_SMTP_URL otherwise."""
    parsed = urlsplit(url)
    try:
        port = parsed.port or 25
    except ValueError:
        raise ConfigError("VERROU_SMTP_URL has an invalid port") from None
    if parsed.scheme != "smtp" or not parsed.hostname:
        raise ConfigError("VERROU_SMTP_URL must look like smtp://host:port")
    return parsed.hostname, port


def _int_setting(env: Mapping[str, str], name: str, low: int, high: int) -> int:
    raw = env[name].replace("_", "").replace(",", "")
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {env[name]!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:,} and {high:,}, got {value:,}")
    return value
