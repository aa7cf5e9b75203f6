"""What the SQLite and PostgreSQL stores share: column lists, row decoders, block algorithms.

The protocols they implement are in :mod:`verrou.store.protocols`, the records they read and
write in :mod:`verrou.registry.records` (the store defines no domain type); the two backends,
chosen by the database URL in :func:`verrou.store.open_store`, live beside this file.

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

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from verrou.fingerprints import (
    BLOCK_BITS,
    ENTRY_BYTES,
    ENTRY_DTYPE,
    LOOKUP_FLAG,
    entry_fingerprint,
    split_by_prefix,
    unpack_entries,
)
from verrou.identifiers.kinds import KINDS_BY_CODE, Kind
from verrou.registry.alerts import Alert, OutboxItem
from verrou.registry.audit import AuditDraft, chain_entry, format_at, parse_at
from verrou.registry.policy import ExposureHit, Freeze, Thaw
from verrou.registry.records import (
    Breach,
    BreachSummary,
    CheckRecord,
    CheckSnapshot,
    IngestRun,
    RelyingParty,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# --- pieces shared by the backends -----------------------------------------------------------

#: The verdict policy a group of checks is concluded with, from what the registry holds for
#: them (:meth:`verrou.store.protocols.CheckLedger.run_checks`); it must not touch the store.
Conclude = Callable[[CheckSnapshot], Sequence[CheckRecord]]

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


def record_columns(kind: type[DataclassInstance]) -> str:
    """The columns of a table that holds records of ``kind`` as they are (citizens' keys, email
    codes, reports, sessions): one per field, named and ordered as the fields."""
    return ", ".join(field.name for field in dataclasses.fields(kind))


def record_row(record: DataclassInstance, at: Callable[[datetime], Any]) -> tuple[Any, ...]:
    """``record`` as a row of its :func:`record_columns`: its fields in order, times encoded
    by ``at`` (the dialect's), enumerations by their value."""

    def cell(value: Any) -> Any:
        if isinstance(value, datetime):
            return at(value)
        return value.value if isinstance(value, Enum) else value

    return tuple(cell(getattr(record, field.name)) for field in dataclasses.fields(record))


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


FREEZE_COLUMNS = "fingerprint, placed_by, reason, since, canary, owner_ref"
THAW_COLUMNS = "fingerprint, relying_party_id, starts, until"
#: Freezes of some keys with their thaws not ended at a time; ``keys`` and ``now`` are the
#: dialect's placeholders (``IN (?, ?)`` / ``= ANY(%s)``), ``now`` first. Every thaw has its
#: freeze (foreign key), so the join finds them all.
FREEZES_WITH_THAWS = (
    "SELECT f.fingerprint, f.placed_by, f.reason, f.since, f.canary, f.owner_ref, "
    "t.relying_party_id, t.starts, t.until FROM freezes f "
    "LEFT JOIN thaws t ON t.fingerprint = f.fingerprint AND t.until > {now} "
    "WHERE f.fingerprint {keys} ORDER BY f.fingerprint, t.id"
)
RELYING_PARTY_COLUMNS = "id, name, sector, key_prefix, created_at, revoked_at, rate_limit"
OUTBOX_COLUMNS = (
    "alert_id, subject_fingerprint, kind, relying_party, alert_at, check_id, sealed_contact, "
    "attempts, next_attempt_at, status, last_error, delivered_at, checks, last_check_at, detail"
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
            # Only a citizen's own freeze names its owner (older entries never did).
            **({"owner": freeze.owner} if freeze.owner is not None else {}),
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
        owner=row[5],
    )


def thaw_from_row(row: Sequence[Any], when: Callable[[Any], datetime | None] = _same) -> Thaw:
    """A thaw from a row of THAW_COLUMNS."""

    return Thaw(
        fingerprint=bytes(row[0]),
        relying_party_id=row[1],
        starts=_required(when, row[2]),
        until=_required(when, row[3]),
    )


def freeze_row(
    freeze: Freeze, at: Callable[[datetime], Any], flag: Callable[[bool], Any]
) -> tuple[Any, ...]:
    """A freeze as a row of FREEZE_COLUMNS, the inverse of :func:`freeze_from_row`; ``at`` and
    ``flag`` encode the dialect's timestamps and booleans."""
    return (
        freeze.fingerprint,
        freeze.placed_by,
        freeze.reason,
        at(freeze.since),
        flag(freeze.canary),
        freeze.owner,
    )


def thaw_row(thaw: Thaw, at: Callable[[datetime], Any]) -> tuple[Any, ...]:
    """A thaw as a row of THAW_COLUMNS, the inverse of :func:`thaw_from_row`."""
    return (thaw.fingerprint, thaw.relying_party_id, at(thaw.starts), at(thaw.until))


def freezes_and_thaws(
    rows: Iterable[Sequence[Any]], when: Callable[[Any], datetime | None] = _same
) -> tuple[list[Freeze], list[Thaw]]:
    """Freezes and thaws from the rows of :data:`FREEZES_WITH_THAWS`."""
    freezes: list[Freeze] = []
    thaws: list[Thaw] = []
    for row in rows:
        if not freezes or freezes[-1].fingerprint != bytes(row[0]):
            freezes.append(freeze_from_row(row[:6], when))
        if row[7] is not None:
            thaws.append(thaw_from_row((row[0], row[6], row[7], row[8]), when))
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


def alert_detail(alert: Alert) -> str | None:
    """The outbox's ``detail`` column of an alert: what it tells beyond a check, as JSON."""
    detail: dict[str, Any] = {}
    if alert.until is not None:
        detail["until"] = format_at(alert.until)
    if alert.breach is not None:
        detail["breach"] = alert.breach
    if alert.data_classes:
        detail["data_classes"] = list(alert.data_classes)
    return json.dumps(detail, sort_keys=True) if detail else None


def alert_detail_fields(column: Any) -> dict[str, Any]:
    """The :class:`Alert` fields kept in the ``detail`` column (see :func:`alert_detail`)."""
    if not column:
        return {}
    detail = json.loads(column)
    fields: dict[str, Any] = {}
    if "until" in detail:
        fields["until"] = parse_at(detail["until"])
    if "breach" in detail:
        fields["breach"] = detail["breach"]
    if "data_classes" in detail:
        fields["data_classes"] = tuple(detail["data_classes"])
    return fields


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
            **alert_detail_fields(row[14]),
        ),
        sealed_contact=bytes(row[6]),
        attempts=row[7],
        next_attempt_at=_required(when, row[8]),
        status=row[9],
        last_error=row[10],
        delivered_at=when(row[11]),
    )


@dataclasses.dataclass(frozen=True)
class MergedBlocks:
    """The staging segments of one coarse prefix, merged: registry blocks and lookup blocks
    (each (fine prefix, packed sorted entries)), and the count of duplicate fingerprints per
    kind (a fingerprint already seen in an earlier record of the same run)."""

    blocks: list[tuple[int, bytes]]
    lookup_blocks: list[tuple[int, bytes]]
    duplicates: dict[str, int]


def merge_segments(blobs: Iterable[bytes]) -> MergedBlocks:
    """Merge the staging segments of one coarse prefix into registry and lookup blocks.

    The private check's index entries (kind byte with :data:`LOOKUP_FLAG`) share the staging
    with the fingerprint entries and part from them here; a value repeated in a run has one
    lookup entry per record, as a fingerprint has, and the server answers each tag once.
    """
    # One decode of the joined bytes: concatenating thousands of small structured arrays costs
    # numpy a dtype promotion each.
    joined = b"".join(blobs)
    if not joined:
        return MergedBlocks([], [], {})
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
    indexed = (merged["kind"] & LOOKUP_FLAG) != 0
    duplicate = same_hi & (lo_sorted[1:] == lo_sorted[:-1]) & ~indexed[1:]
    if not indexed.any():  # the common case, and the fast one: no index built
        return MergedBlocks(
            split_by_prefix(merged, BLOCK_BITS), [], _duplicates(merged["kind"][1:][duplicate])
        )
    return MergedBlocks(
        split_by_prefix(merged[~indexed], BLOCK_BITS),
        split_by_prefix(merged[indexed], BLOCK_BITS),
        _duplicates(merged["kind"][1:][duplicate]),
    )


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
    breaches: Sequence[Breach],
    complete_runs: Iterable[tuple[int, dict[str, Any], datetime | None]],
) -> list[BreachSummary]:
    """Breaches with their run count, fingerprints per kind and ingest dates, from their
    complete runs as (breach id, counts, finished at)."""
    runs: dict[int, list[tuple[dict[str, Any], datetime | None]]] = {}
    for breach_id, counts, finished_at in complete_runs:
        runs.setdefault(breach_id, []).append((counts, finished_at))
    summaries = []
    for breach in breaches:
        by_kind: dict[str, int] = {}
        indexed: dict[str, int] = {}
        of_breach = runs.get(breach.id, [])
        for counts, _ in of_breach:
            by_kind = sum_counts(by_kind, counts.get("fingerprints", {}))
            indexed = sum_counts(indexed, counts.get("indexed", {}))
        # Sorted here: SQLite holds these times as ISO text of varying width.
        ingested = tuple(sorted(finished for _, finished in of_breach if finished is not None))
        summaries.append(BreachSummary(breach, len(of_breach), by_kind, indexed, ingested))
    return summaries


def sum_counts(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    """Add per-kind counters."""
    merged = dict(total)
    for key, value in more.items():
        merged[key] = merged.get(key, 0) + value
    return merged


__all__ = [
    "ENTRY_DTYPE",
    "AuditDraft",
    "ExposureHit",
    "chain_entry",
    "entry_fingerprint",
    "find_in_block",
    "merge_segments",
    "sum_counts",
]
