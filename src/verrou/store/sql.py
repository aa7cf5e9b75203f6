"""The registry operations both SQL backends share, written once.

:class:`SqlRegistry` holds the freezes and thaws, the audit chain, relying parties, the alert
outbox, sealed contacts, the lookup of leaked fingerprints and the recording of checks. A backend
(:mod:`verrou.store.sqlite`, :mod:`verrou.store.postgres`) supplies the dialect: its connection
and transactions, how it spells placeholders, timestamps, flags, JSON and "one of these values",
how it runs a migration and streams a long read, and how it locks the audit chain's head. The
schema, the breaches and the bookkeeping of ingest runs are here too; how a run stages and
merges its fingerprints, and how alerts are claimed, is each backend's own. SQL here is written
with ``?`` placeholders.

Every state change takes the chain head first (SQLite: the one writer of ``BEGIN IMMEDIATE``;
PostgreSQL: ``FOR UPDATE`` on the head row) and reads the state it changes after that, so
concurrent transitions and checks take turns, none is lost, and the audit log's order is the
order in which they happened.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar

from verrou.errors import (
    CanonicaliserVersionMismatch,
    Conflict,
    FingerprintKeyMismatch,
    KeyMaterialError,
    NotFound,
    StoreError,
)
from verrou.fingerprints import block_prefix
from verrou.identifiers.kinds import KIND_VERSIONS
from verrou.registry.alerts import ALERT_RANK, Alert, OutboxItem, new_alert_id
from verrou.registry.audit import AuditEntry, AuditSnapshot, StoredEntry
from verrou.registry.outcomes import summed
from verrou.registry.policy import Freeze, Thaw
from verrou.registry.records import (
    AUDIT_PAGE,
    MEASURES,
    BatchCommit,
    Breach,
    BreachInfo,
    BreachSummary,
    CheckSnapshot,
    IngestRun,
    NewRun,
    OutboxStatus,
    QueuedAlert,
    Reject,
    RelyingParty,
    RunStatus,
    SealedContact,
    Tally,
    api_key_hash,
    looks_like_api_key,
    record_id,
    relying_party_draft,
)
from verrou.store.base import (
    BREACH_COLUMNS,
    FREEZE_COLUMNS,
    FREEZES_WITH_THAWS,
    OUTBOX_COLUMNS,
    RELYING_PARTY_COLUMNS,
    RUN_COLUMNS,
    THAW_COLUMNS,
    AuditDraft,
    Conclude,
    ExposureHit,
    alert_detail,
    breach_from_row,
    chain_entry,
    find_in_block,
    freeze_audit,
    freeze_audit_subject,
    freeze_from_row,
    freeze_row,
    freezes_and_thaws,
    relying_party_from_row,
    run_from_row,
    summarise_breaches,
    thaw_audit,
    thaw_from_row,
    thaw_row,
)
from verrou.store.migrations import migrations_for, render
from verrou.store.protocols import RegistryStore
from verrou.store.sql_operators import SqlOperators
from verrou.store.sql_sessions import SqlSessions

#: A query function: SQL with ``?`` placeholders and its parameters → rows.
Fetch = Callable[[str, Sequence[Any]], list[Any]]


#: One outcome tally added to its (breach, sector, day) row, written once (each check group
#: runs it in its transaction).
_UPSERT_OUTCOMES = (
    f"INSERT INTO outcome_counts (breach_id, sector, day, {', '.join(MEASURES)}) "
    f"VALUES (?, ?, ?, {', '.join('?' for _ in MEASURES)}) "
    "ON CONFLICT (breach_id, sector, day) DO UPDATE SET "
    + ", ".join(f"{m} = outcome_counts.{m} + excluded.{m}" for m in MEASURES)
)


def _now() -> datetime:
    return datetime.now(UTC)


#: This verrou's canonicaliser version per kind, by the kind's name (as the registry records it).
_CURRENT_VERSIONS: Mapping[str, int] = {
    kind.value: version for kind, version in KIND_VERSIONS.items()
}

#: An alert kind's rank in SQL (higher is stronger), as :data:`verrou.registry.alerts.ALERT_RANK`.
_RANK_SQL = "(CASE {} WHEN 'canary_tripped' THEN 3 WHEN 'attempt_on_frozen' THEN 2 ELSE 1 END)"


class _ProbeDone(Exception):
    """Ends :meth:`SqlRegistry.probe_write`'s transaction by rolling it back."""


class SqlRegistry(SqlSessions, SqlOperators, RegistryStore):
    """Registry operations over a DB-API connection; the dialect hooks are the backend's."""

    #: The dialect's name, as :func:`verrou.store.migrations.migrations_for` knows it.
    DIALECT: ClassVar[str]
    #: Appended to the read of the audit head to lock it for the transaction.
    HEAD_LOCK: ClassVar[str] = ""
    #: One row, one column: whether the ``schema_migrations`` table exists.
    HAS_MIGRATIONS: ClassVar[str]

    # --- dialect hooks (the backend overrides these) ------------------------------------------

    def _write(self) -> AbstractContextManager[Any]:
        """A transaction on the backend's connection, rolled back on error."""
        raise NotImplementedError

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of one statement (``?`` placeholders), outside any write transaction."""
        raise NotImplementedError

    def _snapshot(self) -> AbstractContextManager[Any]:
        """A read-only transaction whose statements all see one committed state, without
        blocking writers (SQLite WAL: a deferred transaction; PostgreSQL: REPEATABLE READ)."""
        raise NotImplementedError

    def _stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Any]:
        """The rows of one statement (``?`` placeholders) as they come, for reads too long to
        hold at once."""
        raise NotImplementedError

    def _run_script(self, db: Any, sql: str) -> None:
        """Run a migration's statements in the write transaction ``db``."""
        raise NotImplementedError

    def _serialise_migrations(self, db: Any) -> None:
        """Make concurrent migrations take turns, for the transaction ``db``; SQLite's one
        writer (``BEGIN IMMEDIATE``) already does."""

    def _sql(self, sql: str) -> str:
        """The statement in the dialect's placeholder style."""
        return sql

    def _at(self, moment: datetime) -> Any:
        """A timestamp as the dialect stores it."""
        return moment

    def _stamp(self, moment: datetime | None) -> Any:
        """A timestamp (or NULL) of the core tables (breaches, ingest runs, migrations) as the
        dialect stores it: SQLite wrote those as ISO text of varying width before the registry's
        own tables fixed one (:meth:`_at`), and their readers expect what they hold."""
        return moment

    def _when(self, value: Any) -> datetime | None:
        """A stored timestamp (or NULL) as a datetime."""
        return value  # type: ignore[no-any-return]

    def _flag(self, value: bool) -> Any:
        return value

    def _json(self, value: Any) -> Any:
        """A JSON value as the dialect stores it (the inverse of :meth:`_structured`)."""
        return value

    def _one_of(self, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """``IN (...)``-like fragment matching any of ``values``, and its parameters."""
        return f"IN ({','.join('?' * len(values))})", list(values)

    def _exec(self, db: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        return db.execute(self._sql(sql), params)

    def _fetch_in(self, db: Any) -> Fetch:
        return lambda sql, params: self._exec(db, sql, params).fetchall()

    def _insert(
        self, db: Any, table: str, columns: str, row: Sequence[Any], *, unless: str = ""
    ) -> bool:
        """One row into ``table``, its values in the order of ``columns``: one placeholder per
        value, so that the statement cannot drift from a column list of verrou.store.base.
        With ``unless`` (a unique key's columns), nothing when a row with that key exists.
        Whether a row was added."""
        marks = ", ".join("?" * len(row))
        conflict = f" ON CONFLICT ({unless}) DO NOTHING" if unless else ""
        sql = f"INSERT INTO {table} ({columns}) VALUES ({marks}){conflict}"
        return bool(self._exec(db, sql, row).rowcount == 1)

    # --- schema -------------------------------------------------------------------------------

    def schema_version(self) -> int:
        if not self._read(self.HAS_MIGRATIONS)[0][0]:
            return 0
        return int(self._read("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0])

    def migrate(self) -> list[int]:
        applied: list[int] = []
        with self._write() as db:
            self._serialise_migrations(db)
            self._exec(
                db,
                render(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                    "name TEXT NOT NULL, applied_at {{time}} NOT NULL)",
                    self.DIALECT,
                ),
            )
            done = {
                row[0] for row in self._exec(db, "SELECT version FROM schema_migrations").fetchall()
            }
            for migration in migrations_for(self.DIALECT):
                if migration.version in done:
                    continue
                self._run_script(db, migration.sql)
                self._exec(
                    db,
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    (migration.version, migration.name, self._stamp(_now())),
                )
                applied.append(migration.version)
        return applied

    # --- health -------------------------------------------------------------------------------

    def ping(self) -> None:
        rows = self._read("SELECT seq FROM audit_head WHERE id = 1")
        if not rows:
            raise StoreError("the registry answers but is not migrated (no audit head)")

    # --- the fingerprint key the registry is built with ---------------------------------------

    def bind_fingerprint_key(self, key_id: str, versions: Mapping[str, int] | None = None) -> None:
        with self._write() as db:
            row = self._exec(db, "SELECT key_id FROM registry_key WHERE id = 1").fetchone()
            if row is None:
                # First keyed use, or a registry from before the key was recorded: adopt the
                # key of its ingest runs, if they agree; else the key given now.
                used = [
                    str(found[0])
                    for found in self._exec(
                        db, "SELECT DISTINCT key_id FROM ingest_runs ORDER BY key_id"
                    ).fetchall()
                ]
                if len(used) > 1:
                    raise KeyMaterialError(
                        f"this registry holds ingest runs made with {len(used)} fingerprint "
                        f"keys ({', '.join(used)}): its fingerprints do not agree, so it cannot "
                        "be used until an operator removes the runs of the wrong key"
                    )
                self._exec(
                    db,
                    "INSERT INTO registry_key (id, key_id, bound_at) VALUES (1, ?, ?) "
                    "ON CONFLICT (id) DO NOTHING",
                    (used[0] if used else key_id, self._at(_now())),
                )
                row = self._exec(db, "SELECT key_id FROM registry_key WHERE id = 1").fetchone()
        bound = str(row[0])
        if bound != key_id:
            raise FingerprintKeyMismatch(bound, key_id)
        with self._write() as db:
            self._bind_canonicalisers(db, _CURRENT_VERSIONS if versions is None else versions)

    def _bind_canonicalisers(self, db: Any, versions: Mapping[str, int]) -> None:
        """Refuse other canonicaliser versions than the registry's; record the kinds it has
        none for (a new registry, or a kind this verrou added)."""
        recorded = {
            str(kind): int(version)
            for kind, version in self._exec(
                db, "SELECT kind, version FROM registry_canonicalisers"
            ).fetchall()
        }
        differing = {
            kind: (built, versions.get(kind))
            for kind, built in recorded.items()
            if versions.get(kind) != built
        }
        if differing:
            raise CanonicaliserVersionMismatch(differing)
        now = self._at(_now())
        missing = [(str(kind), v, now) for kind, v in versions.items() if kind not in recorded]
        if missing:
            db.cursor().executemany(
                self._sql(
                    "INSERT INTO registry_canonicalisers (kind, version, bound_at) "
                    "VALUES (?, ?, ?) ON CONFLICT (kind) DO NOTHING"
                ),
                missing,
            )

    def probe_write(self) -> None:
        # The chain head is what every check writes first: if it can be written now, a check
        # can be recorded now. The change is a no-op, and rolled back anyway.
        try:
            with self._write() as db:
                self._exec(db, "UPDATE audit_head SET seq = seq WHERE id = 1")
                raise _ProbeDone
        except _ProbeDone:
            pass

    # --- lookup -------------------------------------------------------------------------------

    def lookup(self, fingerprints: Sequence[bytes]) -> list[ExposureHit]:
        return self._lookup(self._read, fingerprints)

    def _lookup(self, fetch: Fetch, fingerprints: Sequence[bytes]) -> list[ExposureHit]:
        by_prefix: dict[int, list[bytes]] = {}
        for fp in fingerprints:
            by_prefix.setdefault(block_prefix(fp), []).append(fp)
        if not by_prefix:
            return []
        prefixes, params = self._one_of(list(by_prefix))
        rows = fetch(
            "SELECT b.prefix, b.entries, r.id, r.uid, r.breach_id, br.name "
            "FROM exposure_blocks b JOIN ingest_runs r ON r.id = b.run_id "
            "JOIN breaches br ON br.id = r.breach_id "
            f"WHERE b.prefix {prefixes} AND r.status = 'complete'",
            params,
        )
        hits: list[ExposureHit] = []
        for prefix, blob, run_id, uid, breach_id, breach_name in rows:
            for fp in dict.fromkeys(by_prefix[prefix]):
                for kind, record in find_in_block(bytes(blob), fp):
                    rid = record_id(bytes(uid), record)
                    hits.append(ExposureHit(fp, kind, breach_id, breach_name, run_id, record, rid))
        return hits

    def lookup_entries(self, buckets: range) -> list[bytes]:
        """The private check's index entries of the 16-bit ``buckets``, in blocks (one a
        bucket and complete run; see :mod:`verrou.lookup.index`)."""
        rows = self._read(
            "SELECT entries FROM lookup_blocks WHERE prefix >= ? AND prefix < ?",
            (buckets.start, buckets.stop),
        )
        return [bytes(row[0]) for row in rows]

    # --- checks -------------------------------------------------------------------------------

    def run_checks(
        self, fingerprints: Sequence[bytes], *, now: datetime, conclude: Conclude
    ) -> list[AuditEntry]:
        keys = list(dict.fromkeys(fingerprints))
        with self._write() as db:
            head = self._audit_head(db)
            fetch = self._fetch_in(db)
            hits = self._lookup(fetch, keys)
            freezes, thaws = self._freezes_for(fetch, keys, now)
            contacts = self._contacts_for(fetch, keys)
            breaches: dict[int, Breach] = {}
            if hits:
                ids, params = self._one_of(sorted({hit.breach_id for hit in hits}))
                for row in fetch(f"SELECT {BREACH_COLUMNS} FROM breaches WHERE id {ids}", params):
                    breach = self._breach(row)
                    breaches[breach.id] = breach
            records = conclude(CheckSnapshot(hits, freezes, thaws, contacts, breaches))
            entries = self._chain_many(db, head, [record.audit for record in records])
            self._index_checks(db, entries)
            self._count_outcomes(db, [t for record in records for t in record.tallies])
            queued = [queued for record in records for queued in record.alerts]
            if queued:
                self._queue_alerts(db, queued, now)
        return entries

    def _index_checks(self, db: Any, entries: Sequence[AuditEntry]) -> None:
        """One ``check_subjects`` row (fingerprint, seq) per key of each check, in the checks'
        transaction: the index "who checked my identity" reads instead of the log."""
        rows = [
            (bytes.fromhex(fingerprint), entry.seq)
            for entry in entries
            if entry.action == "check"
            for fingerprint in entry.details.get("fingerprints", ())
        ]
        if rows:
            db.cursor().executemany(
                self._sql("INSERT INTO check_subjects (fingerprint, seq) VALUES (?, ?)"), rows
            )

    def _count_outcomes(self, db: Any, tallies: Sequence[Tally]) -> None:
        """Add ``tallies`` to ``outcome_counts``, one upsert per (breach, sector, day), in the
        transaction of the checks or the report they count (see verrou.registry.outcomes)."""
        rows = [(t.breach_id, t.sector, t.day.isoformat(), *t.counts()) for t in summed(tallies)]
        if rows:
            db.cursor().executemany(self._sql(_UPSERT_OUTCOMES), rows)

    def _queue_alerts(self, db: Any, queued: Sequence[QueuedAlert], now: datetime) -> None:
        """Coalesce alerts: one per owner, relying party and window, counting its checks.

        The group's alerts are first summed per key, then each key costs one upsert on the
        unique index (owner_ref, relying_party_id, window_start), in the checks' transaction.
        An alert still pending absorbs the checks; once delivered (or failed), later checks of
        the same window go to the alert of the next window, due when that window starts: no
        check goes untold, and an owner hears from one relying party at most once a window.
        """
        summed: dict[tuple[str, str, int], tuple[QueuedAlert, int, datetime]] = {}
        for item in queued:
            key = (item.owner_ref, item.relying_party_id, item.window_start)
            if key not in summed:
                summed[key] = (item, 1, item.alert.at)
                continue
            first, count, last = summed[key]
            if ALERT_RANK[item.alert.kind] > ALERT_RANK[first.alert.kind]:
                first = replace(first, alert=replace(first.alert, kind=item.alert.kind))
            summed[key] = (first, count + 1, max(last, item.alert.at))
        for first, count, last in summed.values():
            self._coalesce(db, first, count, last, now)

    #: Windows an alert's checks may move forward before it is queued on its own (each step
    #: needs the alert of that window delivered already: in practice one step at most).
    _MAX_WINDOW_STEPS: ClassVar[int] = 4

    def _coalesce(
        self, db: Any, item: QueuedAlert, count: int, last: datetime, now: datetime
    ) -> None:
        alert = item.alert
        start, end = item.window_start, item.window_end
        length = end - start
        for step in range(self._MAX_WINDOW_STEPS + 1):
            final = step == self._MAX_WINDOW_STEPS
            due = max(now, datetime.fromtimestamp(start, UTC))
            upserted = self._exec(
                db,
                f"INSERT INTO alert_outbox ({OUTBOX_COLUMNS}, owner_ref, relying_party_id, "
                "window_start, window_end) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, 'pending', NULL, NULL, ?, ?, NULL, ?, ?, ?, ?) "
                "ON CONFLICT (owner_ref, relying_party_id, window_start) DO UPDATE SET "
                "checks = alert_outbox.checks + excluded.checks, "
                "last_check_at = excluded.last_check_at, "
                f"kind = CASE WHEN {_RANK_SQL.format('excluded.kind')} > "
                f"{_RANK_SQL.format('alert_outbox.kind')} "
                "THEN excluded.kind ELSE alert_outbox.kind END "
                "WHERE alert_outbox.status = 'pending'",
                (
                    new_alert_id() if step else alert.id,
                    alert.subject_fingerprint,
                    alert.kind,
                    alert.relying_party,
                    self._at(alert.at),
                    alert.check_id,
                    item.sealed_contact,
                    self._at(due),
                    count,
                    self._at(last),
                    item.owner_ref,
                    item.relying_party_id,
                    None if final else start,  # NULL: on its own, never lost
                    None if final else end,
                ),
            )
            if upserted.rowcount == 1:
                return
            start, end = end, end + length

    # --- breaches and ingest runs (staging and merging a run's blocks stay per backend) --------

    def ensure_breach(self, info: BreachInfo) -> Breach:
        # A breach given again keeps its timeline: only what the operator gave now changes.
        with self._write() as db:
            self._exec(
                db,
                "INSERT INTO breaches (name, title, source, description, data_classes, "
                "intrusion_started_at, detected_at, contained_at, disclosed_at, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET "
                "title = COALESCE(excluded.title, breaches.title), "
                "source = COALESCE(excluded.source, breaches.source), "
                "description = COALESCE(excluded.description, breaches.description), "
                "data_classes = CASE WHEN excluded.data_classes = '[]' "
                "  THEN breaches.data_classes ELSE excluded.data_classes END, "
                "intrusion_started_at = COALESCE(excluded.intrusion_started_at, "
                "  breaches.intrusion_started_at), "
                "detected_at = COALESCE(excluded.detected_at, breaches.detected_at), "
                "contained_at = COALESCE(excluded.contained_at, breaches.contained_at), "
                "disclosed_at = COALESCE(excluded.disclosed_at, breaches.disclosed_at)",
                (
                    info.name,
                    info.title,
                    info.source,
                    info.description,
                    self._json(list(info.data_classes)),
                    self._stamp(info.intrusion_started_at),
                    self._stamp(info.detected_at),
                    self._stamp(info.contained_at),
                    self._stamp(info.disclosed_at),
                    self._stamp(_now()),
                ),
            )
        breach = self.get_breach(info.name)
        assert breach is not None
        return breach

    def get_breach(self, name: str) -> Breach | None:
        rows = self._read(f"SELECT {BREACH_COLUMNS} FROM breaches WHERE name = ?", (name,))
        return self._breach(rows[0]) if rows else None

    def list_breaches(self) -> list[BreachSummary]:
        breaches = [
            self._breach(row)
            for row in self._read(f"SELECT {BREACH_COLUMNS} FROM breaches ORDER BY name")
        ]
        complete = self._read(
            "SELECT breach_id, counts, finished_at FROM ingest_runs WHERE status = 'complete' "
            "ORDER BY id"
        )
        return summarise_breaches(
            breaches, ((b, self._structured(c), self._when(f)) for b, c, f in complete)
        )

    def find_run(self, breach_id: int, file_sha256: str) -> IngestRun | None:
        rows = self._read(
            f"SELECT {RUN_COLUMNS} FROM ingest_runs WHERE breach_id = ? AND file_sha256 = ?",
            (breach_id, file_sha256),
        )
        return run_from_row(rows[0], self._when, self._structured) if rows else None

    def get_run(self, run_id: int) -> IngestRun:
        rows = self._read(f"SELECT {RUN_COLUMNS} FROM ingest_runs WHERE id = ?", (run_id,))
        if not rows:
            raise NotFound(f"no ingest run {run_id}")
        return run_from_row(rows[0], self._when, self._structured)

    def list_runs(self) -> list[IngestRun]:
        rows = self._read(f"SELECT {RUN_COLUMNS} FROM ingest_runs ORDER BY id DESC")
        return [run_from_row(row, self._when, self._structured) for row in rows]

    def start_run(self, run: NewRun) -> IngestRun:
        with self._write() as db:
            row = self._exec(
                db,
                "INSERT INTO ingest_runs (uid, breach_id, file_name, file_sha256, file_size, "
                "format, mapping, key_id, status, started_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    secrets.token_bytes(16),
                    run.breach_id,
                    run.file_name,
                    run.file_sha256,
                    run.file_size,
                    run.format,
                    self._json(run.mapping),
                    run.key_id,
                    RunStatus.RUNNING,
                    self._stamp(_now()),
                ),
            ).fetchone()
        return self.get_run(int(row[0]))

    def _checkpoint(self, db: Any, batch: BatchCommit) -> None:
        """Record a batch as done, in the transaction ``db`` that holds what it wrote: a run
        resumes after its last checkpoint."""
        self._exec(
            db,
            "UPDATE ingest_runs SET records_done = ?, batches_done = ?, counts = ? WHERE id = ?",
            (batch.records_done, batch.seq + 1, self._json(batch.counts), batch.run_id),
        )

    def _complete_run(
        self, db: Any, run_id: int, counts: Mapping[str, Any], duplicates: dict[str, int]
    ) -> None:
        """Mark a run complete, in the transaction ``db`` that merged its blocks, and count its
        records into its breach."""
        now = self._stamp(_now())
        self._exec(
            db,
            "UPDATE ingest_runs SET status = 'complete', finished_at = ?, counts = ? WHERE id = ?",
            (now, self._json(dict(counts, duplicates=duplicates)), run_id),
        )
        self._exec(
            db,
            "UPDATE breaches SET ingested_at = ?, record_count = record_count + ? "
            "WHERE id = (SELECT breach_id FROM ingest_runs WHERE id = ?)",
            (now, int(counts.get("rows_with_identifier", 0)), run_id),
        )

    def rejects(self, run_id: int) -> Iterator[Reject]:
        for row in self._stream(
            "SELECT row, column_name, kind, reason, masked FROM ingest_rejects "
            "WHERE run_id = ? ORDER BY row, column_name",
            (run_id,),
        ):
            yield Reject(*row)

    def fail_run(self, run_id: int, error: str) -> None:
        with self._write() as db:
            self._exec(
                db,
                "UPDATE ingest_runs SET status = 'failed', error = ? WHERE id = ? "
                "AND status = 'running'",
                (error, run_id),
            )

    def _breach(self, row: Sequence[Any]) -> Breach:
        return breach_from_row(row, self._when, self._structured)

    def _structured(self, value: Any) -> Any:
        return value

    # --- audit log ----------------------------------------------------------------------------

    def _audit_head(self, db: Any) -> tuple[int, bytes]:
        # Taken first by every transition: see the module docstring.
        row = self._exec(
            db, "SELECT seq, entry_hash FROM audit_head WHERE id = 1" + self.HEAD_LOCK
        ).fetchone()
        if row is None:
            raise StoreError("the audit log has no head row (schema not migrated?)")
        return int(row[0]), bytes(row[1])

    def _chain_many(
        self, db: Any, head: tuple[int, bytes], drafts: Sequence[AuditDraft]
    ) -> list[AuditEntry]:
        entries: list[AuditEntry] = []
        rows: list[tuple[int, bytes, bytes, bytes]] = []
        seq, prev = head
        for draft in drafts:
            entry, stored = chain_entry(seq, prev, draft)
            entries.append(entry)
            rows.append((entry.seq, stored.content, stored.prev_hash, stored.entry_hash))
            seq, prev = entry.seq, stored.entry_hash
        if rows:
            db.cursor().executemany(
                self._sql(
                    "INSERT INTO audit_log (seq, content, prev_hash, entry_hash) "
                    "VALUES (?, ?, ?, ?)"
                ),
                rows,
            )
            self._exec(
                db, "UPDATE audit_head SET seq = ?, entry_hash = ? WHERE id = 1", (seq, prev)
            )
        return entries

    def _chain(self, db: Any, head: tuple[int, bytes], draft: AuditDraft) -> AuditEntry:
        return self._chain_many(db, head, [draft])[0]

    def append_audit(self, draft: AuditDraft) -> AuditEntry:
        with self._write() as db:
            return self._chain(db, self._audit_head(db), draft)

    def audit_entries(self) -> Iterator[StoredEntry]:
        # Pages by seq rather than one open cursor: no transaction stays open while the caller
        # verifies, and the connection stays usable in between.
        after = 0
        while True:
            rows = self._read(
                "SELECT seq, content, prev_hash, entry_hash FROM audit_log WHERE seq > ? "
                "ORDER BY seq LIMIT ?",
                (after, AUDIT_PAGE),
            )
            for seq, content, prev_hash, entry_hash in rows:
                after = seq
                yield StoredEntry(bytes(content), bytes(prev_hash), bytes(entry_hash))
            if len(rows) < AUDIT_PAGE:
                return

    def audit_snapshot(self) -> AuditSnapshot:
        # One snapshot, not the head lock: every change commits its rows with the head, so a
        # committed state is consistent, and checks are not held up while this reads.
        with self._snapshot() as db:
            head = self._exec(db, "SELECT seq, entry_hash FROM audit_head WHERE id = 1").fetchone()
            last = self._exec(
                db, "SELECT seq, entry_hash FROM audit_log ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            freezes = [
                freeze_from_row(row, self._when)
                for row in self._exec(
                    db, f"SELECT {FREEZE_COLUMNS} FROM freezes ORDER BY fingerprint"
                ).fetchall()
            ]
            thaws = [
                thaw_from_row(row, self._when)
                for row in self._exec(
                    db, f"SELECT {THAW_COLUMNS} FROM thaws ORDER BY id"
                ).fetchall()
            ]
        return AuditSnapshot(
            head=None if head is None else (int(head[0]), bytes(head[1])),
            last=None if last is None else (int(last[0]), bytes(last[1])),
            freezes=freezes,
            thaws=thaws,
        )

    # --- freezes and thaws --------------------------------------------------------------------

    def place_freeze(self, freeze: Freeze, *, audit: AuditDraft) -> Freeze:
        audit = freeze_audit(freeze, audit)
        with self._write() as db:
            head = self._audit_head(db)
            row = self._exec(
                db,
                f"SELECT {FREEZE_COLUMNS} FROM freezes WHERE fingerprint = ?",
                (freeze.fingerprint,),
            ).fetchone()
            if row is not None:  # under the head lock: nobody lifts it before we return
                held = freeze_from_row(row, self._when)
                if freeze.rank <= held.rank:
                    return held
                # A stronger freeze replaces a weaker one, and its thaws with it (a report
                # must not stay open because the account it came from had thawed the key).
                self._exec(db, "DELETE FROM freezes WHERE fingerprint = ?", (freeze.fingerprint,))
            self._insert(db, "freezes", FREEZE_COLUMNS, freeze_row(freeze, self._at, self._flag))
            self._chain(db, head, audit)
        return freeze

    def lift_freeze(self, fingerprint: bytes, *, audit: AuditDraft) -> bool:
        freeze_audit_subject(fingerprint, audit)
        with self._write() as db:
            head = self._audit_head(db)
            # Its thaws go with it (ON DELETE CASCADE): a later freeze starts closed.
            lifted = self._exec(db, "DELETE FROM freezes WHERE fingerprint = ?", (fingerprint,))
            if lifted.rowcount == 0:
                return False
            self._chain(db, head, audit)
        return True

    def add_thaw(self, thaw: Thaw, *, audit: AuditDraft) -> Thaw:
        audit = thaw_audit(thaw, audit)
        with self._write() as db:
            head = self._audit_head(db)
            frozen = self._exec(
                db, "SELECT 1 FROM freezes WHERE fingerprint = ?", (thaw.fingerprint,)
            ).fetchone()
            if frozen is None:
                raise Conflict("this key is not frozen: there is nothing to thaw")
            if thaw.relying_party_id is not None and (
                self._exec(
                    db, "SELECT 1 FROM relying_parties WHERE id = ?", (thaw.relying_party_id,)
                ).fetchone()
                is None
            ):
                raise NotFound(f"no relying party {thaw.relying_party_id}")
            self._insert(db, "thaws", THAW_COLUMNS, thaw_row(thaw, self._at))
            self._chain(db, head, audit)
        return thaw

    def freezes_for(
        self, fingerprints: Sequence[bytes], *, now: datetime
    ) -> tuple[list[Freeze], list[Thaw]]:
        return self._freezes_for(self._read, list(dict.fromkeys(fingerprints)), now)

    def _freezes_for(
        self, fetch: Fetch, keys: list[bytes], now: datetime
    ) -> tuple[list[Freeze], list[Thaw]]:
        if not keys:
            return [], []
        # One statement, one snapshot: freezes and thaws agree with each other.
        match, params = self._one_of(keys)
        rows = fetch(FREEZES_WITH_THAWS.format(keys=match, now="?"), [self._at(now), *params])
        return freezes_and_thaws(rows, self._when)

    # --- relying parties ----------------------------------------------------------------------

    def add_relying_party(self, party: RelyingParty, key_hash: bytes, *, audit: AuditDraft) -> None:
        with self._write() as db:
            head = self._audit_head(db)
            self._exec(
                db,
                "INSERT INTO relying_parties "
                "(id, name, sector, key_hash, key_prefix, created_at, rate_limit) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    party.id,
                    party.name,
                    party.sector,
                    key_hash,
                    party.key_prefix,
                    self._at(party.created_at),
                    party.rate_limit,
                ),
            )
            self._chain(db, head, audit)

    def relying_party_by_key(self, api_key: str) -> RelyingParty | None:
        if not looks_like_api_key(api_key):
            return None
        rows = self._read(
            f"SELECT {RELYING_PARTY_COLUMNS} FROM relying_parties "
            "WHERE key_hash = ? AND revoked_at IS NULL",
            (api_key_hash(api_key),),
        )
        return relying_party_from_row(rows[0], self._when) if rows else None

    def list_relying_parties(self) -> list[RelyingParty]:
        rows = self._read(
            f"SELECT {RELYING_PARTY_COLUMNS} FROM relying_parties ORDER BY created_at, id"
        )
        return [relying_party_from_row(row, self._when) for row in rows]

    def revoke_relying_party(
        self, relying_party_id: str, *, actor: str = "operator", at: datetime | None = None
    ) -> bool:
        moment = at or _now()
        with self._write() as db:
            head = self._audit_head(db)
            revoked = self._exec(
                db,
                "UPDATE relying_parties SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (self._at(moment), relying_party_id),
            )
            if revoked.rowcount == 0:
                return False
            row = self._exec(
                db,
                f"SELECT {RELYING_PARTY_COLUMNS} FROM relying_parties WHERE id = ?",
                (relying_party_id,),
            ).fetchone()
            party = relying_party_from_row(row, self._when)
            self._chain(
                db, head, relying_party_draft("relying_party.revoke", party, actor=actor, at=moment)
            )
        return True

    # --- alert outbox and contacts ------------------------------------------------------------

    def enqueue_alert(self, alert: Alert, sealed_contact: bytes, *, now: datetime) -> OutboxItem:
        item = OutboxItem(
            alert=alert, sealed_contact=sealed_contact, attempts=0, next_attempt_at=now
        )
        with self._write() as db:
            added = self._exec(
                db,
                f"INSERT INTO alert_outbox ({OUTBOX_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, 'pending', NULL, NULL, ?, ?, ?) "
                "ON CONFLICT (alert_id) DO NOTHING",
                (
                    alert.id,
                    alert.subject_fingerprint,
                    alert.kind,
                    alert.relying_party,
                    self._at(alert.at),
                    alert.check_id,
                    sealed_contact,
                    self._at(now),
                    alert.checks,
                    None if alert.last_at is None else self._at(alert.last_at),
                    alert_detail(alert),
                ),
            )
            if added.rowcount == 0:
                raise Conflict(f"alert {alert.id} is already in the outbox")
        return item

    def _mark(self, alert_id: str, sql: str, params: Sequence[Any]) -> None:
        with self._write() as db:
            if self._exec(db, sql, (*params, alert_id)).rowcount == 1:
                return
        self._refuse_mark(alert_id)

    def _refuse_mark(self, alert_id: str) -> None:
        """Why an alert could not be marked: unknown, or no longer pending."""
        rows = self._read("SELECT status FROM alert_outbox WHERE alert_id = ?", (alert_id,))
        row = rows[0] if rows else None
        if row is None:
            raise NotFound(f"no alert {alert_id} in the outbox")
        raise Conflict(f"alert {alert_id} is already {row[0]}")

    def mark_delivered(
        self, alert_id: str, at: datetime, *, attempts: int, checks: int | None = None
    ) -> None:
        with self._write() as db:
            row = self._exec(
                db,
                "UPDATE alert_outbox SET status = 'delivered', attempts = ?, delivered_at = ?, "
                "last_error = NULL WHERE alert_id = ? AND status = 'pending' "
                "RETURNING checks, subject_fingerprint, kind, relying_party, alert_at, "
                "check_id, sealed_contact, last_check_at, owner_ref, relying_party_id, "
                "window_start, window_end",
                (attempts, self._at(at), alert_id),
            ).fetchone()
            if row is not None:
                if checks is not None and int(row[0]) > checks:
                    self._tell_later(db, alert_id, row, checks, at)
                return
        self._refuse_mark(alert_id)

    def _tell_later(
        self, db: Any, alert_id: str, row: Sequence[Any], told: int, now: datetime
    ) -> None:
        """Checks an alert absorbed while it was being sent: the delivered alert keeps the
        count it told, the rest goes to the alert of its next window."""
        self._exec(db, "UPDATE alert_outbox SET checks = ? WHERE alert_id = ?", (told, alert_id))
        at = self._when(row[7]) or now
        alert = Alert(
            subject_fingerprint=bytes(row[1]),
            kind=row[2],
            relying_party=row[3],
            at=at,
            check_id=row[5],
        )
        if row[8] is None or row[10] is None:  # not coalesced: queue the rest on its own
            self._exec(
                db,
                f"INSERT INTO alert_outbox ({OUTBOX_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, 'pending', NULL, NULL, ?, ?, NULL)",
                (
                    alert.id,
                    alert.subject_fingerprint,
                    alert.kind,
                    alert.relying_party,
                    self._at(at),
                    alert.check_id,
                    bytes(row[6]),
                    self._at(now),
                    int(row[0]) - told,
                    self._at(at),
                ),
            )
            return
        start, end = int(row[10]), int(row[11])
        later = QueuedAlert(alert, bytes(row[6]), row[8], row[9], end, end + (end - start))
        self._coalesce(db, later, int(row[0]) - told, at, now)

    def mark_retry(
        self, alert_id: str, attempts: int, next_attempt_at: datetime, error: str
    ) -> None:
        self._mark(
            alert_id,
            "UPDATE alert_outbox SET attempts = ?, next_attempt_at = ?, last_error = ? "
            "WHERE alert_id = ? AND status = 'pending'",
            (attempts, self._at(next_attempt_at), error),
        )

    def mark_failed(self, alert_id: str, error: str, *, attempts: int) -> None:
        self._mark(
            alert_id,
            "UPDATE alert_outbox SET status = 'failed', attempts = ?, last_error = ? "
            "WHERE alert_id = ? AND status = 'pending'",
            (attempts, error),
        )

    def outbox_status(self, now: datetime) -> OutboxStatus:
        counts: dict[str, int] = {}
        oldest: datetime | None = None
        for status, count, first in self._read(
            "SELECT status, COUNT(*), MIN(alert_at) FROM alert_outbox GROUP BY status"
        ):
            counts[str(status)] = int(count)
            if status == "pending":
                oldest = self._when(first)
        due = self._read(
            "SELECT COUNT(*) FROM alert_outbox WHERE status = 'pending' AND next_attempt_at <= ?",
            (self._at(now),),
        )
        return OutboxStatus(counts, int(due[0][0]), oldest)

    def add_contact(self, subject_fingerprint: bytes, sealed: bytes, *, owner_ref: str) -> None:
        if not owner_ref:
            raise ValueError("a contact needs its owner_ref")
        with self._write() as db:
            self._exec(
                db,
                "INSERT INTO contacts (subject_fingerprint, sealed, owner_ref) VALUES (?, ?, ?)",
                (subject_fingerprint, sealed, owner_ref),
            )

    def contacts_for(self, fingerprints: Sequence[bytes]) -> dict[bytes, list[SealedContact]]:
        return self._contacts_for(self._read, list(dict.fromkeys(fingerprints)))

    def _contacts_for(self, fetch: Fetch, keys: list[bytes]) -> dict[bytes, list[SealedContact]]:
        if not keys:
            return {}
        match, params = self._one_of(keys)
        found: dict[bytes, list[SealedContact]] = {}
        for contact_id, fingerprint, sealed, owner_ref in fetch(
            "SELECT id, subject_fingerprint, sealed, owner_ref FROM contacts "
            f"WHERE subject_fingerprint {match} ORDER BY id",
            params,
        ):
            found.setdefault(bytes(fingerprint), []).append(
                SealedContact(owner_ref or f"contact-{contact_id}", bytes(sealed))
            )
        return found
