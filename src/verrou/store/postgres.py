"""PostgreSQL registry store: the production backend (psycopg 3, COPY for bulk loads)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from verrou.errors import StoreError
from verrou.registry.alerts import OutboxItem
from verrou.registry.records import (
    ALERT_LEASE,
    BatchCommit,
    IngestRun,
    RunStatus,
)
from verrou.store.base import merge_segments, outbox_item_from_row, sum_counts
from verrou.store.sql_canaries import CanarySql
from verrou.store.urls import redacted_text, redacted_url

#: Serialises concurrent `migrate` calls from several processes.
_MIGRATION_LOCK = 0x766572726F75  # "verrou"


def display_url(url: str) -> str:
    """The URL (or keyword connection string) without its password, for messages."""
    return redacted_url(url)


class PostgresStore(CanarySql):
    """Registry in a PostgreSQL database."""

    DIALECT = "postgres"
    HEAD_LOCK = " FOR UPDATE"
    HAS_MIGRATIONS = "SELECT to_regclass('schema_migrations') IS NOT NULL"

    def __init__(self, url: str, *, connect_timeout: int = 5) -> None:
        self.url_for_display = display_url(url)
        self._url = url
        self._connect_timeout = connect_timeout
        self._closed = False
        self._db: psycopg.Connection[TupleRow] = self._connect()

    def _connect(self) -> psycopg.Connection[TupleRow]:
        try:
            return psycopg.connect(
                self._url, autocommit=True, connect_timeout=self._connect_timeout
            )
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot reach the PostgreSQL registry at {self.url_for_display}: {self._why(exc)}"
            ) from exc

    def _why(self, exc: BaseException) -> str:
        # The driver's message may quote the connection string it could not parse.
        return redacted_text(_first_line(exc), self._url)

    def _connection(self) -> psycopg.Connection[TupleRow]:
        # A connection broken by a server restart or a network cut is replaced on next use: the
        # request that met the failure got its StoreError (503), the next one reconnects.
        if self._closed:
            raise StoreError("the PostgreSQL registry connection was closed")
        if self._db.closed or self._db.broken:
            self._db = self._connect()
        return self._db

    @contextmanager
    def _write(self) -> Iterator[psycopg.Connection[TupleRow]]:
        db = self._connection()
        try:
            with db.transaction():
                yield db
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL registry write failed: {self._why(exc)}") from exc

    @contextmanager
    def _snapshot(self) -> Iterator[psycopg.Connection[TupleRow]]:
        db = self._connection()
        try:
            with db.transaction():
                db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield db
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL registry read failed: {self._why(exc)}") from exc

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        db = self._connection()
        try:
            return db.execute(self._sql(sql), params).fetchall()
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL registry read failed: {self._why(exc)}") from exc

    def _stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        try:
            # A named (server-side) cursor streams a large result; it needs a transaction.
            db = self._connection()
            with db.transaction(), db.cursor(name=f"stream_{secrets.token_hex(8)}") as cursor:
                cursor.execute(self._sql(sql), params)
                yield from cursor
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL registry read failed: {self._why(exc)}") from exc

    # Dialect hooks of the shared registry operations (verrou.store.sql).

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _one_of(self, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return "= ANY(?)", [list(values)]

    def _json(self, value: Any) -> Jsonb:
        return Jsonb(value)

    def _run_script(self, db: psycopg.Connection[TupleRow], sql: str) -> None:
        # Bytes: the script is read from a file, and psycopg takes a str query only as a
        # literal. Without parameters it goes by the simple protocol, which runs every statement.
        db.execute(sql.encode())

    def _serialise_migrations(self, db: psycopg.Connection[TupleRow]) -> None:
        db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))

    def close(self) -> None:
        self._closed = True
        self._db.close()

    # --- ingest runs ------------------------------------------------------------------------

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
            self._checkpoint(db, batch)

    def finish_run(self, run_id: int, counts: dict[str, Any]) -> IngestRun:
        with self._write() as db:
            duplicates: dict[str, int] = {}
            with db.cursor() as reader, db.cursor() as writer:
                reader.execute(
                    "SELECT prefix, entries FROM ingest_segments WHERE run_id = %s "
                    "ORDER BY prefix, seq",
                    (run_id,),
                )
                current: int | None = None
                blobs: list[bytes] = []
                for prefix, blob in _fetch_in_chunks(reader):
                    if prefix != current and blobs:
                        duplicates = _write_blocks(writer, run_id, blobs, duplicates)
                        blobs = []
                    current = prefix
                    blobs.append(bytes(blob))
                if blobs:
                    duplicates = _write_blocks(writer, run_id, blobs, duplicates)
            db.execute("DELETE FROM ingest_segments WHERE run_id = %s", (run_id,))
            self._complete_run(db, run_id, counts, duplicates)
        return self.get_run(run_id)

    # --- alert outbox -----------------------------------------------------------------------

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
            "c.due_at, o.status, o.last_error, o.delivered_at, o.checks, o.last_check_at, o.detail",
            (now, limit, now + ALERT_LEASE),
        )
        rows.sort(key=lambda row: (row[0], row[1]))
        return [outbox_item_from_row(row[2:]) for row in rows]

    def _write_returning(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._write() as db:
            return db.execute(sql, params).fetchall()


def _fetch_in_chunks(cursor: psycopg.Cursor[TupleRow]) -> Iterator[tuple[Any, ...]]:
    while rows := cursor.fetchmany(2048):
        yield from rows


def _write_blocks(
    writer: psycopg.Cursor[TupleRow], run_id: int, blobs: list[bytes], duplicates: dict[str, int]
) -> dict[str, int]:
    """Merge one coarse prefix's segments and COPY its registry blocks, then its lookup blocks
    (one COPY at a time on a connection, each of one coarse prefix: memory stays bounded);
    the duplicate counts so far, these added."""
    merged = merge_segments(blobs)
    for table, blocks in (
        ("exposure_blocks", merged.blocks),
        ("lookup_blocks", merged.lookup_blocks),
    ):
        if blocks:
            copy_sql = f"COPY {table} (prefix, run_id, entries) FROM STDIN (FORMAT BINARY)"
            with writer.copy(copy_sql) as copy:
                copy.set_types(["int4", "int8", "bytea"])
                for prefix, blob in blocks:
                    copy.write_row((prefix, run_id, blob))
    return sum_counts(duplicates, merged.duplicates)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
