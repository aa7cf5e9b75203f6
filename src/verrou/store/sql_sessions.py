"""Citizen sessions in SQL (:class:`~verrou.store.protocols.SessionStore`), written once for
both backends with the dialect hooks of :class:`~verrou.store.sql.SqlRegistry`.

Sessions take no audit-chain lock: they change nothing a check reads, and a sign-in must not
queue behind checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from verrou.registry.sessions import CitizenSessionRecord
from verrou.store.base import record_columns
from verrou.store.sql_hooks import SqlHooks

SESSION_COLUMNS = record_columns(CitizenSessionRecord)


class SqlSessions(SqlHooks):
    """The citizen-session operations of :class:`~verrou.store.sql.SqlRegistry` (a mixin)."""

    def create_session(self, session: CitizenSessionRecord) -> None:
        self._add_session("citizen_sessions", SESSION_COLUMNS, session)

    def get_session(self, sid_hash: bytes) -> CitizenSessionRecord | None:
        row = self._session_row("citizen_sessions", SESSION_COLUMNS, sid_hash)
        return None if row is None else self._session(row)

    def revoke_session(self, sid_hash: bytes, *, at: datetime) -> bool:
        # Its bearer tokens go with it: a token must not outlive the sign-out.
        revoked = self._set_all_once(
            at,
            ("citizen_sessions", "revoked_at", "sid_hash", sid_hash),
            ("citizen_sessions", "revoked_at", "issued_from", sid_hash),
        )
        return revoked == 1

    def purge_expired(self, now: datetime) -> int:
        return self._purge_expired("citizen_sessions", now)

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
