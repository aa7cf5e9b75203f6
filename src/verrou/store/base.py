"""The registry store protocol: domain operations, never raw SQL.

Two real implementations live beside this file (SQLite, PostgreSQL), chosen by the database URL in
:func:`verrou.store.open_store`. Rows returned here are store records, not API schemas.

Leaked fingerprints are kept as sorted *blocks*: one row per (fingerprint prefix, ingest run), its
bytes a sorted array of fixed-size entries (see :mod:`verrou.fingerprints`). While a run is under
way its batches land as *segments* keyed by a coarser prefix; finishing the run merges them into
blocks in one transaction. A dump row is one leaked record: (run, record number); a random record
id is derived from the run's random uid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from verrou.fingerprints import (
    BLOCK_BITS,
    ENTRY_DTYPE,
    entry_fingerprint,
    split_by_prefix,
    unpack_entries,
)
from verrou.identifiers.kinds import KINDS_BY_CODE, Kind

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


@dataclass(frozen=True)
class ExposureHit:
    """A fingerprint found in a leaked record."""

    fingerprint: bytes
    kind: Kind
    breach_id: int
    breach_name: str
    run_id: int
    record: int
    record_id: str = field(default="")


def record_id(run_uid: bytes, record: int) -> str:
    """Random-looking public id of a leaked record, stable for its run and record number."""
    return hashlib.blake2b(
        record.to_bytes(8, "big"), key=run_uid, digest_size=12, person=b"verrou-rec"
    ).hexdigest()


class RegistryStore(Protocol):
    """What the domain needs from a registry store."""

    url_for_display: str

    def migrate(self) -> list[int]: ...
    def schema_version(self) -> int: ...
    def close(self) -> None: ...

    def ensure_breach(self, info: BreachInfo) -> Breach: ...
    def get_breach(self, name: str) -> Breach | None: ...
    def list_breaches(self) -> list[BreachSummary]: ...

    def find_run(self, breach_id: int, file_sha256: str) -> IngestRun | None: ...
    def start_run(self, run: NewRun) -> IngestRun: ...
    def restart_run(self, run_id: int) -> IngestRun: ...
    def commit_batch(self, batch: BatchCommit) -> None: ...
    def finish_run(self, run_id: int, counts: dict[str, Any]) -> IngestRun: ...
    def fail_run(self, run_id: int, error: str) -> None: ...
    def get_run(self, run_id: int) -> IngestRun: ...
    def rejects(self, run_id: int) -> Iterator[Reject]: ...

    def lookup(self, fingerprints: Sequence[bytes]) -> list[ExposureHit]: ...


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
    """(kind, record) of every entry of a block with this fingerprint."""
    entries = unpack_entries(blob)
    hi = int.from_bytes(fingerprint[:8], "big")
    lo = int.from_bytes(fingerprint[8:16], "big")
    start = int(np.searchsorted(entries["hi"], np.uint64(hi), side="left"))
    end = int(np.searchsorted(entries["hi"], np.uint64(hi), side="right"))
    found: list[tuple[Kind, int]] = []
    for entry in entries[start:end]:
        if int(entry["lo"]) == lo:
            found.append((KINDS_BY_CODE[int(entry["kind"])], int(entry["record"])))
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
    "ENTRY_DTYPE",
    "TIMELINE_FIELDS",
    "BatchCommit",
    "Breach",
    "BreachInfo",
    "BreachSummary",
    "ExposureHit",
    "IngestRun",
    "NewRun",
    "RegistryStore",
    "Reject",
    "RunStatus",
    "entry_fingerprint",
    "find_in_block",
    "merge_segments",
    "record_id",
    "sum_counts",
]
