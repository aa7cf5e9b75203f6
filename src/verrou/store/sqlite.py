"""SQLite registry store: the embedded default.

WAL mode, one writer, one large transaction per ingest batch (``BEGIN IMMEDIATE`` so that a second
writer waits instead of failing half-way).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from verrou.errors import StoreError
from verrou.fingerprints import SEGMENT_BITS
from verrou.registry.alerts import OutboxItem
from verrou.registry.audit import format_at
from verrou.registry.records import (
    ALERT_LEASE,
    BatchCommit,
    IngestRun,
    RunStatus,
)
from verrou.store.base import OUTBOX_COLUMNS, merge_segments, outbox_item_from_row, sum_counts
from verrou.store.sql_canaries import CanarySql


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _at(value: datetime) -> str:
    # Fixed-width UTC text (microseconds always present): text order is time order, which the
    # comparisons of thaws and due alerts rely on.
    return format_at(value)


def _marks(count: int) -> str:
    return ",".join("?" * count)


class SQLiteStore(CanarySql):
    """Registry in one SQLite file."""

    DIALECT = "sqlite"
    HAS_MIGRATIONS = (
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    )

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url_for_display = f"sqlite:///{path}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.execute(
                "PRAGMA cache_size=-32768"
            )  # 32 MiB: blocks are written once, read rarely
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the SQLite registry at {path}: {exc}") from exc
        self._stagings: dict[int, _Staging] = {}

    # --- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _transaction(self, begin: str, failed: str) -> Iterator[sqlite3.Connection]:
        """A transaction opened with ``begin``: committed, or rolled back if its body raises. A
        driver error becomes a :class:`StoreError` saying ``failed``."""
        try:
            self._db.execute(begin)
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"{failed}: {exc}") from exc

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._transaction("BEGIN IMMEDIATE", "SQLite registry write failed")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite registry read failed: {exc}") from exc

    def _stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Any]:
        try:
            yield from self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite registry read failed: {exc}") from exc

    def _snapshot(self) -> AbstractContextManager[sqlite3.Connection]:
        # WAL: a deferred transaction reads one snapshot from its first read on. It writes
        # nothing, so ending it by a rollback on error is ending it as a commit would.
        return self._transaction("BEGIN DEFERRED", "SQLite registry read failed")

    # Dialect hooks of the shared registry operations (verrou.store.sql).

    def _at(self, moment: datetime) -> str:
        return _at(moment)

    def _stamp(self, moment: datetime | None) -> str | None:
        return _ts(moment)

    def _when(self, value: Any) -> datetime | None:
        return _dt(value)

    def _flag(self, value: bool) -> int:
        return int(value)

    def _structured(self, value: Any) -> Any:
        return json.loads(value)

    def _json(self, value: Any) -> str:
        return json.dumps(value)

    def _run_script(self, db: sqlite3.Connection, sql: str) -> None:
        for statement in _statements(sql):
            db.execute(statement)

    def close(self) -> None:
        for staging in self._stagings.values():
            staging.close()
        self._stagings.clear()
        self._db.close()

    # --- schema -----------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        applied = super().migrate()
        self._sweep_stagings()
        return applied

    def _sweep_stagings(self) -> None:
        """Remove staging files left by a crash after their run was merged (or never started)."""
        live = {
            row[0] for row in self._read("SELECT id FROM ingest_runs WHERE status != 'complete'")
        }
        for path in self.path.parent.glob(f"{self.path.name}.run-*"):
            number = path.name.removeprefix(f"{self.path.name}.run-").removesuffix("-journal")
            if number.isdigit() and int(number) not in live and int(number) not in self._stagings:
                path.unlink(missing_ok=True)

    # --- ingest runs ------------------------------------------------------------------------

    def restart_run(self, run_id: int) -> IngestRun:
        """Mark a failed run as running again (resume after a crash or an error)."""
        with self._write() as db:
            db.execute(
                "UPDATE ingest_runs SET status = 'running', error = NULL WHERE id = ?", (run_id,)
            )
        run = self.get_run(run_id)
        # The staging file may hold a batch committed there just before a crash, after which the
        # checkpoint here was not written: the checkpoint is the truth, drop what lies beyond it.
        self._staging(run_id).truncate(run.batches_done)
        return run

    def _staging(self, run_id: int) -> _Staging:
        if run_id not in self._stagings:
            self._stagings[run_id] = _Staging(self.path.with_name(f"{self.path.name}.run-{run_id}"))
        return self._stagings[run_id]

    def commit_batch(self, batch: BatchCommit) -> None:
        status = self._read(
            "SELECT status, batches_done FROM ingest_runs WHERE id = ?", (batch.run_id,)
        )
        if not status or status[0][0] != RunStatus.RUNNING or status[0][1] != batch.seq:
            raise StoreError(f"ingest run {batch.run_id} is not expecting batch {batch.seq}")
        # Segments first, into the run's staging file; then the checkpoint. A crash in between
        # leaves the staging file one batch ahead, which restart_run trims.
        self._staging(batch.run_id).add(batch.seq, batch.segments)
        with self._write() as db:
            if batch.rejects:
                db.executemany(
                    "INSERT INTO ingest_rejects VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (batch.run_id, r.row, r.column, r.kind, r.reason, r.masked)
                        for r in batch.rejects
                    ],
                )
            self._checkpoint(db, batch)

    def finish_run(self, run_id: int, counts: dict[str, Any]) -> IngestRun:
        staging = self._staging(run_id)
        with self._write() as db:
            duplicates: dict[str, int] = {}
            for coarse in range(1 << SEGMENT_BITS):
                blobs = staging.segments(coarse)
                if not blobs:
                    continue
                merged = merge_segments(blobs)
                duplicates = sum_counts(duplicates, merged.duplicates)
                for table, blocks in (
                    ("exposure_blocks", merged.blocks),
                    ("lookup_blocks", merged.lookup_blocks),
                ):
                    db.executemany(
                        f"INSERT INTO {table} (prefix, run_id, entries) VALUES (?, ?, ?)",
                        [(prefix, run_id, blob) for prefix, blob in blocks],
                    )
            self._complete_run(db, run_id, counts, duplicates)
        # The run is in the registry; its staging file is no longer needed (a crash before this
        # line leaves a file that the next ingest of the run, or `migrate`, removes).
        staging.remove()
        del self._stagings[run_id]
        return self.get_run(run_id)

    # --- alert outbox -----------------------------------------------------------------------

    def due(self, now: datetime, limit: int) -> list[OutboxItem]:
        if limit <= 0:
            return []
        # The write lock (BEGIN IMMEDIATE) makes select-and-claim atomic: a second worker
        # waits, then sees the claimed alerts leased into the future.
        with self._write() as db:
            rows = db.execute(
                f"SELECT queued, {OUTBOX_COLUMNS} FROM alert_outbox "
                "WHERE status = 'pending' AND next_attempt_at <= ? "
                "ORDER BY next_attempt_at, queued LIMIT ?",
                (_at(now), limit),
            ).fetchall()
            if rows:
                db.execute(
                    "UPDATE alert_outbox SET next_attempt_at = ? "
                    f"WHERE queued IN ({_marks(len(rows))})",
                    [_at(now + ALERT_LEASE), *(row[0] for row in rows)],
                )
        return [outbox_item_from_row(row[1:], _dt) for row in rows]


class _Staging:
    """The segments of one run in progress, in a file of their own beside the registry.

    It is deleted once the run is merged: each fingerprint entry is written once while staged
    and once into the registry, instead of also being checkpointed into the registry file, read
    back and deleted there. A rollback journal rather than WAL: batches are appends, so the
    journal stays small, and there is no log to checkpoint when the file is closed.
    """

    SCHEMA = (
        "CREATE TABLE IF NOT EXISTS segments (prefix INTEGER NOT NULL, seq INTEGER NOT NULL, "
        "entries BLOB NOT NULL)",
        "CREATE INDEX IF NOT EXISTS segments_key ON segments (prefix, seq)",
    )

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=TRUNCATE")
            self.db.execute("PRAGMA synchronous=NORMAL")
            for statement in self.SCHEMA:
                self.db.execute(statement)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the ingest staging file {path}: {exc}") from exc

    def add(self, seq: int, segments: Sequence[tuple[int, bytes]]) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("DELETE FROM segments WHERE seq >= ?", (seq,))
            self.db.executemany(
                "INSERT INTO segments (prefix, seq, entries) VALUES (?, ?, ?)",
                [(prefix, seq, blob) for prefix, blob in segments],
            )
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise StoreError(f"ingest staging write failed: {exc}") from exc

    def truncate(self, batches_done: int) -> None:
        try:
            self.db.execute("DELETE FROM segments WHERE seq >= ?", (batches_done,))
        except sqlite3.Error as exc:
            raise StoreError(f"ingest staging write failed: {exc}") from exc

    def segments(self, prefix: int) -> list[bytes]:
        try:
            return [
                row[0]
                for row in self.db.execute(
                    "SELECT entries FROM segments WHERE prefix = ? ORDER BY seq", (prefix,)
                )
            ]
        except sqlite3.Error as exc:
            raise StoreError(f"ingest staging read failed: {exc}") from exc

    def close(self) -> None:
        self.db.close()

    def remove(self) -> None:
        self.close()
        for suffix in ("", "-journal"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)


def _statements(sql: str) -> list[str]:
    # Split where SQLite itself sees a statement end: a trigger body holds semicolons.
    statements: list[str] = []
    pending: list[str] = []
    for line in sql.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("--")):
            continue
        pending.append(line)
        text = "\n".join(pending)
        if sqlite3.complete_statement(text):
            statements.append(text.strip())
            pending = []
    if pending:
        raise StoreError("a SQLite migration ends in the middle of a statement")
    return statements
