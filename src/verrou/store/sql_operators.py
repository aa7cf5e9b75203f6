"""Operators and their sessions in SQL (:class:`~verrou.store.protocols.OperatorStore`),
written once for both backends with the dialect hooks of :class:`~verrou.store.sql.SqlRegistry`.
Like citizen sessions, they take no audit-chain lock: they change nothing a check reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from verrou.registry.operator_records import Operator, OperatorSessionRecord
from verrou.store.base import record_columns, record_row
from verrou.store.sql_hooks import SqlHooks

_OPERATOR_COLUMNS = record_columns(Operator)
_SESSION_COLUMNS = record_columns(OperatorSessionRecord)


class SqlOperators(SqlHooks):
    """The operator operations of :class:`~verrou.store.sql.SqlRegistry` (a mixin)."""

    def add_operator(self, operator: Operator) -> bool:
        with self._write() as db:
            row = record_row(operator, self._at)
            return self._insert(db, "operators", _OPERATOR_COLUMNS, row, unless="name")

    def get_operator(self, name: str) -> Operator | None:
        rows = self._read(f"SELECT {_OPERATOR_COLUMNS} FROM operators WHERE name = ?", (name,))
        return self._operator(rows[0]) if rows else None

    def list_operators(self) -> list[Operator]:
        rows = self._read(f"SELECT {_OPERATOR_COLUMNS} FROM operators ORDER BY name")
        return [self._operator(row) for row in rows]

    def disable_operator(self, name: str, *, at: datetime) -> bool:
        disabled = self._set_all_once(
            at,
            ("operators", "disabled_at", "name", name),
            ("operator_sessions", "revoked_at", "operator", name),  # their sessions end with it
        )
        return disabled == 1

    def create_operator_session(self, session: OperatorSessionRecord) -> None:
        self._add_session("operator_sessions", _SESSION_COLUMNS, session)

    def get_operator_session(self, sid_hash: bytes) -> OperatorSessionRecord | None:
        row = self._session_row("operator_sessions", _SESSION_COLUMNS, sid_hash)
        if row is None:
            return None
        created_at, expires_at = self._when(row[3]), self._when(row[4])
        if created_at is None or expires_at is None:
            raise ValueError("a required time is missing from an operator session row")
        return OperatorSessionRecord(
            sid_hash=bytes(row[0]),
            operator=str(row[1]),
            csrf_hash=bytes(row[2]),
            created_at=created_at,
            expires_at=expires_at,
            revoked_at=self._when(row[5]),
        )

    def revoke_operator_session(self, sid_hash: bytes, *, at: datetime) -> bool:
        return (
            self._set_all_once(at, ("operator_sessions", "revoked_at", "sid_hash", sid_hash)) == 1
        )

    def purge_operator_sessions(self, now: datetime) -> int:
        return self._purge_expired("operator_sessions", now)

    def _operator(self, row: Sequence[Any]) -> Operator:
        created_at = self._when(row[2])
        if created_at is None:
            raise ValueError("a required time is missing from an operator row")
        return Operator(str(row[0]), str(row[1]), created_at, self._when(row[3]))
