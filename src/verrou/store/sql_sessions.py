"""Citizen sessions in SQL (:class:`~verrou.store.protocols.SessionStore`), written once for
both backends with the dialect hooks of :class:`~verrou.store.sql.SqlRegistry`.

Sessions take no audit-chain lock: they change nothing a check reads, and a sign-in must not
queue behind checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from verrou.errors import Conflict
from verrou.registry.sessions import CitizenSessionRecord
from verrou.store.base import record_columns, record_row

SESSION_COLUMNS = record_columns(CitizenSessionRecord)


class SqlSessions:
    """The citizen-session operations of :class:`~verrou.store.sql.SqlRegistry` (a mixin)."""

    if TYPE_CHECKING:  # the dialect hooks, supplied by SqlRegistry and its backends

        def _write(self) -> AbstractContextManager[Any]: ...
        def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...
        def _exec(self, db: Any, sql: str, params: Sequence[Any] = ()) -> Any: ...
        def _insert(
            self, db: Any, table: str, columns: str, row: Sequence[Any], *, unless: str = ""
        ) -> bool: ...
        def _at(self, moment: datetime) -> Any: ...
        def _when(self, value: Any) -> datetime | None: ...

    def create_session(self, session: CitizenSessionRecord) -> None:
        with self._write() as db:
            row = record_row(session, self._at)
            if not self._insert(db, "citizen_sessions", SESSION_COLUMNS, row, unless="sid_hash"):
                raise Conflict("a session with this id already exists")

    def get_session(self, sid_hash: bytes) -> CitizenSessionRecord | None:
        rows = self._read(
            f"SELECT {SESSION_COLUMNS} FROM citizen_sessions WHERE sid_hash = ?", (sid_hash,)
        )
        return self._session(rows[0]) if rows else None

    def revoke_session(self, sid_hash: bytes, *, at: datetime) -> bool:
        with self._write() as db:
            revoked = self._exec(
                db,
                "UPDATE citizen_sessions SET revoked_at = ? WHERE sid_hash = ? "
                "AND revoked_at IS NULL",
                (self._at(at), sid_hash),
            )
            # Its bearer tokens go with it: a token must not outlive the sign-out.
            self._exec(
                db,
                "UPDATE citizen_sessions SET revoked_at = ? WHERE issued_from = ? "
                "AND revoked_at IS NULL",
                (self._at(at), sid_hash),
            )
        return bool(revoked.rowcount == 1)

    def purge_expired(self, now: datetime) -> int:
        with self._write() as db:
            purged = self._exec(
                db, "DELETE FROM citizen_sessions WHERE expires_at <= ?", (self._at(now),)
            )
        return int(purged.rowcount)

    def _session(self, row: Sequence[Any]) -> CitizenSessionRecord:
        times = [self._when(value) for value in row[4:7]]
        auth_time, created_at, expires_at = times
        if auth_time is None or created_at is None or expires_at is None:
            raise ValueError("a required time is missing from a session row")
        return CitizenSessionRecord(
            sid_hash=bytes(row[0]),
            citizen_id=row[1],
            kind=row[2],
            acr=row[3],
            auth_time=auth_time,
            created_at=created_at,
            expires_at=expires_at,
            csrf_hash=None if row[7] is None else bytes(row[7]),
            issued_from=None if row[8] is None else bytes(row[8]),
            revoked_at=self._when(row[9]),
        )
