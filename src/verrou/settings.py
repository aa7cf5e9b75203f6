"""Typed settings, read once from ``VERROU_*`` environment variables and passed in.

Nothing in verrou reads the environment at import time: the CLI (and the app factory's callers)
call :meth:`Settings.from_env` once and hand the object down.

Each setting is declared once, as a field of :class:`Settings` made by :func:`setting`: its
variable, type, default, parser, range or allowed values, help line and whether it is a secret.
Reading, validation, the README's configuration table (checked by a test) and the CLI options
that share a range all derive from these declarations (:data:`SETTINGS`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from verrou.errors import ConfigError
from verrou.identifiers.kinds import LOOKUP_KINDS, Kind

T = TypeVar("T")

_METADATA_KEY = "verrou.setting"


class _Unreadable(ValueError):
    """The text of a variable is not what its parser reads; the message says what it should be."""


@dataclass(frozen=True)
class Setting:
    """The declaration of one ``VERROU_*`` variable and the :class:`Settings` field it fills."""

    env: str
    help: str  # the variable's row in the README's configuration table, word for word
    parse: Callable[[str], object]  # the variable's text to the field's value; None: unset
    default: object = None  # dataclasses.MISSING when default_factory gives it
    default_factory: Callable[[], object] | None = None
    between: tuple[int, int] | None = None  # lowest and highest whole number, both allowed
    choices: tuple[str, ...] = ()
    min_length: int | None = None
    check: Callable[[Any], object] | None = None  # raises ConfigError naming the variable
    secret: bool = False  # never in a repr nor in an error
    name: str = ""  # the Settings field, filled in from the dataclass (see SETTINGS)

    @property
    def bounds(self) -> tuple[int, int]:
        """(lowest, highest) value of a whole-number setting, for CLI options that mirror it."""
        if self.between is None:
            raise TypeError(f"{self.env} has no range")
        return self.between

    def _refuse_out_of_range(self, value: Any) -> None:
        if self.between is not None and not self.between[0] <= value <= self.between[1]:
            low, high = self.between
            got = "" if self.secret else f", got {value:,}"
            raise ConfigError(f"{self.env} must be between {low:,} and {high:,}{got}")

    def read(self, text: str) -> object:
        """The value of the variable's ``text``, or None when the text counts as unset.

        A whole number is held to its range as it is read, so that of several wrong variables
        the first wrong number is the one reported, before any other rule.
        """
        try:
            value = self.parse(text)
        except _Unreadable as exc:
            got = "" if self.secret else f", got {text!r}"
            raise ConfigError(f"{self.env} must be {exc}{got}") from None
        self._refuse_out_of_range(value)
        return value

    def refuse_invalid(self, value: Any) -> None:
        """ConfigError naming the variable when ``value`` breaks the declared rule."""
        self._refuse_out_of_range(value)
        if self.choices and value not in self.choices:
            raise ConfigError(f"{self.env} must be {' or '.join(self.choices)}")
        if self.min_length is not None and len(value) < self.min_length:
            raise ConfigError(f"{self.env} must be at least {self.min_length} characters")
        if self.check is not None:
            self.check(value)


def setting(
    env: str,
    help: str,
    *,
    parse: Callable[[str], T | None],
    default: T | Any = MISSING,
    default_factory: Callable[[], T] | None = None,
    between: tuple[int, int] | None = None,
    choices: tuple[str, ...] = (),
    min_length: int | None = None,
    check: Callable[[T], object] | None = None,
    secret: bool = False,
) -> T:
    """A :class:`Settings` field declared by its variable (see :class:`Setting`).

    Typed as the field's value so that mypy sees the dataclass's real field types.
    """
    declared = Setting(
        env=env,
        help=help,
        parse=parse,
        default=default,
        default_factory=default_factory,
        between=between,
        choices=choices,
        min_length=min_length,
        check=check,
        secret=secret,
    )
    metadata = {_METADATA_KEY: declared}
    if default_factory is not None:
        made: T = field(default_factory=default_factory, repr=not secret, metadata=metadata)
    else:
        made = field(default=default, repr=not secret, metadata=metadata)
    return made


# --- parsers: a variable's text to a value (None: the variable counts as unset) ----------------


def _verbatim(text: str) -> str:
    return text  # set but empty is still set, and refused by its check


def _text(text: str) -> str | None:
    return text or None  # set but empty counts as unset


def _path(text: str) -> Path:
    return Path(text).expanduser()


def _whole_number(text: str) -> int:
    try:
        return int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise _Unreadable("a whole number") from None


def _lookup_kinds(text: str) -> tuple[Kind, ...]:
    # Comma-separated kinds, `all` or `none`; in LOOKUP_KINDS order, each once.
    words = {word.strip().lower() for word in text.split(",") if word.strip()}
    if words == {"all"}:
        return LOOKUP_KINDS
    if words <= {"none"}:
        return ()
    allowed = {kind.value for kind in LOOKUP_KINDS}
    if not words <= allowed:
        raise _Unreadable("all, none or kinds among " + ", ".join(sorted(allowed)))
    return tuple(kind for kind in LOOKUP_KINDS if kind.value in words)


# --- checks beyond a range, allowed values or a length -----------------------------------------


def _registry_url(url: str) -> None:
    scheme = url.split(":", 1)[0]
    if scheme not in ("sqlite", "postgresql", "postgres"):
        from verrou.store.urls import redacted_url  # on this error only: a light module

        raise ConfigError(
            "VERROU_DATABASE_URL must start with sqlite:/// or postgresql://, got "
            + redacted_url(url)
        )


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


def _email_check(env: str, *, domain: bool = False) -> Callable[[str], None]:
    """A check that the value is an email address (``domain``: the domain of one), as the
    email canonicaliser reads it; its reason never quotes the value."""

    def check(value: str) -> None:
        from verrou.errors import InvalidIdentifier  # on this check only: light modules
        from verrou.identifiers.contact import canonical_email

        try:
            canonical_email(f"canary@{value}" if domain else value)
        except InvalidIdentifier as exc:
            what = "an email domain" if domain else "an email address"
            raise ConfigError(f"{env} is not {what}: {exc.reason}") from None

    return check


#: The assurance levels FranceConnect (eidas1) and FranceConnect+ (eidas2, eidas3) state in
#: ``acr``, weakest first.
ACR_LEVELS: tuple[str, ...] = ("eidas1", "eidas2", "eidas3")
#: What the citizen sign-in asks FranceConnect for: one scope per claim (see REFERENCE).
FRANCECONNECT_SCOPE = (
    "openid given_name family_name preferred_username birthdate birthplace birthcountry "
    "gender email"
)


def _words(text: str) -> str | None:
    # Space-separated words, each once, in the order given; blank counts as unset.
    return " ".join(dict.fromkeys(text.split())) or None


def _acr_levels(levels: str) -> None:
    given = levels.split()
    if not given or any(level not in ACR_LEVELS for level in given):
        raise ConfigError(f"VERROU_OIDC_ACR must list levels among {' '.join(ACR_LEVELS)}")


def _web_url(env: str) -> Callable[[str], None]:
    """A check that ``url`` is an https URL, or http to loopback only (tests, one machine)."""

    def check(url: str) -> None:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - validates the port
        except ValueError:
            raise ConfigError(f"{env} is not a valid URL") from None
        loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
        if not parts.hostname or parts.scheme not in ("http", "https"):
            raise ConfigError(f"{env} must be an https:// URL")
        if parts.scheme == "http" and not loopback:
            raise ConfigError(f"{env} must be https:// (plain http only to localhost)")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ConfigError(f"{env} must have no user, password, query or fragment")

    return check


def _scope(scope: str) -> None:
    if "openid" not in scope.split():
        raise ConfigError("VERROU_OIDC_SCOPE must include openid")


# --- defaults computed at start ----------------------------------------------------------------


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


def _default_session_key_file() -> Path:
    return _config_file("session.key")


def _default_oprf_key_file() -> Path:
    return _config_file("oprf.key")


def _cpu_count() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Settings:
    """Every knob of verrou, validated at start."""

    database_url: str = setting(
        "VERROU_DATABASE_URL",
        "Registry store: `sqlite:///path/file.sqlite3` (default `sqlite:///verrou.sqlite3`) "
        "or `postgresql://user@host:port/db` (production).",
        parse=_verbatim,
        default="sqlite:///verrou.sqlite3",
        check=_registry_url,
    )
    key_file: Path = setting(
        "VERROU_KEY_FILE",
        "Fingerprint key file, created by `verrou keys init` (mode 0600). "
        "Default `~/.config/verrou/fingerprint.key` — never beside the database.",
        parse=_path,
        default_factory=_default_key_file,
    )
    key_value: str | None = setting(
        "VERROU_KEY",
        "The key itself, hex or base64, at least 32 bytes; wins over the key file "
        "(for secret stores).",
        parse=_text,
        default=None,
        secret=True,
    )
    batch_rows: int = setting(
        "VERROU_BATCH_ROWS",
        "Rows per ingest batch (default 32,768; peak memory grows with it, speed barely changes).",
        parse=_whole_number,
        default=32768,
        between=(1_000, 1_000_000),
    )
    workers: int = setting(
        "VERROU_WORKERS",
        "Ingest worker processes (default: the CPU count; 0 = in-process).",
        parse=_whole_number,
        default_factory=_cpu_count,
        between=(0, 64),
    )
    report_dir: Path = setting(
        "VERROU_REPORT_DIR",
        "Where rejected-row reports go (default `./verrou-reports`).",
        parse=_path,
        default=Path("verrou-reports"),
    )
    signing_key_file: Path = setting(
        "VERROU_SIGNING_KEY_FILE",
        "Ed25519 key that signs verdicts (PEM, 0600, made by `verrou keys init`). "
        "Default `~/.config/verrou/signing.key`.",
        parse=_path,
        default_factory=_default_signing_key_file,
    )
    contact_key_file: Path = setting(
        "VERROU_CONTACT_KEY_FILE",
        "Key that seals citizens' alert contacts (AES-256-GCM, 0600, made by "
        "`verrou keys init`). Default `~/.config/verrou/contact.key`.",
        parse=_path,
        default_factory=_default_contact_key_file,
    )
    rate_limit: int = setting(
        "VERROU_RATE_LIMIT",
        "Checks per minute a relying party may make unless `verrou rp create --rate-limit` "
        "set its own (default 600; bursts up to a tenth of it).",
        parse=_whole_number,
        default=600,
        between=(1, 10_000_000),
    )
    verdict_ttl: int = setting(
        "VERROU_VERDICT_TTL",
        "Seconds a signed verdict stays valid, its `valid_until` (default 900).",
        parse=_whole_number,
        default=900,
        between=(1, 86_400 * 30),
    )
    auth_cache_seconds: int = setting(
        "VERROU_AUTH_CACHE_SECONDS",
        "Seconds the server remembers a relying party's key after a lookup (default 5): "
        "a revoked key stops working within this time. 0 looks it up on every request.",
        parse=_whole_number,
        default=5,
        between=(0, 3600),
    )
    recorder: str = setting(
        "VERROU_RECORDER",
        "Where the API records checks: `process` (default: a child process that "
        "canonicalises, decides, audits and signs on its own core) or `thread` (inside the "
        "web process).",
        parse=_text,
        default="process",
        choices=("process", "thread"),
    )
    smtp_url: str | None = setting(
        "VERROU_SMTP_URL",
        "SMTP server for email alerts, `smtp://host:port` (default none: email alerts wait "
        "in the outbox).",
        parse=_text,
        default=None,
        check=smtp_address,
    )
    alert_sender: str = setting(
        "VERROU_ALERT_SENDER",
        "From address of email alerts (default `alertes@verrou.invalid`).",
        parse=_text,
        default="alertes@verrou.invalid",
    )
    alert_window: int = setting(
        "VERROU_ALERT_WINDOW",
        "Seconds of one alert window: a relying party's checks of one owner's identity in a "
        "window make one alert that counts them (default 900, 1-86,400).",
        parse=_whole_number,
        default=900,
        between=(1, 86_400),
    )
    webhook_secret: str | None = setting(
        "VERROU_WEBHOOK_SECRET",
        "Secret signing webhook alerts (HMAC-SHA256), hex or base64, at least 32 bytes "
        "(default none: webhook alerts wait).",
        parse=_text,
        default=None,
        secret=True,
    )
    operator_email: str | None = setting(
        "VERROU_OPERATOR_EMAIL",
        "Operators' email for canary incidents (the CERT's mailbox): `verrou canary create` "
        "seals it on every new canary's keys, and a check on one mails it (default none).",
        parse=_text,
        default=None,
        check=_email_check("VERROU_OPERATOR_EMAIL"),
    )
    operator_webhook: str | None = setting(
        "VERROU_OPERATOR_WEBHOOK",
        "Operators' webhook for canary incidents, `https://` (plain http to 127.0.0.1 only), "
        "signed with `VERROU_WEBHOOK_SECRET` and sealed on new canaries' keys as the email is "
        "(default none). `verrou canary create` needs one of the two.",
        parse=_text,
        default=None,
        check=_web_url("VERROU_OPERATOR_WEBHOOK"),
    )
    canary_domain: str | None = setting(
        "VERROU_CANARY_DOMAIN",
        "Email domain of new canary identities, one the operators control and nobody else "
        "writes to (default none: `verrou canary create --domain` gives it).",
        parse=_text,
        default=None,
        check=_email_check("VERROU_CANARY_DOMAIN", domain=True),
    )
    metrics_token: str | None = setting(
        "VERROU_METRICS_TOKEN",
        "Bearer token that may read the API's `/metrics` (`Authorization: Bearer <token>`), "
        "at least 32 characters. Default none: `/metrics` answers 404 to everyone.",
        parse=_text,
        default=None,
        min_length=32,
        secret=True,
    )
    oidc_issuer: str | None = setting(
        "VERROU_OIDC_ISSUER",
        "OpenID Connect provider of citizen sign-in (FranceConnect), its issuer URL; "
        "discovery reads `<issuer>/.well-known/openid-configuration`. Default none: the "
        "citizen routes answer 404 `sign_in_not_configured`.",
        parse=_text,
        default=None,
        check=_web_url("VERROU_OIDC_ISSUER"),
    )
    oidc_client_id: str | None = setting(
        "VERROU_OIDC_CLIENT_ID",
        "verrou's client id at the provider (required with `VERROU_OIDC_ISSUER`).",
        parse=_text,
        default=None,
    )
    oidc_client_secret: str | None = setting(
        "VERROU_OIDC_CLIENT_SECRET",
        "verrou's client secret at the provider (required with `VERROU_OIDC_ISSUER`).",
        parse=_text,
        default=None,
        secret=True,
    )
    oidc_acr: str = setting(
        "VERROU_OIDC_ACR",
        "Assurance levels accepted at sign-in, sent as `acr_values` (default "
        "`eidas1 eidas2 eidas3`); an ID token with another `acr` is refused.",
        parse=_words,
        default=" ".join(ACR_LEVELS),
        check=_acr_levels,
    )
    oidc_scope: str = setting(
        "VERROU_OIDC_SCOPE",
        "Scopes asked at sign-in (default FranceConnect's: `openid given_name family_name "
        "preferred_username birthdate birthplace birthcountry gender email`).",
        parse=_words,
        default=FRANCECONNECT_SCOPE,
        check=_scope,
    )
    public_url: str = setting(
        "VERROU_PUBLIC_URL",
        "The URL citizens' browsers reach verrou at; the sign-in redirect URI is "
        "`<url>/v1/citizen/callback`, and https makes cookies Secure "
        "(default `http://127.0.0.1:8000`).",
        parse=_text,
        default="http://127.0.0.1:8000",
        check=_web_url("VERROU_PUBLIC_URL"),
    )
    session_key_file: Path = setting(
        "VERROU_SESSION_KEY_FILE",
        "Key that seals citizen session tokens and the sign-in state (AES-256-GCM, 0600, made "
        "by `verrou keys init`; read only with `VERROU_OIDC_ISSUER`). Default "
        "`~/.config/verrou/session.key`.",
        parse=_path,
        default_factory=_default_session_key_file,
    )
    session_minutes: int = setting(
        "VERROU_SESSION_MINUTES",
        "Minutes a citizen session lasts after sign-in (default 60, 5-1,440).",
        parse=_whole_number,
        default=60,
        between=(5, 1_440),
    )
    reauth_minutes: int = setting(
        "VERROU_REAUTH_MINUTES",
        "Minutes after sign-in during which sensitive citizen operations are allowed "
        "without signing in again (default 10, 1-1,440).",
        parse=_whole_number,
        default=10,
        between=(1, 1_440),
    )
    operator_session_minutes: int = setting(
        "VERROU_OPERATOR_SESSION_MINUTES",
        "Minutes an operator's portal session lasts after sign-in (default 480, 5-1,440).",
        parse=_whole_number,
        default=480,
        between=(5, 1_440),
    )
    operator_sign_in_rate_limit: int = setting(
        "VERROU_OPERATOR_SIGN_IN_RATE_LIMIT",
        "Operator sign-in attempts a minute from one address (default 10, 1-1,000).",
        parse=_whole_number,
        default=10,
        between=(1, 1_000),
    )
    citizen_token_seconds: int = setting(
        "VERROU_CITIZEN_TOKEN_SECONDS",
        "Seconds a citizen bearer token from `POST /v1/citizen/token` lasts, never past its "
        "session (default 900, 60-86,400).",
        parse=_whole_number,
        default=900,
        between=(60, 86_400),
    )
    attestation_days: int = setting(
        "VERROU_ATTESTATION_DAYS",
        "Days an exposure attestation stays valid after it is issued (default 90, 1-365).",
        parse=_whole_number,
        default=90,
        between=(1, 365),
    )
    oprf_key_file: Path = setting(
        "VERROU_OPRF_KEY_FILE",
        "OPRF key of the private exposure check (RFC 9497 ristretto255, 0600, made by "
        "`verrou keys init`). Ingest indexes with it and the server answers `/v1/lookup` with "
        "it when the file exists. Default `~/.config/verrou/oprf.key`.",
        parse=_path,
        default_factory=_default_oprf_key_file,
    )
    lookup_kinds: tuple[Kind, ...] = setting(
        "VERROU_LOOKUP_KINDS",
        "Kinds ingest indexes for the private check: `all` (default: email, phone, person, "
        "nir, cni, passport, driving_licence, residence_permit), `none`, or a comma-separated "
        "list. Indexing costs about one scalar multiplication per value.",
        parse=_lookup_kinds,
        default_factory=lambda: LOOKUP_KINDS,
    )
    lookup_rate_limit: int = setting(
        "VERROU_LOOKUP_RATE_LIMIT",
        "Private-check evaluations a minute from one client address (default 30, bursts up "
        "to a tenth of it, at least one): each is a dictionary-attack oracle.",
        parse=_whole_number,
        default=30,
        between=(1, 100_000),
    )
    lookup_global_rate_limit: int = setting(
        "VERROU_LOOKUP_GLOBAL_RATE_LIMIT",
        "Private-check evaluations a minute from all clients together (default 6,000).",
        parse=_whole_number,
        default=6000,
        between=(1, 10_000_000),
    )

    def __repr__(self) -> str:
        # The dataclass repr, but for the database URL, which may carry a password: masked as
        # in every message (secrets are left out of the repr altogether by their fields).
        from verrou.store.urls import redacted_url

        shown = {spec.name: getattr(self, spec.name) for spec in fields(self) if spec.repr}
        shown["database_url"] = redacted_url(self.database_url)
        return f"Settings({', '.join(f'{name}={value!r}' for name, value in shown.items())})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``VERROU_*`` variables (``environ`` defaults to ``os.environ``); overrides win.

        Every value given, by a variable or an override, is checked against its declaration
        (ConfigError naming the variable); an override of None or of an unknown name is
        ignored. Defaults are not checked: the CPU count may exceed what an operator may set.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for declared in SETTINGS:
            if declared.env in env:
                value = declared.read(env[declared.env])
                if value is not None:
                    values[declared.name] = value
        values.update(
            {k: v for k, v in overrides.items() if v is not None and k in SETTINGS_BY_FIELD}
        )
        for declared in SETTINGS:
            if declared.name in values:
                declared.refuse_invalid(values[declared.name])
        return cls(**values)  # type: ignore[arg-type]

    @property
    def accepted_acr(self) -> tuple[str, ...]:
        """The assurance levels citizen sign-in accepts (``VERROU_OIDC_ACR``), as given."""
        return tuple(self.oidc_acr.split())

    @property
    def smtp(self) -> tuple[str, int] | None:
        """(host, port) of the SMTP server for email alerts, or None when not configured."""
        return None if self.smtp_url is None else smtp_address(self.smtp_url)


#: Every setting, in the README's order (the order of the fields of :class:`Settings`).
SETTINGS: tuple[Setting, ...] = tuple(
    replace(f.metadata[_METADATA_KEY], name=f.name) for f in fields(Settings)
)
SETTINGS_BY_FIELD: Mapping[str, Setting] = {declared.name: declared for declared in SETTINGS}
