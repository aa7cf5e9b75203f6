"""The registry store protocol: domain operations, never raw SQL.

Two real implementations live beside this file (SQLite, PostgreSQL), chosen by the database URL in
:func:`verrou.store.open_store`. Rows returned here are store records, not API schemas.

Leaked fingerprints are kept as sorted *blocks*: one row per (fingerprint prefix, ingest run), its
bytes a sorted array of fixed-size entries (see :mod:`verrou.fingerprints`). While a run is under
way its batches land as *segments* keyed by a coarser prefix; finishing the run merges them into
blocks in one transaction. A dump row is one leaked record: (run, record number); a random record
id is derived from the run's random uid.

What the check API needs beside the fingerprints: freezes and thaws, the hash-chained audit log,
relying parties (API key hashes only), the alert outbox and sealed contacts. Every state change
that matters (a freeze placed or lifted, a thaw, a relying party created or revoked) is written
in one transaction with its audit entry; the audit append takes the chain head under a lock, so
concurrent writers take turns and the chain never forks.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal, TypeAlias, get_args

import numpy as np
import numpy.typing as npt

from verrou.errors import InvalidRelyingParty
from verrou.fingerprints import (
    BLOCK_BITS,
    ENTRY_BYTES,
    ENTRY_DTYPE,
    entry_fingerprint,
    split_by_prefix,
    unpack_entries,
)
from verrou.identifiers.kinds import KINDS_BY_CODE, Kind
from verrou.registry.alerts import RELYING_PARTY_MAX, Alert, OutboxItem
from verrou.registry.audit import AuditDraft, chain_entry, format_at
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
        if self.intrusion_started_at is None or self.detected_at is None:
            return None
        return (self.detected_at - self.intrusion_started_at).total_seconds() / 86400


@dataclass(frozen=True)
class BreachSummary:
    breach: Breach
    runs: int
    fingerprints_by_kind: dict[str, int]


class RunStatus:
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"


@dataclass(frozen=True)
class NewRun:
    breach_id: int
    file_name: str
    file_sha256: str
    file_size: int
    format: str
    mapping: dict[str, Any]
    key_id: str


@dataclass(frozen=True)
class IngestRun:
    id: int
    uid: bytes
    breach_id: int
    file_name: str
    file_sha256: str
    file_size: int
    format: str
    mapping: dict[str, Any]
    key_id: str
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


@dataclass(frozen=True)
class CheckRecord:
    """What one check writes: its audit entry and the alerts for its owners' contacts."""

    audit: AuditDraft
    alerts: Sequence[QueuedAlert] = ()


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


# --- pieces shared by the backends -----------------------------------------------------------

BREACH_COLUMNS = (
    "id, name, title, source, description, data_classes, record_count, intrusion_started_at, "
    "detected_at, contained_at, disclosed_at, ingested_at, created_at"
)
RUN_COLUMNS = (
    "id, uid, breach_id, file_name, file_sha256, file_size, format, mapping, key_id, status, "
    "started_at, finished_at, records_done, batches_done, counts, error"
)


def _same(value: Any) -> Any:
    return value


def breach_from_row(
    row: Sequence[Any],
    when: Callable[[Any], datetime | None] = _same,
    structured: Callable[[Any], Any] = _same,
) -> Breach:
    """A breach from a row of BREACH_COLUMNS; ``when`` and ``structured`` decode the dialect's
    timestamps and JSON (SQLite stores text, PostgreSQL returns native values)."""
    return Breach(
        id=row[0],
        name=row[1],
        title=row[2],
        source=row[3],
        description=row[4],
        data_classes=tuple(structured(row[5])),
        record_count=row[6],
        intrusion_started_at=when(row[7]),
        detected_at=when(row[8]),
        contained_at=when(row[9]),
        disclosed_at=when(row[10]),
        ingested_at=when(row[11]),
        created_at=when(row[12]),
    )


def run_from_row(
    row: Sequence[Any],
    when: Callable[[Any], datetime | None] = _same,
    structured: Callable[[Any], Any] = _same,
) -> IngestRun:
    """An ingest run from a row of RUN_COLUMNS (see :func:`breach_from_row`)."""
    started = when(row[10])
    assert started is not None
    return IngestRun(
        id=row[0],
        uid=bytes(row[1]),
        breach_id=row[2],
        file_name=row[3],
        file_sha256=row[4],
        file_size=row[5],
        format=row[6],
        mapping=structured(row[7]),
        key_id=row[8],
        status=row[9],
        started_at=started,
        finished_at=when(row[11]),
        records_done=row[12],
        batches_done=row[13],
        counts=structured(row[14]),
        error=row[15],
    )


FREEZE_COLUMNS = "fingerprint, placed_by, reason, since, canary"
THAW_COLUMNS = "fingerprint, relying_party_id, starts, until"
#: Freezes of some keys with their thaws not ended at a time; ``keys`` and ``now`` are the
#: dialect's placeholders (``IN (?, ?)`` / ``= ANY(%s)``), ``now`` first. Every thaw has its
#: freeze (foreign key), so the join finds them all.
FREEZES_WITH_THAWS = (
    "SELECT f.fingerprint, f.placed_by, f.reason, f.since, f.canary, "
    "t.relying_party_id, t.starts, t.until FROM freezes f "
    "LEFT JOIN thaws t ON t.fingerprint = f.fingerprint AND t.until > {now} "
    "WHERE f.fingerprint {keys} ORDER BY f.fingerprint, t.id"
)
RELYING_PARTY_COLUMNS = "id, name, sector, key_prefix, created_at, revoked_at, rate_limit"
OUTBOX_COLUMNS = (
    "alert_id, subject_fingerprint, kind, relying_party, alert_at, check_id, sealed_contact, "
    "attempts, next_attempt_at, status, last_error, delivered_at, checks, last_check_at"
)


def _required(when: Callable[[Any], datetime | None], value: Any) -> datetime:
    moment = when(value)
    if moment is None:
        raise ValueError("a required time is missing from the row")
    return moment


def freeze_audit_subject(fingerprint: bytes, audit: AuditDraft) -> None:
    """Refuse an audit entry that does not name the key it records a change of."""
    if audit.subject != fingerprint.hex():
        raise ValueError("the audit entry of a freeze or thaw must have its fingerprint as subject")


def _with_details(audit: AuditDraft, extra: Mapping[str, Any]) -> AuditDraft:
    return AuditDraft(
        action=audit.action,
        actor=audit.actor,
        subject=audit.subject,
        details={**audit.details, **extra},
        at=audit.at,
    )


def freeze_audit(freeze: Freeze, audit: AuditDraft) -> AuditDraft:
    """The audit entry of a freeze placed, carrying the row it writes, so that `audit verify`
    can replay the log into the freeze state (:func:`verrou.registry.audit.replay_freezes`)."""
    freeze_audit_subject(freeze.fingerprint, audit)
    return _with_details(
        audit,
        {
            "placed_by": freeze.placed_by,
            "reason": freeze.reason,
            "since": format_at(freeze.since),
            "canary": freeze.canary,
        },
    )


def thaw_audit(thaw: Thaw, audit: AuditDraft) -> AuditDraft:
    """The audit entry of a thaw, carrying the row it writes (see :func:`freeze_audit`)."""
    freeze_audit_subject(thaw.fingerprint, audit)
    return _with_details(
        audit,
        {
            "relying_party_id": thaw.relying_party_id,
            "starts": format_at(thaw.starts),
            "until": format_at(thaw.until),
        },
    )


def freeze_from_row(row: Sequence[Any], when: Callable[[Any], datetime | None] = _same) -> Freeze:
    """A freeze from a row of FREEZE_COLUMNS (see :func:`breach_from_row` for ``when``)."""

    return Freeze(
        fingerprint=bytes(row[0]),
        placed_by=row[1],
        reason=row[2],
        since=_required(when, row[3]),
        canary=bool(row[4]),
    )


def thaw_from_row(row: Sequence[Any], when: Callable[[Any], datetime | None] = _same) -> Thaw:
    """A thaw from a row of THAW_COLUMNS."""

    return Thaw(
        fingerprint=bytes(row[0]),
        relying_party_id=row[1],
        starts=_required(when, row[2]),
        until=_required(when, row[3]),
    )


def freezes_and_thaws(
    rows: Iterable[Sequence[Any]], when: Callable[[Any], datetime | None] = _same
) -> tuple[list[Freeze], list[Thaw]]:
    """Freezes and thaws from the rows of :data:`FREEZES_WITH_THAWS`."""
    freezes: list[Freeze] = []
    thaws: list[Thaw] = []
    for row in rows:
        if not freezes or freezes[-1].fingerprint != bytes(row[0]):
            freezes.append(freeze_from_row(row[:5], when))
        if row[6] is not None:
            thaws.append(thaw_from_row((row[0], row[5], row[6], row[7]), when))
    return freezes, thaws


def relying_party_from_row(
    row: Sequence[Any], when: Callable[[Any], datetime | None] = _same
) -> RelyingParty:
    """A relying party from a row of RELYING_PARTY_COLUMNS."""
    return RelyingParty(
        id=row[0],
        name=row[1],
        sector=row[2],
        key_prefix=row[3],
        created_at=_required(when, row[4]),
        revoked_at=when(row[5]),
        rate_limit=row[6],
    )


def outbox_item_from_row(
    row: Sequence[Any], when: Callable[[Any], datetime | None] = _same
) -> OutboxItem:
    """An outbox item from a row of OUTBOX_COLUMNS."""
    return OutboxItem(
        alert=Alert(
            id=row[0],
            subject_fingerprint=bytes(row[1]),
            kind=row[2],
            relying_party=row[3],
            at=_required(when, row[4]),
            check_id=row[5],
            checks=int(row[12]),
            last_at=when(row[13]),
        ),
        sealed_contact=bytes(row[6]),
        attempts=row[7],
        next_attempt_at=_required(when, row[8]),
        status=row[9],
        last_error=row[10],
        delivered_at=when(row[11]),
    )


def merge_segments(
    blobs: Iterable[bytes],
) -> tuple[list[tuple[int, bytes]], dict[str, int]]:
    """Merge the staging segments of one coarse prefix into registry blocks.

    Returns the blocks (fine prefix, packed sorted entries) and the count of duplicate values per
    kind (a fingerprint already seen in an earlier record of the same run).
    """
    # One decode of the joined bytes: concatenating thousands of small structured arrays costs
    # numpy a dtype promotion each.
    joined = b"".join(blobs)
    if not joined:
        return [], {}
    entries = unpack_entries(joined)
    hi = entries["hi"].astype(np.uint64)
    lo = entries["lo"].astype(np.uint64)
    # Segments come in batch order, which is record order, and each is sorted: a stable sort on
    # the fingerprint's first word yields (fingerprint, record) order whatever the batch
    # boundaries were, unless two different fingerprints share that word (odds ~2^-64 a pair);
    # then sort on the whole fingerprint.
    order = np.argsort(hi, kind="stable")
    hi_sorted, lo_sorted = hi[order], lo[order]
    same_hi = hi_sorted[1:] == hi_sorted[:-1]
    if np.any(same_hi & (lo_sorted[1:] != lo_sorted[:-1])):
        order = np.lexsort((lo, hi))
        hi_sorted, lo_sorted = hi[order], lo[order]
        same_hi = hi_sorted[1:] == hi_sorted[:-1]
    rows = np.frombuffer(joined, dtype=np.uint8).reshape(-1, ENTRY_DTYPE.itemsize)
    merged = np.take(rows, order, axis=0).view(ENTRY_DTYPE).reshape(-1)
    duplicate = same_hi & (lo_sorted[1:] == lo_sorted[:-1])
    return split_by_prefix(merged, BLOCK_BITS), _duplicates(merged["kind"][1:][duplicate])


def _duplicates(kinds: npt.NDArray[np.uint8]) -> dict[str, int]:
    if len(kinds) == 0:
        return {}
    codes, counts = np.unique(kinds, return_counts=True)
    return {KINDS_BY_CODE[int(c)].value: int(n) for c, n in zip(codes, counts, strict=True)}


def find_in_block(blob: bytes, fingerprint: bytes) -> list[tuple[Kind, int]]:
    """(kind, record) of every entry of a block with this fingerprint.

    An entry starts with its 16 fingerprint bytes (two big-endian words) and a block is sorted
    by them, so a binary search on the bytes finds the run of equal fingerprints. Plain Python
    on purpose: a check looks up a handful of keys in blocks of a few hundred entries, where
    numpy's per-call overhead costs more than the search.
    """
    size = ENTRY_BYTES
    count = len(blob) // size
    low, high = 0, count
    while low < high:
        middle = (low + high) // 2
        start = middle * size
        if blob[start : start + 16] < fingerprint:
            low = middle + 1
        else:
            high = middle
    found: list[tuple[Kind, int]] = []
    start = low * size
    while start < len(blob) and blob[start : start + 16] == fingerprint:
        record = int.from_bytes(blob[start + 17 : start + 21], "little")
        found.append((KINDS_BY_CODE[blob[start + 16]], record))
        start += size
    return found


def summarise_breaches(
    breaches: Sequence[Breach], complete_runs: Iterable[tuple[int, dict[str, Any]]]
) -> list[BreachSummary]:
    """Breaches with their run count and fingerprints per kind, from their complete runs."""
    runs: dict[int, list[dict[str, Any]]] = {}
    for breach_id, counts in complete_runs:
        runs.setdefault(breach_id, []).append(counts)
    summaries = []
    for breach in breaches:
        by_kind: dict[str, int] = {}
        for counts in runs.get(breach.id, []):
            by_kind = sum_counts(by_kind, counts.get("fingerprints", {}))
        summaries.append(BreachSummary(breach, len(runs.get(breach.id, [])), by_kind))
    return summaries


def sum_counts(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    """Add per-kind counters."""
    merged = dict(total)
    for key, value in more.items():
        merged[key] = merged.get(key, 0) + value
    return merged


__all__ = [
    "ALERT_LEASE",
    "ENTRY_DTYPE",
    "SECTORS",
    "TIMELINE_FIELDS",
    "AuditDraft",
    "BatchCommit",
    "Breach",
    "BreachInfo",
    "BreachSummary",
    "CheckRecord",
    "CheckSnapshot",
    "ExposureHit",
    "IngestRun",
    "NewRun",
    "OutboxStatus",
    "QueuedAlert",
    "Reject",
    "RelyingParty",
    "RunStatus",
    "SealedContact",
    "Sector",
    "api_key_hash",
    "chain_entry",
    "entry_fingerprint",
    "find_in_block",
    "merge_segments",
    "new_api_key",
    "record_id",
    "sum_counts",
]
