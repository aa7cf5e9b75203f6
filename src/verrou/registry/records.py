"""The registry's records: what the domain, the store and the edges pass to each other.

Breaches and their timelines, ingest runs and their batches, relying parties and their API keys
(only a hash is ever kept), sealed contacts, what a group of checks reads and writes, and the
outbox's counts. The store (:mod:`verrou.store`) reads and writes these; it defines none.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Final, Literal, Self, TypeAlias, TypeVar, get_args

from verrou.errors import InvalidRelyingParty
from verrou.registry.alerts import RELYING_PARTY_MAX, Alert
from verrou.registry.audit import AuditDraft
from verrou.registry.citizen_records import StoredReport
from verrou.registry.policy import ExposureHit, Freeze, Thaw

#: Timeline fields of a breach, in the order they happen.
TIMELINE_FIELDS = (
    "intrusion_started_at",
    "detected_at",
    "contained_at",
    "disclosed_at",
    "ingested_at",
)


@dataclass(frozen=True)
class BreachInfo:
    """What an operator says about a breach."""

    name: str
    title: str | None = None
    source: str | None = None
    description: str | None = None
    data_classes: tuple[str, ...] = ()
    intrusion_started_at: datetime | None = None
    detected_at: datetime | None = None
    contained_at: datetime | None = None
    disclosed_at: datetime | None = None


@dataclass(frozen=True)
class Breach(BreachInfo):
    id: int = 0
    record_count: int = 0
    ingested_at: datetime | None = None
    created_at: datetime | None = None

    @property
    def dwell_days(self) -> float | None:
        """Dwell time: detection minus the start of the intrusion, in days."""
        return days_between(self.intrusion_started_at, self.detected_at)


def days_between(start: datetime | None, end: datetime | None) -> float | None:
    """``end`` minus ``start`` in days (negative when ``end`` comes first); None when either
    is missing."""
    if start is None or end is None:
        return None
    return (end - start).total_seconds() / 86400


@dataclass(frozen=True)
class BreachSummary:
    breach: Breach
    runs: int
    fingerprints_by_kind: dict[str, int]
    #: Values of the private check's index, per kind (empty when no run of it built one).
    indexed_by_kind: dict[str, int] = field(default_factory=dict)
    #: When each complete ingest run of the breach finished, oldest first (``breach.ingested_at``
    #: is the last of them).
    ingested: tuple[datetime, ...] = ()


#: What an ingest found about where a breach's data came from and when: ``canary``, canaries
#: of a source in its dump (the only kind yet).
EvidenceKind: TypeAlias = Literal["canary"]


@dataclass(frozen=True)
class BreachEvidence:
    """A fact an ingest found in a breach's dump, for its timeline.

    ``canary``: ``canaries`` canary identities planted in ``source`` at ``planted_at`` are in the
    dump of run ``run_id``, so the data came from that source (canaries exist nowhere else) and
    was taken on or after ``planted_at``. ``recorded_at``: when the ingest found them.
    """

    breach_id: int
    run_id: int
    kind: EvidenceKind
    source: str
    canaries: int
    planted_at: datetime
    recorded_at: datetime

    def to_json(self) -> dict[str, Any]:
        """JSON-ready, times in ISO 8601 (as ``verrou ingest --json`` prints it)."""
        return {
            "kind": self.kind,
            "source": self.source,
            "canaries": self.canaries,
            "planted_at": self.planted_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "run_id": self.run_id,
        }


class RunStatus:
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"


@dataclass(frozen=True)
class NewRun:
    """What an ingest run is started with: the dump, how its columns map, and the key."""

    breach_id: int
    file_name: str
    file_sha256: str
    file_size: int
    format: str
    mapping: dict[str, Any]
    key_id: str


@dataclass(frozen=True)
class IngestRun(NewRun):
    """A started run: what it was started with, and how far it got."""

    id: int
    uid: bytes
    status: str
    started_at: datetime
    finished_at: datetime | None
    records_done: int
    batches_done: int
    counts: dict[str, Any]
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    """One rejected value or row: where, why, and the value masked (never in clear)."""

    row: int
    column: str
    kind: str
    reason: str
    masked: str


@dataclass(frozen=True)
class BatchCommit:
    """Everything one ingest batch changes, written in one transaction."""

    run_id: int
    seq: int
    segments: Sequence[tuple[int, bytes]]
    records_done: int
    counts: dict[str, Any]
    rejects: Sequence[Reject] = ()


def record_id(run_uid: bytes, record: int) -> str:
    """Random-looking public id of a leaked record, stable for its run and record number."""
    return hashlib.blake2b(
        record.to_bytes(8, "big"), key=run_uid, digest_size=12, person=b"verrou-rec"
    ).hexdigest()


_Row = TypeVar("_Row")


def pages_by_key(
    read: Callable[[bytes | None, int], Sequence[_Row]], key: Callable[[_Row], bytes], size: int
) -> Iterator[Sequence[_Row]]:
    """Every row of a table kept in key order, a page of ``size`` at a time: ``read(after,
    size)`` gives the rows after the key ``after`` (None: from the start). Memory holds one
    page, whatever the table's size."""
    after: bytes | None = None
    while True:
        page = read(after, size)
        if page:
            yield page
        if len(page) < size:
            return
        after = key(page[-1])


# --- audit, relying parties, alerts ---------------------------------------------------------


#: How many stored audit entries one read fetches while streaming the log.
AUDIT_PAGE = 1000

Sector: TypeAlias = Literal["bank", "payment", "telco", "insurer", "other"]
SECTORS: Final[tuple[str, ...]] = get_args(Sector)

#: API keys are ``vrp_`` and 32 random bytes in unpadded base64url (43 characters).
API_KEY_PREFIX: Final = "vrp_"
API_KEY_BYTES: Final = 32
_API_KEY_LENGTH: Final = len(API_KEY_PREFIX) + 43
#: Characters of the key kept for display: the marker and 8 characters (48 of its 256 bits).
KEY_PREFIX_CHARS: Final = len(API_KEY_PREFIX) + 8


@dataclass(frozen=True)
class RelyingParty:
    """A bank, payment firm, telco or insurer allowed to call the check API.

    The store keeps the SHA-256 of its API key, never the key, and ``key_prefix`` (the first
    characters of the key, not enough to use it) so that an operator can tell keys apart.
    """

    id: str
    name: str
    sector: Sector
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None = None
    #: Checks a minute this party may make; None: the server's default (VERROU_RATE_LIMIT).
    rate_limit: int | None = None

    @property
    def active(self) -> bool:
        """False once revoked: its key no longer authenticates."""
        return self.revoked_at is None


def new_relying_party_id() -> str:
    """A random relying-party id (``rp_`` and 16 hex digits)."""
    return f"rp_{secrets.token_hex(8)}"


def new_api_key() -> str:
    """A fresh API key: ``vrp_`` and 32 random bytes, base64url without padding."""
    random_part = base64.urlsafe_b64encode(secrets.token_bytes(API_KEY_BYTES)).rstrip(b"=")
    return API_KEY_PREFIX + random_part.decode("ascii")


def api_key_hash(api_key: str) -> bytes:
    """What the store keeps of an API key: its SHA-256.

    A plain fast hash is enough here, with no salt, pepper or slow KDF: those protect guessable
    secrets (passwords), and a key of 256 random bits cannot be guessed from its hash. Being
    unsalted, the hash is also the lookup key (a unique index), so authenticating is one indexed
    equality and needs no constant-time comparison: timing can at most tell an attacker about
    the hash of the key they sent, not about any stored key.
    """
    return hashlib.sha256(api_key.encode("utf-8")).digest()


def looks_like_api_key(api_key: str) -> bool:
    """True when ``api_key`` has the shape of a verrou API key (checked before any lookup)."""
    return (
        isinstance(api_key, str)
        and len(api_key) == _API_KEY_LENGTH
        and api_key.startswith(API_KEY_PREFIX)
        and api_key.isascii()
    )


def checked_rate_limit(rate_limit: int | None) -> int | None:
    """A relying party's own limit: None (the server default) or a positive whole number."""
    if rate_limit is not None and (isinstance(rate_limit, bool) or rate_limit < 1):
        raise InvalidRelyingParty("a rate limit is at least 1 check a minute")
    return rate_limit


def checked_relying_party(name: str, sector: str) -> str:
    """The name, trimmed, once it is one printable line of at most RELYING_PARTY_MAX
    characters (it is shown in citizens' alerts) and the sector one of :data:`SECTORS`;
    :class:`~verrou.errors.InvalidRelyingParty` otherwise."""
    if sector not in SECTORS:
        raise InvalidRelyingParty(f"sector must be one of {', '.join(SECTORS)}")
    trimmed = name.strip() if isinstance(name, str) else ""
    if not trimmed or len(trimmed) > RELYING_PARTY_MAX or not trimmed.isprintable():
        raise InvalidRelyingParty(
            f"relying party name must be one printable line of 1 to {RELYING_PARTY_MAX} characters"
        )
    return trimmed


def relying_party_draft(
    action: str, party: RelyingParty, *, actor: str, at: datetime
) -> AuditDraft:
    """The audit entry of a relying party's creation or revocation (ids, never the key)."""
    return AuditDraft(
        action=action,
        actor=actor,
        subject=None,
        details={
            "relying_party_id": party.id,
            "name": party.name,
            "sector": party.sector,
            "key_prefix": party.key_prefix,
            "rate_limit": party.rate_limit,
        },
        at=at,
    )


@dataclass(frozen=True)
class SealedContact:
    """A citizen's contact sealed to one key (:func:`verrou.registry.contacts.seal`).

    ``owner_ref`` is random and shared by the seals of one registration (one citizen's contact
    sealed to each of their keys): a check touching several of those keys alerts them once.
    """

    owner_ref: str
    sealed: bytes


@dataclass(frozen=True)
class CheckSnapshot:
    """What the registry holds for the fingerprints of a group of checks, read in the
    transaction that records them (so the verdicts and the audit log agree)."""

    hits: list[ExposureHit]
    freezes: list[Freeze]
    thaws: list[Thaw]
    contacts: dict[bytes, list[SealedContact]]
    #: The breaches of ``hits``, by id.
    breaches: dict[int, Breach]


@dataclass(frozen=True)
class QueuedAlert:
    """An alert for one owner's contact, and the window it is coalesced in: the outbox holds at
    most one alert per (``owner_ref``, ``relying_party_id``, ``window_start``), which counts
    the checks it tells of. Windows are whole seconds since the epoch, ``[start, end)``."""

    alert: Alert
    sealed_contact: bytes
    owner_ref: str
    relying_party_id: str
    window_start: int
    window_end: int


#: What an outcome tally counts (:mod:`verrou.registry.outcomes`), in the order every table,
#: file and plot shows them.
MEASURES: Final = ("checks", "step_up", "deny", "reports", "canary_hits")


@dataclass(frozen=True, kw_only=True)
class Counts:
    """The outcome measures (:data:`MEASURES`), each a count."""

    checks: int = 0
    step_up: int = 0
    deny: int = 0
    reports: int = 0
    canary_hits: int = 0

    def counts(self) -> tuple[int, ...]:
        """The measures, in :data:`MEASURES` order."""
        return tuple(getattr(self, name) for name in MEASURES)

    def plus(self, other: Counts) -> Self:
        """These counts with ``other``'s added."""
        return replace(self, **{m: getattr(self, m) + getattr(other, m) for m in MEASURES})


@dataclass(frozen=True)
class Tally(Counts):
    """Outcome counts for one breach, sector and day (:mod:`verrou.registry.outcomes`): what
    one check or report adds, or a sum."""

    breach_id: int
    sector: str
    day: date

    @property
    def key(self) -> tuple[int, str, date]:
        return (self.breach_id, self.sector, self.day)


@dataclass(frozen=True)
class FiledReport:
    """What filing a report or issuing an attestation writes in one transaction: the document,
    its audit entry, the (check id, relying party id) pairs a report disputes, and what it adds
    to the outcome counts (:mod:`verrou.registry.outcomes`)."""

    document: StoredReport
    audit: AuditDraft
    disputes: Sequence[tuple[str, str]] = ()
    tallies: Sequence[Tally] = ()


@dataclass(frozen=True)
class CheckRecord:
    """What one check writes: its audit entry, the alerts for its owners' contacts, and what it
    adds to the outcome counts of the breaches it touched."""

    audit: AuditDraft
    alerts: Sequence[QueuedAlert] = ()
    tallies: Sequence[Tally] = ()


@dataclass(frozen=True)
class OutboxStatus:
    """What the alert outbox holds: alerts by status, how many are due now, and since when the
    oldest undelivered one waits (None: nothing pending)."""

    by_status: dict[str, int]
    due_now: int
    oldest_pending_at: datetime | None


#: How long :meth:`~verrou.store.protocols.OutboxStore.due` claims the alerts it returns for the
#: worker that took them: another worker takes an alert again only if it was not marked within
#: this time (the first worker crashed), so delivery stays at least once.
ALERT_LEASE: Final = timedelta(minutes=5)
