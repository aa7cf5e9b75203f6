"""Identity-theft reports and exposure attestations: what a citizen hands a bank, signed.

A citizen whose identity was used files an **identity-theft report**: the checks they dispute
(a bank checked "them" when they applied for nothing), the frauds they declare (an account, a
credit, a phone contract opened in their name), and the freeze the report placed on their
identity keys. An **exposure attestation** says which breaches exposed the citizen and whether
their identity is frozen, for a bank that asks "was this person's data leaked?" before it
believes a dispute.

Both are compact JWS (Ed25519, :mod:`verrou.signing`) with a ``typ`` of their own, so neither
can be replayed as the other or as a check verdict (RFC 8725 section 3.11), and a ``kind``
claim checked again after the signature, so a payload confused at another layer still fails.
Any JOSE library verifies them offline against the published JWKS.

What is signed holds no personal data: no name, no identifier, no free text -- only random ids
(report, checks, relying parties), codes from closed lists, dates and counts. The citizen's
name appears only on the PDF (:mod:`verrou.pdf`), passed in at rendering from their sign-in and
never stored; ``citizen_ref`` is an opaque account id, kept on the records for the store and
left out of the claims, so a bank that verifies a report learns nothing it could link to the
citizen's account. A note the citizen writes on a declared fraud exists here only sealed
(``note_sealed``): it is never signed, printed or shown in a ``repr``.

Everything here is pure: no store, no HTTP, no clock (callers pass ``now``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal, TypeAlias, get_args

from verrou.errors import SignatureError
from verrou.registry.audit import format_at, parse_at
from verrou.registry.policy import FreezeReason, PlacedBy, Verdict
from verrou.signing import SigningKey, sign_compact, verify_compact

#: ``iss`` of every report and attestation (the same issuer as the check verdicts).
ISSUER: Final = "verrou"
#: ``typ`` header of an identity-theft report.
REPORT_TYP: Final = "verrou-report+jwt"
#: ``typ`` header of an exposure attestation.
ATTESTATION_TYP: Final = "verrou-attestation+jwt"
#: ``kind`` claim of a report, checked again after the ``typ``.
REPORT_KIND: Final = "identity_theft_report"
#: ``kind`` claim of an attestation.
ATTESTATION_KIND: Final = "exposure_attestation"
#: How long an attestation is valid when the caller gives no validity: long enough to open an
#: account or settle a dispute, short enough that a stale "not frozen" stops being shown.
ATTESTATION_VALIDITY: Final = timedelta(days=90)
#: How far in the future an attestation's ``iat`` may be (clocks differ a little); ``exp`` gets
#: no such leeway: an expired attestation is refused.
CLOCK_SKEW: Final = timedelta(minutes=2)

REPORT_ID_PREFIX: Final = "rpt-"
ATTESTATION_ID_PREFIX: Final = "att-"
#: Random bytes in a report or attestation id: unguessable (ids appear in verification URLs).
_ID_BYTES: Final = 16

#: What a citizen declares was done with their identity: a code, never free text (free text
#: invites someone to type the very identifier the registry must not hold).
FraudCode: TypeAlias = Literal[
    "account_opened",
    "credit_taken",
    "phone_contract",
    "document_used",
    "other",
]
FRAUD_CODES: Final[tuple[str, ...]] = get_args(FraudCode)

ReportStatus: TypeAlias = Literal["valid", "withdrawn"]
REPORT_STATUSES: Final[tuple[str, ...]] = get_args(ReportStatus)

_VERDICTS: Final = frozenset(verdict.value for verdict in Verdict)


def new_report_id() -> str:
    """A random report id (``rpt-`` and 32 hex digits): unguessable, and it says nothing about
    the person (no date, no sequence, no account)."""
    return f"{REPORT_ID_PREFIX}{secrets.token_hex(_ID_BYTES)}"


def new_attestation_id() -> str:
    """A random attestation id (``att-`` and 32 hex digits), for the same reasons."""
    return f"{ATTESTATION_ID_PREFIX}{secrets.token_hex(_ID_BYTES)}"


def _require_aware(name: str, moment: object) -> None:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _require_day(name: str, day: object) -> None:
    # A datetime is a date too; a day given with a time (and a time zone) would sign differently
    # depending on where it was rendered.
    if not isinstance(day, date) or isinstance(day, datetime):
        raise ValueError(f"{name} must be a date (without a time)")


def _require_text(name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")


def _day(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DisputedCheck:
    """A check the citizen says they never asked for: a bank checked their identity, so someone
    applied in their name. Everything here comes from the check's own record, not from the
    citizen, so it is safe to sign and print."""

    check_id: str
    relying_party_id: str
    relying_party_name: str
    checked_at: datetime
    verdict: str

    def __post_init__(self) -> None:
        _require_text("check_id", self.check_id)
        _require_text("relying_party_id", self.relying_party_id)
        _require_text("relying_party_name", self.relying_party_name)
        _require_aware("checked_at", self.checked_at)
        if self.verdict not in _VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(sorted(_VERDICTS))}")


@dataclass(frozen=True)
class DeclaredFraud:
    """A fraud the citizen declares: what was done (a code), from when to when, and at which
    relying party when it is one the registry knows.

    ``relying_party_name`` is the registry's name of ``relying_party_id``, looked up by the
    caller, never typed by the citizen: a name without an id is refused, since it could only be
    free text. ``note_sealed`` is the citizen's optional note, sealed by the caller; it is never
    signed, printed, compared or shown in a ``repr``.
    """

    relying_party_id: str | None
    relying_party_name: str | None
    started: date
    ended: date | None
    what: FraudCode
    note_sealed: bytes | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.relying_party_id is not None:
            _require_text("relying_party_id", self.relying_party_id)
        if self.relying_party_name is not None:
            if self.relying_party_id is None:
                raise ValueError("relying_party_name needs the relying_party_id it names")
            _require_text("relying_party_name", self.relying_party_name)
        _require_day("started", self.started)
        if self.ended is not None:
            _require_day("ended", self.ended)
            if self.ended < self.started:
                raise ValueError("ended must not be before started")
        if self.what not in FRAUD_CODES:
            raise ValueError(f"what must be one of {', '.join(FRAUD_CODES)}")
        if self.note_sealed is not None and not isinstance(self.note_sealed, bytes):
            raise ValueError("note_sealed must be sealed bytes")


@dataclass(frozen=True)
class ReportFreeze:
    """The freeze a report placed: on how many identity keys (one per matching key of the
    person), since when. Placed by ``report`` for ``identity_theft``, so that a thaw by the
    owner alone never opens it (see :mod:`verrou.registry.subjects`)."""

    keys: int
    since: datetime
    placed_by: PlacedBy = "report"
    reason: FreezeReason = "identity_theft"

    def __post_init__(self) -> None:
        if type(self.keys) is not int or self.keys < 1:
            raise ValueError("a report freezes at least one identity key")
        _require_aware("since", self.since)
        if self.placed_by != "report" or self.reason != "identity_theft":
            raise ValueError("a report's freeze is placed by 'report' for 'identity_theft'")

    def claims(self) -> dict[str, Any]:
        """The summary as signed: ``{placed_by, reason, keys, since}``."""
        return {
            "placed_by": self.placed_by,
            "reason": self.reason,
            "keys": self.keys,
            "since": format_at(self.since),
        }


@dataclass(frozen=True)
class Report:
    """An identity-theft report: what the citizen disputes and declares, and the freeze placed.

    A withdrawn report keeps its content and says since when it is withdrawn: a bank that kept
    the token learns on verification that the citizen took it back.
    """

    id: str
    issued_at: datetime
    citizen_ref: str = field(repr=False)
    disputed: tuple[DisputedCheck, ...]
    declared: tuple[DeclaredFraud, ...]
    freeze: ReportFreeze
    status: ReportStatus = "valid"
    withdrawn_at: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.startswith(REPORT_ID_PREFIX):
            raise ValueError(f"a report id starts with {REPORT_ID_PREFIX!r}")
        _require_aware("issued_at", self.issued_at)
        _require_text("citizen_ref", self.citizen_ref)
        if not isinstance(self.disputed, tuple) or not isinstance(self.declared, tuple):
            raise ValueError("disputed and declared must be tuples")
        if not self.disputed and not self.declared:
            raise ValueError("a report disputes a check or declares a fraud")
        check_ids = [check.check_id for check in self.disputed]
        if len(set(check_ids)) != len(check_ids):
            raise ValueError("a check is disputed once per report")
        if self.status not in REPORT_STATUSES:
            raise ValueError(f"status must be one of {', '.join(REPORT_STATUSES)}")
        if (self.status == "withdrawn") != (self.withdrawn_at is not None):
            raise ValueError("withdrawn_at is set exactly when the report is withdrawn")
        if self.withdrawn_at is not None:
            _require_aware("withdrawn_at", self.withdrawn_at)
            if self.withdrawn_at < self.issued_at:
                raise ValueError("a report is withdrawn after it is issued")


@dataclass(frozen=True)
class AttestedBreach:
    """A breach that exposed the citizen: its public name, the data classes it exposed, and when
    it was disclosed (unknown for a breach not yet made public)."""

    name: str
    data_classes: tuple[str, ...]
    disclosed: date | None = None

    def __post_init__(self) -> None:
        _require_text("name", self.name)
        if not isinstance(self.data_classes, tuple):
            raise ValueError("data_classes must be a tuple")
        for data_class in self.data_classes:
            _require_text("data class", data_class)
        if self.disclosed is not None:
            _require_day("disclosed", self.disclosed)


@dataclass(frozen=True)
class Attestation:
    """An exposure attestation: which breaches exposed the citizen, whether their identity is
    frozen, valid from ``issued_at`` until ``expires_at``."""

    id: str
    issued_at: datetime
    expires_at: datetime
    citizen_ref: str = field(repr=False)
    breaches: tuple[AttestedBreach, ...]
    frozen: bool

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.startswith(ATTESTATION_ID_PREFIX):
            raise ValueError(f"an attestation id starts with {ATTESTATION_ID_PREFIX!r}")
        _require_aware("issued_at", self.issued_at)
        _require_aware("expires_at", self.expires_at)
        if self.expires_at <= self.issued_at:
            raise ValueError("an attestation expires after it is issued")
        _require_text("citizen_ref", self.citizen_ref)
        if not isinstance(self.breaches, tuple):
            raise ValueError("breaches must be a tuple")
        if type(self.frozen) is not bool:
            raise ValueError("frozen must be a bool")


def new_attestation(
    *,
    citizen_ref: str,
    breaches: tuple[AttestedBreach, ...],
    frozen: bool,
    issued_at: datetime,
    validity: timedelta = ATTESTATION_VALIDITY,
) -> Attestation:
    """An attestation with a fresh id, expiring ``validity`` after ``issued_at``."""
    return Attestation(
        id=new_attestation_id(),
        issued_at=issued_at,
        expires_at=issued_at + validity,
        citizen_ref=citizen_ref,
        breaches=breaches,
        frozen=frozen,
    )


# --- claims and signing ----------------------------------------------------------------------


def report_claims(report: Report) -> dict[str, Any]:
    """The signed content of a report (JSON-ready): ids, codes, dates and counts only.

    ``status`` is the status when the token was signed; a bank asks the verification URL for
    the current one.
    """
    return {
        "iss": ISSUER,
        "jti": report.id,
        "iat": int(report.issued_at.timestamp()),
        "kind": REPORT_KIND,
        "issued_at": format_at(report.issued_at),
        "disputed": [
            {
                "check_id": check.check_id,
                "relying_party_id": check.relying_party_id,
                "checked_at": format_at(check.checked_at),
                "verdict": check.verdict,
            }
            for check in report.disputed
        ],
        "declared": [
            {
                "what": fraud.what,
                "relying_party_id": fraud.relying_party_id,
                "started": _day(fraud.started),
                "ended": _day(fraud.ended),
            }
            for fraud in report.declared
        ],
        "freeze": report.freeze.claims(),
        "status": report.status,
        "withdrawn_at": None if report.withdrawn_at is None else format_at(report.withdrawn_at),
    }


def sign_report(report: Report, key: SigningKey) -> str:
    """The report as a compact JWS with ``typ`` :data:`REPORT_TYP`."""
    return sign_compact(report_claims(report), key, typ=REPORT_TYP)


def attestation_claims(attestation: Attestation) -> dict[str, Any]:
    """The signed content of an attestation (JSON-ready), with ``exp``."""
    return {
        "iss": ISSUER,
        "jti": attestation.id,
        "iat": int(attestation.issued_at.timestamp()),
        "exp": int(attestation.expires_at.timestamp()),
        "kind": ATTESTATION_KIND,
        "issued_at": format_at(attestation.issued_at),
        "expires_at": format_at(attestation.expires_at),
        "breaches": [
            {
                "name": breach.name,
                "data_classes": list(breach.data_classes),
                "disclosed": _day(breach.disclosed),
            }
            for breach in attestation.breaches
        ],
        "frozen": attestation.frozen,
    }


def sign_attestation(attestation: Attestation, key: SigningKey) -> str:
    """The attestation as a compact JWS with ``typ`` :data:`ATTESTATION_TYP`."""
    return sign_compact(attestation_claims(attestation), key, typ=ATTESTATION_TYP)


# --- verification ----------------------------------------------------------------------------
# After the signature, every claim a verifier relies on is checked for presence and type: a
# token signed by our key but shaped otherwise (an older format, a bug) fails closed rather than
# reaching a bank's code as a half-read dict. Messages name the claim, never its value.


def _member(claims: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = claims.get(name)
    # bool is an int in Python; JSON true must not pass for a number.
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise SignatureError(f"token claim {name!r} is missing or malformed")
    if not isinstance(value, kind):
        raise SignatureError(f"token claim {name!r} is missing or malformed")
    return value


def _text(claims: Mapping[str, Any], name: str) -> str:
    value: str = _member(claims, name, str)
    if not value:
        raise SignatureError(f"token claim {name!r} is missing or malformed")
    return value


def _optional_text(claims: Mapping[str, Any], name: str) -> str | None:
    if claims.get(name) is None:
        if name not in claims:
            raise SignatureError(f"token claim {name!r} is missing")
        return None
    return _text(claims, name)


def _moment(claims: Mapping[str, Any], name: str) -> datetime:
    try:
        return parse_at(_text(claims, name))
    except ValueError:
        raise SignatureError(f"token claim {name!r} is not a canonical time") from None


def _calendar_day(claims: Mapping[str, Any], name: str) -> date | None:
    text = _optional_text(claims, name)
    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise SignatureError(f"token claim {name!r} is not a date") from None
    if day.isoformat() != text:
        raise SignatureError(f"token claim {name!r} is not a canonical date")
    return day


def _items(claims: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    items: list[Any] = _member(claims, name, list)
    if not all(isinstance(item, dict) for item in items):
        raise SignatureError(f"token claim {name!r} holds a malformed item")
    return items


def _common(claims: Mapping[str, Any], kind: str, prefix: str) -> None:
    if claims.get("iss") != ISSUER:
        raise SignatureError("token issuer is not verrou")
    if claims.get("kind") != kind:
        raise SignatureError(f"token is not an {kind.replace('_', ' ')}")
    if not _text(claims, "jti").startswith(prefix):
        raise SignatureError("token claim 'jti' is malformed")
    _member(claims, "iat", int)
    if int(_moment(claims, "issued_at").timestamp()) != claims["iat"]:
        raise SignatureError("token claims 'iat' and 'issued_at' disagree")


def verify_report_token(token: str, jwks: Mapping[str, Any]) -> dict[str, Any]:
    """Verify an identity-theft report against a JWK Set and return its claims.

    Fails closed: raises :class:`verrou.errors.SignatureError` on a bad signature, a ``typ``
    other than :data:`REPORT_TYP` (a verdict or an attestation is not a report), a ``kind``
    other than :data:`REPORT_KIND`, or any claim missing or malformed. A valid token may carry
    ``status`` ``withdrawn``: the caller decides what a withdrawn report is worth.
    """
    claims = verify_compact(token, jwks, typ=REPORT_TYP)
    _common(claims, REPORT_KIND, REPORT_ID_PREFIX)
    disputed = _items(claims, "disputed")
    for check in disputed:
        _text(check, "check_id")
        _text(check, "relying_party_id")
        _moment(check, "checked_at")
        if check.get("verdict") not in _VERDICTS:
            raise SignatureError("token claim 'verdict' is malformed")
    declared = _items(claims, "declared")
    for fraud in declared:
        if fraud.get("what") not in FRAUD_CODES:
            raise SignatureError("token claim 'what' is malformed")
        _optional_text(fraud, "relying_party_id")
        started = _calendar_day(fraud, "started")
        ended = _calendar_day(fraud, "ended")
        if started is None or (ended is not None and ended < started):
            raise SignatureError("token claims 'started' and 'ended' are malformed")
    if not disputed and not declared:
        raise SignatureError("token report disputes nothing and declares nothing")
    freeze = _member(claims, "freeze", dict)
    if freeze.get("placed_by") != "report" or freeze.get("reason") != "identity_theft":
        raise SignatureError("token claim 'freeze' is malformed")
    keys = _member(freeze, "keys", int)
    if keys < 1:
        raise SignatureError("token claim 'keys' is malformed")
    _moment(freeze, "since")
    status = claims.get("status")
    if status not in REPORT_STATUSES:
        raise SignatureError("token claim 'status' is malformed")
    withdrawn = _optional_text(claims, "withdrawn_at")
    if (status == "withdrawn") != (withdrawn is not None):
        raise SignatureError("token claims 'status' and 'withdrawn_at' disagree")
    if withdrawn is not None:
        _moment(claims, "withdrawn_at")
    return claims


def verify_attestation_token(token: str, jwks: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """Verify an exposure attestation against a JWK Set at ``now`` and return its claims.

    Fails closed like :func:`verify_report_token` (``typ`` :data:`ATTESTATION_TYP`, ``kind``
    :data:`ATTESTATION_KIND`), and also refuses an attestation that has expired (``now`` at or
    after ``exp``) or that is issued later than ``now`` plus :data:`CLOCK_SKEW`.
    """
    _require_aware("now", now)
    claims = verify_compact(token, jwks, typ=ATTESTATION_TYP)
    _common(claims, ATTESTATION_KIND, ATTESTATION_ID_PREFIX)
    exp = _member(claims, "exp", int)
    if int(_moment(claims, "expires_at").timestamp()) != exp:
        raise SignatureError("token claims 'exp' and 'expires_at' disagree")
    if exp <= claims["iat"]:
        raise SignatureError("token expires before it is issued")
    at = now.astimezone(UTC)
    if at >= datetime.fromtimestamp(exp, UTC):
        raise SignatureError("attestation has expired")
    if datetime.fromtimestamp(claims["iat"], UTC) > at + CLOCK_SKEW:
        raise SignatureError("attestation is issued in the future")
    for breach in _items(claims, "breaches"):
        _text(breach, "name")
        data_classes = _member(breach, "data_classes", list)
        if not all(isinstance(item, str) and item for item in data_classes):
            raise SignatureError("token claim 'data_classes' is malformed")
        _calendar_day(breach, "disclosed")
    _member(claims, "frozen", bool)
    return claims
