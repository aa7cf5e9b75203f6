"""PostgreSQL registry store: the production backend (psycopg 3, COPY for bulk loads)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from verrou.alerts import Alert, OutboxItem
from verrou.audit import AuditEntry, StoredEntry
from verrou.errors import Conflict, NotFound, StoreError
from verrou.fingerprints import block_prefix
from verrou.policy import Freeze, Thaw
from verrou.store.base import (
    ALERT_LEASE,
    AUDIT_PAGE,
    BREACH_COLUMNS,
    FREEZE_COLUMNS,
    FREEZES_WITH_THAWS,
    KEY_PREFIX_CHARS,
    OUTBOX_COLUMNS,
    RELYING_PARTY_COLUMNS,
    RUN_COLUMNS,
    THAW_COLUMNS,
    AuditDraft,
    BatchCommit,
    Breach,
    BreachInfo,
    BreachSummary,
    ExposureHit,
    IngestRun,
    NewRun,
    Reject,
    RelyingParty,
    RunStatus,
    Sector,
    api_key_hash,
    breach_from_row,
    chain_entry,
    checked_relying_party,
    find_in_block,
    freeze_audit_subject,
    freeze_from_row,
    freezes_and_thaws,
    looks_like_api_key,
    merge_segments,
    new_api_key,
    new_relying_party_id,
    outbox_item_from_row,
    record_id,
    relying_party_draft,
    relying_party_from_row,
    run_from_row,
    sum_counts,
    summarise_breaches,
)
from verrou.store.migrations import migrations_for

#: Serialises concurrent `migrate` calls from several processes.
_MIGRATION_LOCK = 0x766572726F75  # "verrou"


def _now() -> datetime:
    return datetime.now(UTC)


def display_url(url: str) -> str:
    """The URL without its password, for messages."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    host = str(info.get("host", "localhost"))
    port = str(info.get("port", "5432"))
    user = str(info.get("user", ""))
    return f"postgresql://{user + '@' if user else ''}{host}:{port}/{info.get('dbname', '')}"


class PostgresStore:
    """Registry in a PostgreSQL database."""

    def __init__(self, url: str, *, connect_timeout: int = 5) -> None:
        self.url_for_display = display_url(url)
        try:
            self._db: psycopg.Connection[TupleRow] = psycopg.connect(
                url, autocommit=True, connect_timeout=connect_timeout
            )
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot reach the PostgreSQL registry at {self.url_for_display}: "
                f"{_first_line(exc)}"
            ) from exc

    @contextmanager
    def _write(self) -> Iterator[psycopg.Connection[TupleRow]]:
        try:
            with self._db.transaction():
                yield self._db
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL registry write failed: {_first_line(exc)}") from exc

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, params).fetchall()
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL registry read failed: {_first_line(exc)}") from exc

    def close(self) -> None:
        self._db.close()

    # --- schema -----------------------------------------------------------------------------

    def schema_version(self) -> int:
        rows = self._read("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if not rows[0][0]:
            return 0
        return int(self._read("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0])

    def migrate(self) -> list[int]:
        applied: list[int] = []
        with self._write() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
            )
            done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
            for migration in migrations_for("postgres"):
                if migration.version in done:
                    continue
                db.execute(migration.sql.encode())
                db.execute(
                    "INSERT INTO schema_migrations VALUES (%s, %s, %s)",
                    (migration.version, migration.name, _now()),
                )
                applied.append(migration.version)
        return applied

    # --- breaches ---------------------------------------------------------------------------

    def ensure_breach(self, info: BreachInfo) -> Breach:
        with self._write() as db:
            db.execute(
                "INSERT INTO breaches (name, title, source, description, data_classes, "
                "intrusion_started_at, detected_at, contained_at, disclosed_at, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (name) DO UPDATE SET "
                "title = COALESCE(EXCLUDED.title, breaches.title), "
                "source = COALESCE(EXCLUDED.source, breaches.source), "
                "description = COALESCE(EXCLUDED.description, breaches.description), "
                "data_classes = CASE WHEN EXCLUDED.data_classes = '[]'::jsonb "
                "  THEN breaches.data_classes ELSE EXCLUDED.data_classes END, "
                "intrusion_started_at = COALESCE(EXCLUDED.intrusion_started_at, "
                "  breaches.intrusion_started_at), "
                "detected_at = COALESCE(EXCLUDED.detected_at, breaches.detected_at), "
                "contained_at = COALESCE(EXCLUDED.contained_at, breaches.contained_at), "
                "disclosed_at = COALESCE(EXCLUDED.disclosed_at, breaches.disclosed_at)",
                (
                    info.name,
                    info.title,
                    info.source,
                    info.description,
                    Jsonb(list(info.data_classes)),
                    info.intrusion_started_at,
                    info.detected_at,
                    info.contained_at,
                    info.disclosed_at,
                    _now(),
                ),
            )
        breach = self.get_breach(info.name)
        assert breach is not None
        return breach

    def get_breach(self, name: str) -> Breach | None:
        rows = self._read(f"SELECT {BREACH_COLUMNS} FROM breaches WHERE name = %s", (name,))
        return breach_from_row(rows[0]) if rows else None

    def list_breaches(self) -> list[BreachSummary]:
        breaches = [
            breach_from_row(r)
            for r in self._read(f"SELECT {BREACH_COLUMNS} FROM breaches ORDER BY name")
        ]
        complete = self._read("SELECT breach_id, counts FROM ingest_runs WHERE status = 'complete'")
        return summarise_breaches(breaches, ((b, c) for b, c in complete))

    # --- ingest runs ------------------------------------------------------------------------

    def find_run(self, breach_id: int, file_sha256: str) -> IngestRun | None:
        rows = self._read(
            f"SELECT {RUN_COLUMNS} FROM ingest_runs WHERE breach_id = %s AND file_sha256 = %s",
            (breach_id, file_sha256),
        )
        return run_from_row(rows[0]) if rows else None

    def get_run(self, run_id: int) -> IngestRun:
        rows = self._read(f"SELECT {RUN_COLUMNS} FROM ingest_runs WHERE id = %s", (run_id,))
        if not rows:
            raise NotFound(f"no ingest run {run_id}")
        return run_from_row(rows[0])

    def start_run(self, run: NewRun) -> IngestRun:
        with self._write() as db:
            row = db.execute(
                "INSERT INTO ingest_runs (uid, breach_id, file_name, file_sha256, file_size, "
                "format, mapping, key_id, status, started_at) "
                "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id",
                (
                    secrets.token_bytes(16),
                    run.breach_id,
                    run.file_name,
                    run.file_sha256,
                    run.file_size,
                    run.format,
                    Jsonb(run.mapping),
                    run.key_id,
                    RunStatus.RUNNING,
                    _now(),
                ),
            ).fetchone()
        assert row is not None
        return self.get_run(int(row[0]))

    def restart_run(self, run_id: int) -> IngestRun:
        with self._write() as db:
            row = db.execute(
                "SELECT batches_done, (SELECT count(DISTINCT seq) FROM ingest_segments "
                "WHERE run_id = %s) FROM ingest_runs WHERE id = %s FOR UPDATE",
                (run_id, run_id),
            ).fetchone()
            if row is not None and row[0] != row[1]:
                # The staging table is unlogged: a server crash emptied it. Start the run over.
                db.execute("DELETE FROM ingest_segments WHERE run_id = %s", (run_id,))
                db.execute("DELETE FROM ingest_rejects WHERE run_id = %s", (run_id,))
                db.execute(
                    "UPDATE ingest_runs SET records_done = 0, batches_done = 0, counts = '{}' "
                    "WHERE id = %s",
                    (run_id,),
                )
            db.execute(
                "UPDATE ingest_runs SET status = 'running', error = NULL WHERE id = %s", (run_id,)
            )
        return self.get_run(run_id)

    def commit_batch(self, batch: BatchCommit) -> None:
        with self._write() as db:
            # Row lock: a second process resuming the same run waits here instead of interleaving.
            status = db.execute(
                "SELECT status, batches_done FROM ingest_runs WHERE id = %s FOR UPDATE",
                (batch.run_id,),
            ).fetchone()
            if status is None or status[0] != RunStatus.RUNNING or status[1] != batch.seq:
                raise StoreError(f"ingest run {batch.run_id} is not expecting batch {batch.seq}")
            with db.cursor() as cursor:
                with cursor.copy(
                    "COPY ingest_segments (run_id, prefix, seq, entries) FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(["int8", "int4", "int4", "bytea"])
                    for prefix, blob in batch.segments:
                        copy.write_row((batch.run_id, prefix, batch.seq, blob))
                if batch.rejects:
                    with cursor.copy(
                        "COPY ingest_rejects (run_id, row, column_name, kind, reason, masked) "
                        "FROM STDIN"
                    ) as copy:
                        for r in batch.rejects:
                            copy.write_row(
                                (batch.run_id, r.row, r.column, r.kind, r.reason, r.masked)
                            )
            db.execute(
                "UPDATE ingest_runs SET records_done = %s, batches_done = %s, counts = %s "
                "WHERE id = %s",
                (batch.records_done, batch.seq + 1, Jsonb(batch.counts), batch.run_id),
            )

    def finish_run(self, run_id: int, counts: dict[str, Any]) -> IngestRun:
        with self._write() as db:
            duplicates: dict[str, int] = {}
            with db.cursor() as reader, db.cursor() as writer:
                reader.execute(
                    "SELECT prefix, entries FROM ingest_segments WHERE run_id = %s "
                    "ORDER BY prefix, seq",
                    (run_id,),
                )
                with writer.copy(
                    "COPY exposure_blocks (prefix, run_id, entries) FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(["int4", "int8", "bytea"])
                    current: int | None = None
                    blobs: list[bytes] = []
                    for prefix, blob in _fetch_in_chunks(reader):
                        if prefix != current and blobs:
                            duplicates = _write_blocks(copy, run_id, blobs, duplicates)
                            blobs = []
                        current = prefix
                        blobs.append(bytes(blob))
                    if blobs:
                        duplicates = _write_blocks(copy, run_id, blobs, duplicates)
            db.execute("DELETE FROM ingest_segments WHERE run_id = %s", (run_id,))
            final = dict(counts, duplicates=duplicates)
            now = _now()
            db.execute(
                "UPDATE ingest_runs SET status = 'complete', finished_at = %s, counts = %s "
                "WHERE id = %s",
                (now, Jsonb(final), run_id),
            )
            db.execute(
                "UPDATE breaches SET ingested_at = %s, record_count = record_count + %s "
                "WHERE id = (SELECT breach_id FROM ingest_runs WHERE id = %s)",
                (now, int(counts.get("rows_with_identifier", 0)), run_id),
            )
        return self.get_run(run_id)

    def fail_run(self, run_id: int, error: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE ingest_runs SET status = 'failed', error = %s WHERE id = %s "
                "AND status = 'running'",
                (error, run_id),
            )

    def rejects(self, run_id: int) -> Iterator[Reject]:
        try:
            # A named (server-side) cursor streams a large report; it needs a transaction.
            name = f"rejects_{run_id}_{secrets.token_hex(4)}"
            with self._db.transaction(), self._db.cursor(name=name) as cursor:
                cursor.execute(
                    "SELECT row, column_name, kind, reason, masked FROM ingest_rejects "
                    "WHERE run_id = %s ORDER BY row, column_name",
                    (run_id,),
                )
                for row in cursor:
                    yield Reject(*row)
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL registry read failed: {_first_line(exc)}") from exc

    # --- lookup -----------------------------------------------------------------------------

    def lookup(self, fingerprints: Sequence[bytes]) -> list[ExposureHit]:
        by_prefix: dict[int, list[bytes]] = {}
        for fp in fingerprints:
            by_prefix.setdefault(block_prefix(fp), []).append(fp)
        if not by_prefix:
            return []
        rows = self._read(
            "SELECT b.prefix, b.entries, r.id, r.uid, r.breach_id, br.name "
            "FROM exposure_blocks b JOIN ingest_runs r ON r.id = b.run_id "
            "JOIN breaches br ON br.id = r.breach_id "
            "WHERE b.prefix = ANY(%s) AND r.status = 'complete'",
            (list(by_prefix),),
        )
        hits: list[ExposureHit] = []
        for prefix, blob, run_id, uid, breach_id, breach_name in rows:
            for fp in by_prefix[prefix]:
                for kind, record in find_in_block(bytes(blob), fp):
                    hits.append(
                        ExposureHit(
                            fp,
                            kind,
                            breach_id,
                            breach_name,
                            run_id,
                            record,
                            record_id(bytes(uid), record),
                        )
                    )
        return hits

    # --- audit log --------------------------------------------------------------------------

    @staticmethod
    def _audit_head(db: psycopg.Connection[TupleRow]) -> tuple[int, bytes]:
        # The row lock is held to the end of the transaction: concurrent appenders queue here,
        # one at a time, so no two entries get the same seq or the same prev_hash. Every
        # transition takes it *first*, before reading the state it changes: under READ
        # COMMITTED the statements after the lock see everything committed before it, and one
        # lock taken in one order cannot deadlock.
        row = db.execute(
            "SELECT seq, entry_hash FROM audit_head WHERE id = 1 FOR UPDATE"
        ).fetchone()
        if row is None:
            raise StoreError("the audit log has no head row (schema not migrated?)")
        return int(row[0]), bytes(row[1])

    @staticmethod
    def _chain(
        db: psycopg.Connection[TupleRow], head: tuple[int, bytes], draft: AuditDraft
    ) -> AuditEntry:
        entry, stored = chain_entry(head[0], head[1], draft)
        db.execute(
            "INSERT INTO audit_log (seq, content, prev_hash, entry_hash) VALUES (%s, %s, %s, %s)",
            (entry.seq, stored.content, stored.prev_hash, stored.entry_hash),
        )
        db.execute(
            "UPDATE audit_head SET seq = %s, entry_hash = %s WHERE id = 1",
            (entry.seq, stored.entry_hash),
        )
        return entry

    def append_audit(self, draft: AuditDraft) -> AuditEntry:
        with self._write() as db:
            return self._chain(db, self._audit_head(db), draft)

    def audit_entries(self) -> Iterator[StoredEntry]:
        # Pages by seq rather than a server-side cursor: no transaction stays open while the
        # caller verifies, and the connection stays usable in between.
        after = 0
        while True:
            rows = self._read(
                "SELECT seq, content, prev_hash, entry_hash FROM audit_log WHERE seq > %s "
                "ORDER BY seq LIMIT %s",
                (after, AUDIT_PAGE),
            )
            for seq, content, prev_hash, entry_hash in rows:
                after = seq
                yield StoredEntry(bytes(content), bytes(prev_hash), bytes(entry_hash))
            if len(rows) < AUDIT_PAGE:
                return

    # --- freezes and thaws ------------------------------------------------------------------

    def place_freeze(self, freeze: Freeze, *, audit: AuditDraft) -> Freeze:
        freeze_audit_subject(freeze.fingerprint, audit)
        with self._write() as db:
            head = self._audit_head(db)
            row = db.execute(
                f"INSERT INTO freezes ({FREEZE_COLUMNS}) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (fingerprint) DO NOTHING RETURNING fingerprint",
                (freeze.fingerprint, freeze.placed_by, freeze.reason, freeze.since, freeze.canary),
            ).fetchone()
            if row is None:
                existing = db.execute(
                    f"SELECT {FREEZE_COLUMNS} FROM freezes WHERE fingerprint = %s",
                    (freeze.fingerprint,),
                ).fetchone()
                assert existing is not None  # under the head lock, nobody lifted it since
                return freeze_from_row(existing)
            self._chain(db, head, audit)
        return freeze

    def lift_freeze(self, fingerprint: bytes, *, audit: AuditDraft) -> bool:
        freeze_audit_subject(fingerprint, audit)
        with self._write() as db:
            head = self._audit_head(db)
            # Its thaws go with it (ON DELETE CASCADE): a later freeze starts closed.
            lifted = db.execute("DELETE FROM freezes WHERE fingerprint = %s", (fingerprint,))
            if lifted.rowcount == 0:
                return False
            self._chain(db, head, audit)
        return True

    def add_thaw(self, thaw: Thaw, *, audit: AuditDraft) -> Thaw:
        freeze_audit_subject(thaw.fingerprint, audit)
        with self._write() as db:
            head = self._audit_head(db)
            frozen = db.execute(
                "SELECT 1 FROM freezes WHERE fingerprint = %s", (thaw.fingerprint,)
            ).fetchone()
            if frozen is None:
                raise Conflict("this key is not frozen: there is nothing to thaw")
            if thaw.relying_party_id is not None and (
                db.execute(
                    "SELECT 1 FROM relying_parties WHERE id = %s", (thaw.relying_party_id,)
                ).fetchone()
                is None
            ):
                raise NotFound(f"no relying party {thaw.relying_party_id}")
            db.execute(
                f"INSERT INTO thaws ({THAW_COLUMNS}) VALUES (%s, %s, %s, %s)",
                (thaw.fingerprint, thaw.relying_party_id, thaw.starts, thaw.until),
            )
            self._chain(db, head, audit)
        return thaw

    def freezes_for(
        self, fingerprints: Sequence[bytes], *, now: datetime
    ) -> tuple[list[Freeze], list[Thaw]]:
        keys = list(dict.fromkeys(fingerprints))
        if not keys:
            return [], []
        # One statement, one snapshot: freezes and thaws agree with each other.
        rows = self._read(FREEZES_WITH_THAWS.format(keys="= ANY(%s)", now="%s"), (now, keys))
        return freezes_and_thaws(rows)

    # --- relying parties --------------------------------------------------------------------

    def create_relying_party(
        self, name: str, sector: Sector, *, actor: str = "operator", at: datetime | None = None
    ) -> tuple[RelyingParty, str]:
        api_key = new_api_key()
        party = RelyingParty(
            id=new_relying_party_id(),
            name=checked_relying_party(name, sector),
            sector=sector,
            key_prefix=api_key[:KEY_PREFIX_CHARS],
            created_at=at or _now(),
        )
        draft = relying_party_draft("relying_party.create", party, actor=actor, at=party.created_at)
        with self._write() as db:
            head = self._audit_head(db)
            db.execute(
                "INSERT INTO relying_parties (id, name, sector, key_hash, key_prefix, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    party.id,
                    party.name,
                    party.sector,
                    api_key_hash(api_key),
                    party.key_prefix,
                    party.created_at,
                ),
            )
            self._chain(db, head, draft)
        return party, api_key

    def relying_party_by_key(self, api_key: str) -> RelyingParty | None:
        if not looks_like_api_key(api_key):
            return None
        rows = self._read(
            f"SELECT {RELYING_PARTY_COLUMNS} FROM relying_parties "
            "WHERE key_hash = %s AND revoked_at IS NULL",
            (api_key_hash(api_key),),
        )
        return relying_party_from_row(rows[0]) if rows else None

    def list_relying_parties(self) -> list[RelyingParty]:
        rows = self._read(
            f"SELECT {RELYING_PARTY_COLUMNS} FROM relying_parties ORDER BY created_at, id"
        )
        return [relying_party_from_row(row) for row in rows]

    def revoke_relying_party(
        self, relying_party_id: str, *, actor: str = "operator", at: datetime | None = None
    ) -> bool:
        moment = at or _now()
        with self._write() as db:
            head = self._audit_head(db)
            row = db.execute(
                "UPDATE relying_parties SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL "
                f"RETURNING {RELYING_PARTY_COLUMNS}",
                (moment, relying_party_id),
            ).fetchone()
            if row is None:
                return False
            party = relying_party_from_row(row)
            self._chain(
                db, head, relying_party_draft("relying_party.revoke", party, actor=actor, at=moment)
            )
        return True

    # --- alert outbox and contacts ----------------------------------------------------------

    def enqueue_alert(self, alert: Alert, sealed_contact: bytes, *, now: datetime) -> OutboxItem:
        item = OutboxItem(
            alert=alert, sealed_contact=sealed_contact, attempts=0, next_attempt_at=now
        )
        with self._write() as db:
            row = db.execute(
                f"INSERT INTO alert_outbox ({OUTBOX_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, 0, %s, 'pending', NULL, NULL) "
                "ON CONFLICT (alert_id) DO NOTHING RETURNING alert_id",
                (
                    alert.id,
                    alert.subject_fingerprint,
                    alert.kind,
                    alert.relying_party,
                    alert.at,
                    alert.check_id,
                    sealed_contact,
                    now,
                ),
            ).fetchone()
        if row is None:
            raise Conflict(f"alert {alert.id} is already in the outbox")
        return item

    def due(self, now: datetime, limit: int) -> list[OutboxItem]:
        if limit <= 0:
            return []
        # SKIP LOCKED: a worker passes over the rows another worker is claiming right now
        # instead of waiting for them; the lease then keeps them out of later passes until
        # they are marked (or the lease runs out because that worker died).
        rows = self._write_returning(
            "WITH claimed AS ("
            "  SELECT queued, next_attempt_at AS due_at FROM alert_outbox"
            "  WHERE status = 'pending' AND next_attempt_at <= %s"
            "  ORDER BY next_attempt_at, queued LIMIT %s FOR UPDATE SKIP LOCKED) "
            "UPDATE alert_outbox o SET next_attempt_at = %s FROM claimed c "
            "WHERE o.queued = c.queued "
            "RETURNING c.due_at, o.queued, o.alert_id, o.subject_fingerprint, o.kind, "
            "o.relying_party, o.alert_at, o.check_id, o.sealed_contact, o.attempts, "
            "c.due_at, o.status, o.last_error, o.delivered_at",
            (now, limit, now + ALERT_LEASE),
        )
        rows.sort(key=lambda row: (row[0], row[1]))
        return [outbox_item_from_row(row[2:]) for row in rows]

    def _write_returning(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._write() as db:
            return db.execute(sql, params).fetchall()

    def _mark(self, alert_id: str, sql: str, params: Sequence[Any]) -> None:
        with self._write() as db:
            if db.execute(sql, (*params, alert_id)).rowcount == 1:
                return
            row = db.execute(
                "SELECT status FROM alert_outbox WHERE alert_id = %s", (alert_id,)
            ).fetchone()
        if row is None:
            raise NotFound(f"no alert {alert_id} in the outbox")
        raise Conflict(f"alert {alert_id} is already {row[0]}")

    def mark_delivered(self, alert_id: str, at: datetime, *, attempts: int) -> None:
        self._mark(
            alert_id,
            "UPDATE alert_outbox SET status = 'delivered', attempts = %s, delivered_at = %s, "
            "last_error = NULL WHERE alert_id = %s AND status = 'pending'",
            (attempts, at),
        )

    def mark_retry(
        self, alert_id: str, attempts: int, next_attempt_at: datetime, error: str
    ) -> None:
        self._mark(
            alert_id,
            "UPDATE alert_outbox SET attempts = %s, next_attempt_at = %s, last_error = %s "
            "WHERE alert_id = %s AND status = 'pending'",
            (attempts, next_attempt_at, error),
        )

    def mark_failed(self, alert_id: str, error: str, *, attempts: int) -> None:
        self._mark(
            alert_id,
            "UPDATE alert_outbox SET status = 'failed', attempts = %s, last_error = %s "
            "WHERE alert_id = %s AND status = 'pending'",
            (attempts, error),
        )

    def add_contact(self, subject_fingerprint: bytes, sealed: bytes) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO contacts (subject_fingerprint, sealed) VALUES (%s, %s)",
                (subject_fingerprint, sealed),
            )

    def contacts_for(self, fingerprints: Sequence[bytes]) -> dict[bytes, list[bytes]]:
        keys = list(dict.fromkeys(fingerprints))
        if not keys:
            return {}
        found: dict[bytes, list[bytes]] = {}
        for fingerprint, sealed in self._read(
            "SELECT subject_fingerprint, sealed FROM contacts "
            "WHERE subject_fingerprint = ANY(%s) ORDER BY id",
            (keys,),
        ):
            found.setdefault(bytes(fingerprint), []).append(bytes(sealed))
        return found

    def drop_everything(self) -> None:
        """Remove all verrou tables (tests only: PostgreSQL has no temp-file database)."""
        with self._write() as db:
            db.execute(
                "DROP TABLE IF EXISTS contacts, alert_outbox, audit_head, audit_log, thaws, "
                "relying_parties, freezes, ingest_rejects, exposure_blocks, ingest_segments, "
                "ingest_runs, breaches, schema_migrations CASCADE"
            )
            db.execute("DROP FUNCTION IF EXISTS audit_log_append_only() CASCADE")


def _fetch_in_chunks(cursor: psycopg.Cursor[TupleRow]) -> Iterator[tuple[Any, ...]]:
    while rows := cursor.fetchmany(2048):
        yield from rows


def _write_blocks(
    copy: psycopg.Copy, run_id: int, blobs: list[bytes], duplicates: dict[str, int]
) -> dict[str, int]:
    blocks, dups = merge_segments(blobs)
    for prefix, blob in blocks:
        copy.write_row((prefix, run_id, blob))
    return sum_counts(duplicates, dups)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
