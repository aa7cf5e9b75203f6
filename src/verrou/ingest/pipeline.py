"""The ingest driver: read a dump in batches, fingerprint them in worker processes, commit each
batch with its checkpoint, then merge the run into the registry.

Guarantees:

- bounded memory: at most a few batches in flight (``2 × workers``), whatever the file size;
- idempotent: a file already ingested for a breach (same SHA-256) adds nothing;
- crash-safe: each batch's entries, rejects and counters commit in one transaction with the
  run's checkpoint; running the same command again resumes after the last committed batch, and the
  merge into the registry happens in one final transaction, so a killed ingest ends, once re-run,
  in exactly the state of an uninterrupted one;
- a file that cannot be read at all raises before the registry is touched.

At the end of a run, the dump's canaries are found (:func:`verrou.registry.canaries.attribute_run`):
which sources' canaries it holds and when they were planted, recorded on the breach's timeline
and told in the report.
"""

from __future__ import annotations

import csv
import hashlib
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import chain
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from verrou.errors import DumpError, KeyMaterialError, VerrouError
from verrou.fingerprints import Fingerprinter
from verrou.identifiers.columns import canonicalise_column
from verrou.identifiers.kinds import Kind
from verrou.ingest.mapping import ColumnDecision, ColumnMapping, Field, detect_mapping, load_mapping
from verrou.ingest.plan import BatchOutcome, IngestPlan, fingerprint_batch, merge_counts
from verrou.ingest.readers import Dump, DumpBatch, Malformed, RecordSpan, open_dump
from verrou.lookup.index import LookupIndexer
from verrou.lookup.protocol import OprfKey
from verrou.masking import mask_value
from verrou.registry.canaries import attribute_run
from verrou.registry.records import (
    BatchCommit,
    BreachEvidence,
    BreachInfo,
    IngestRun,
    NewRun,
    Reject,
    RunStatus,
)
from verrou.store.protocols import IngestRunStore, IngestStore

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class IngestOptions:
    breach: str
    service: str | None = None
    mapping_file: Path | None = None
    table: str | None = None
    batch_rows: int = 32768
    workers: int = 0
    report_dir: Path = Path("verrou-reports")
    #: Kinds indexed for the private check, with the ``oprf_key`` given to :func:`ingest_dump`.
    lookup_kinds: tuple[Kind, ...] = ()


@dataclass
class IngestReport:
    """What an ingest did; printed as a table or as JSON (``--json``)."""

    breach: str
    file: str
    format: str
    encoding: str | None
    status: str  # "complete", "already_ingested"
    resumed: bool
    run_id: int
    rows_read: int
    rows_malformed: int
    rows_with_identifier: int
    rows_rejected: int
    valid: dict[str, int]
    invalid: dict[str, int]
    fingerprints: dict[str, int]
    #: Values indexed for the private check, per kind (empty: the run built no index).
    indexed: dict[str, int]
    duplicates: dict[str, int]
    reasons: dict[str, int]
    mapping: dict[str, str]
    elapsed_s: float
    rows_per_s: float
    report_file: str | None
    #: The canaries the dump holds, by source and planting date: where the data was taken
    #: from, and a date it was taken after (also the breach's evidence).
    canaries: list[BreachEvidence] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "canaries": [found.to_json() for found in self.canaries]}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def mapping_to_json(
    mapping: ColumnMapping, service: str, indexer: LookupIndexer | None = None
) -> dict[str, Any]:
    """What a run is started with and resumed with: its columns, its service and, when it
    builds the private check's index, that index's key id and kinds."""
    document: dict[str, Any] = {
        "fields": {f.value: c for f, c in mapping.fields.items()},
        "service": service,
    }
    if indexer is not None:
        document["lookup"] = {
            "key_id": indexer.key_id,
            "kinds": [kind.value for kind in sorted(indexer.kinds)],
        }
    return document


def mapping_from_json(data: dict[str, Any]) -> tuple[ColumnMapping, str]:
    fields = {Field(k): v for k, v in data["fields"].items()}
    return ColumnMapping(fields=fields, ignored=[]), str(data["service"])


@dataclass
class PreparedDump:
    """A dump opened and mapped, before anything is written."""

    dump: Dump
    mapping: ColumnMapping
    decisions: list[ColumnDecision]
    #: The first batch of consecutive records: the sample the mapping is detected from.
    first: DumpBatch | None
    #: Every span of the dump (after ``skip_records``), the first one included.
    spans: Iterator[RecordSpan] = field(repr=False)


def prepare(path: Path, options: IngestOptions, *, skip_records: int = 0) -> PreparedDump:
    """Open a dump and settle its column mapping (saved file, or detected from the first batch)."""
    dump = open_dump(path, batch_rows=options.batch_rows, table=options.table)
    spans = dump.spans(skip_records=skip_records)
    head = next(spans, None)
    first = next(head.batches(), None) if head is not None else None
    sample = first.batch if first is not None else _empty_batch(dump.columns)
    if options.mapping_file is not None:
        mapping = load_mapping(options.mapping_file, dump.columns)
        decisions = [
            ColumnDecision(column, field_, "file", None)
            for column in dump.columns
            for field_ in [_field_of(mapping, column)]
        ]
    else:
        mapping, decisions = detect_mapping(dump.columns, sample)
    return PreparedDump(dump, mapping, decisions, first, chain([head] if head else [], spans))


def _run_indexer(
    run_mapping: dict[str, Any] | None,
    breach: str,
    options: IngestOptions,
    oprf_key: OprfKey | None,
) -> LookupIndexer | None:
    """The run's index builder: a new run's from the options, a resumed run's as it started
    (with the same OPRF key, or :class:`KeyMaterialError`)."""
    if run_mapping is None:
        if oprf_key is None or not options.lookup_kinds:
            return None
        return LookupIndexer.for_run(oprf_key, breach, options.lookup_kinds)
    started = run_mapping.get("lookup")
    if started is None:
        return None
    if oprf_key is None or oprf_key.key_id != started["key_id"]:
        now = "none" if oprf_key is None else oprf_key.key_id
        raise KeyMaterialError(
            f"this run builds the private check's index with OPRF key {started['key_id']}; "
            f"the current OPRF key is {now}"
        )
    return LookupIndexer.for_run(oprf_key, breach, (Kind(k) for k in started["kinds"]))


def _field_of(mapping: ColumnMapping, column: str) -> Field | None:
    for field_, name in mapping.fields.items():
        if name == column:
            return field_
    return None


def _empty_batch(columns: list[str]) -> pa.RecordBatch:
    return pa.record_batch([pa.array([], pa.string()) for _ in columns], names=columns)


# --- worker processes -------------------------------------------------------------------------


@dataclass(frozen=True)
class _BatchKeys:
    """What the batch function computes with, besides the batch: copied into each worker."""

    plan: IngestPlan
    fingerprinter: Fingerprinter
    indexer: LookupIndexer | None

    def run(self, batch: pa.RecordBatch, records: npt.NDArray[np.uint32]) -> BatchOutcome:
        return fingerprint_batch(batch, self.plan, self.fingerprinter, records, self.indexer)


_worker_state: _BatchKeys | None = None


def _init_worker(keys: _BatchKeys) -> None:
    global _worker_state
    _worker_state = keys


def _work(batch: pa.RecordBatch, records: npt.NDArray[np.uint32]) -> BatchOutcome:
    assert _worker_state is not None
    return _worker_state.run(batch, records)


def _records(span: RecordSpan) -> npt.NDArray[np.uint32]:
    """The record number of each row, as the batch function takes them."""
    return span.records.astype(np.uint32)


class _Executor:
    """Runs the batch function in order, in worker processes or in-process (workers=0)."""

    def __init__(self, workers: int, keys: _BatchKeys) -> None:
        self.keys = keys
        self.pool: Pool | None = None
        self.window = max(2, workers * 2)
        if workers > 0:
            context = multiprocessing.get_context("fork")
            self.pool = context.Pool(workers, _init_worker, (keys,))

    def map(self, spans: Iterator[RecordSpan]) -> Iterator[tuple[RecordSpan, BatchOutcome]]:
        """Each span with its outcome, in order; one span is one batch."""
        if self.pool is None:
            for span in spans:
                yield span, self.keys.run(span.batch, _records(span))
            return
        # A bounded window, not Pool.imap: imap's feeder thread would read the whole dump ahead.
        pending: deque[tuple[RecordSpan, AsyncResult[BatchOutcome]]] = deque()
        for span in spans:
            pending.append((span, self.pool.apply_async(_work, (span.batch, _records(span)))))
            if len(pending) >= self.window:
                done, result = pending.popleft()
                yield done, result.get()
        while pending:
            done, result = pending.popleft()
            yield done, result.get()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


# --- the driver -------------------------------------------------------------------------------


def ingest_dump(
    store: IngestStore,
    fingerprinter: Fingerprinter,
    path: Path,
    options: IngestOptions,
    *,
    on_progress: ProgressCallback | None = None,
    oprf_key: OprfKey | None = None,
) -> IngestReport:
    """Ingest one dump into the registry for one breach. See the module docstring.

    With an ``oprf_key`` and ``options.lookup_kinds``, the run also builds the private check's
    index of those kinds (:mod:`verrou.lookup.index`); a resumed run builds it as it started.
    """
    started = time.perf_counter()
    if not path.is_file():
        raise DumpError(f"{path}: no such file")
    # Whoever calls, the registry refuses fingerprints made with another key than its own.
    store.bind_fingerprint_key(fingerprinter.key_id)
    file_sha256 = sha256_file(path)
    breach = store.get_breach(options.breach)
    existing = store.find_run(breach.id, file_sha256) if breach is not None else None
    if existing is not None and existing.status == RunStatus.COMPLETE:
        return _report(
            existing,
            options.breach,
            path,
            "?",
            None,
            started,
            already=True,
            resumed=False,
            report_file=None,
            # Again: a crash after the run's merge and before its evidence left none.
            canaries=attribute_run(store, existing, now=datetime.now(UTC)),
        )
    if existing is not None and existing.key_id != fingerprinter.key_id:
        raise KeyMaterialError(
            f"run {existing.id} of this file was started with key {existing.key_id}; "
            f"the current key is {fingerprinter.key_id}"
        )

    skip = existing.records_done if existing is not None else 0
    prepared = prepare(path, options, skip_records=skip)
    service = options.service or options.breach
    if existing is not None:
        mapping, service = mapping_from_json(existing.mapping)
    else:
        mapping = prepared.mapping
    plan = IngestPlan.from_mapping(mapping, service)
    indexer = _run_indexer(
        existing.mapping if existing is not None else None, options.breach, options, oprf_key
    )
    if plan.is_empty:
        prepared.dump.close()
        # The header is masked: when nothing in it names an identifier it may well be a row of
        # data (a dump without a header whose first row looked like names), and an error must
        # never carry a dump's content. --save-mapping writes the real names to the file.
        columns = prepared.dump.columns
        raise DumpError(
            f"{path.name}: no column maps to an identifier ({len(columns)} columns: "
            f"{', '.join(mask_value(column) for column in columns[:12])}); write a mapping "
            "with --save-mapping and pass it with --mapping"
        )

    # From here on the registry changes.
    if breach is None:
        breach = store.ensure_breach(BreachInfo(name=options.breach))
    if existing is None:
        run = store.start_run(
            NewRun(
                breach_id=breach.id,
                file_name=path.name,
                file_sha256=file_sha256,
                file_size=path.stat().st_size,
                format=prepared.dump.format,
                mapping=mapping_to_json(mapping, service, indexer),
                key_id=fingerprinter.key_id,
            )
        )
    else:
        run = store.restart_run(existing.id)

    counts: dict[str, Any] = dict(run.counts)
    seq = run.batches_done
    records_done = run.records_done
    if on_progress is not None:
        on_progress(records_done)
    executor = _Executor(options.workers, _BatchKeys(plan, fingerprinter, indexer))
    try:
        for span, outcome in executor.map(prepared.spans):
            rejects = list(outcome.rejects) + [_malformed(m) for m in span.malformed]
            counts = merge_counts(counts, outcome, len(span.malformed))
            records_done = max(records_done, span.last)
            store.commit_batch(
                BatchCommit(run.id, seq, outcome.segments, records_done, counts, rejects)
            )
            seq += 1
            if on_progress is not None:
                on_progress(records_done)
        run = store.finish_run(run.id, counts)
    except BaseException as exc:
        reason = str(exc) if isinstance(exc, VerrouError) else type(exc).__name__
        store.fail_run(run.id, reason)
        raise
    finally:
        executor.close()
        prepared.dump.close()

    report_file = write_rejects_report(store, run, options.report_dir)
    return _report(
        run,
        options.breach,
        path,
        prepared.dump.format,
        prepared.dump.encoding,
        started,
        already=False,
        resumed=existing is not None,
        report_file=report_file,
        canaries=attribute_run(store, run, now=datetime.now(UTC)),
    )


def _malformed(item: Malformed) -> Reject:
    return Reject(item.row, "*", "row", item.reason, "")


def write_rejects_report(store: IngestRunStore, run: IngestRun, report_dir: Path) -> str | None:
    """Rejected rows of a run as CSV (row, column, kind, reason, masked value), or None if none."""
    rejects = store.rejects(run.id)
    first = next(rejects, None)
    if first is None:
        return None
    report_dir.mkdir(parents=True, exist_ok=True)
    target = report_dir / f"run-{run.id}-{run.file_sha256[:12]}-rejects.csv"
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "column", "kind", "reason", "masked_value"])
        for reject in chain([first], rejects):
            writer.writerow([reject.row, reject.column, reject.kind, reject.reason, reject.masked])
    return str(target)


def _report(
    run: IngestRun,
    breach: str,
    path: Path,
    fmt: str,
    encoding: str | None,
    started: float,
    *,
    already: bool,
    resumed: bool,
    report_file: str | None,
    canaries: list[BreachEvidence],
) -> IngestReport:
    counts = run.counts
    elapsed = time.perf_counter() - started
    rows = int(counts.get("rows_read", 0))
    return IngestReport(
        breach=breach,
        file=str(path),
        format=run.format if fmt == "?" else fmt,
        encoding=encoding,
        status="already_ingested" if already else run.status,
        resumed=resumed,
        run_id=run.id,
        rows_read=rows,
        rows_malformed=int(counts.get("rows_malformed", 0)),
        rows_with_identifier=int(counts.get("rows_with_identifier", 0)),
        rows_rejected=int(counts.get("rows_rejected", 0)),
        valid=dict(counts.get("valid", {})),
        invalid=dict(counts.get("invalid", {})),
        fingerprints=dict(counts.get("fingerprints", {})),
        indexed=dict(counts.get("indexed", {})),
        duplicates=dict(counts.get("duplicates", {})),
        reasons=dict(counts.get("reasons", {})),
        mapping=dict(run.mapping.get("fields", {})),
        elapsed_s=round(elapsed, 3),
        rows_per_s=round(rows / elapsed, 1) if elapsed > 0 and not already else 0.0,
        report_file=report_file,
        canaries=canaries,
    )


# --- dry run ----------------------------------------------------------------------------------


@dataclass
class ColumnPreview:
    column: str
    field: str | None
    by: str
    hit_rate: float | None
    samples: list[str]


@dataclass
class DryRunReport:
    file: str
    format: str
    encoding: str | None
    columns: list[ColumnPreview]
    kinds: list[str]
    sample_rows: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def dry_run(path: Path, options: IngestOptions) -> tuple[DryRunReport, ColumnMapping]:
    """The mapping chosen, per-column hit rates and masked canonical samples; writes nothing."""
    if not path.is_file():
        raise DumpError(f"{path}: no such file")
    prepared = prepare(path, options)
    try:
        batch = prepared.first.batch if prepared.first is not None else None
        plan = IngestPlan.from_mapping(prepared.mapping, options.service or options.breach)
        single = {s.column: s for s in plan.single}
        previews = []
        for decision in prepared.decisions:
            samples: list[str] = []
            hit_rate = decision.hit_rate
            if batch is not None and decision.column in single:
                spec = single[decision.column]
                raw = batch.column(batch.schema.get_field_index(decision.column))
                result = canonicalise_column(spec.kind, raw, namespace=spec.namespace)
                non_blank = len(result.canonical) - result.canonical.null_count + len(result.errors)
                hit_rate = (
                    (len(result.canonical) - result.canonical.null_count) / non_blank
                    if non_blank
                    else None
                )
                samples = [mask_value(v) for v in result.canonical.drop_null()[:3].to_pylist()]
            previews.append(
                ColumnPreview(
                    decision.column,
                    decision.field.value if decision.field is not None else None,
                    decision.by,
                    None if hit_rate is None else round(hit_rate, 4),
                    samples,
                )
            )
        return (
            DryRunReport(
                file=str(path),
                format=prepared.dump.format,
                encoding=prepared.dump.encoding,
                columns=previews,
                kinds=[k.value for k in plan.kinds],
                sample_rows=batch.num_rows if batch is not None else 0,
            ),
            prepared.mapping,
        )
    finally:
        prepared.dump.close()
