"""The dialect hooks of :class:`~verrou.store.sql.SqlRegistry` as its mixins see them
(declared for the type checker only: the registry and its backends supply them), and the
statements several roles share: stamping a time on rows that have none yet, and the sessions'
(citizens' and operators', in tables of their own) add, read and purge."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from verrou.errors import Conflict
from verrou.registry.operator_records import OperatorSessionRecord
from verrou.registry.sessions import CitizenSessionRecord
from verrou.store.base import record_row


class SqlHooks:
    """What a role's mixin may call on the registry it is mixed into."""

    if TYPE_CHECKING:

        def _write(self) -> AbstractContextManager[Any]: ...
        def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...
        def _exec(self, db: Any, sql: str, params: Sequence[Any] = ()) -> Any: ...
        def _insert(
            self, db: Any, table: str, columns: str, row: Sequence[Any], *, unless: str = ""
        ) -> bool: ...
        def _at(self, moment: datetime) -> Any: ...
        def _when(self, value: Any) -> datetime | None: ...

    def _add_session(
        self, table: str, columns: str, session: CitizenSessionRecord | OperatorSessionRecord
    ) -> None:
        """Store a new session row (a citizen's or an operator's), keyed by its id's hash;
        :class:`~verrou.errors.Conflict` for one already stored."""
        with self._write() as db:
            if not self._insert(
                db, table, columns, record_row(session, self._at), unless="sid_hash"
            ):
                raise Conflict("a session with this id already exists")

    def _session_row(self, table: str, columns: str, sid_hash: bytes) -> Sequence[Any] | None:
        rows = self._read(f"SELECT {columns} FROM {table} WHERE sid_hash = ?", (sid_hash,))
        return rows[0] if rows else None

    def _purge_expired(self, table: str, now: datetime) -> int:
        """Delete the rows of ``table`` expired at ``now``; how many."""
        with self._write() as db:
            purged = self._exec(db, f"DELETE FROM {table} WHERE expires_at <= ?", (self._at(now),))
        return int(purged.rowcount)

    def _set_all_once(self, at: datetime, *targets: tuple[str, str, str, Any]) -> int:
        """:meth:`_set_once` for each ``(table, column, where, value)`` in one transaction (a
        session and the tokens issued from it; an operator and their sessions): how many rows
        the first changed."""
        with self._write() as db:
            changed = [self._set_once(db, *target, at) for target in targets]
        return changed[0]

    def _set_once(
        self, db: Any, table: str, column: str, where: str, value: Any, at: datetime
    ) -> int:
        """Set ``column`` to ``at`` on the rows of ``table`` whose ``where`` is ``value`` and
        whose ``column`` is still NULL (revoked, disabled, used: once only); how many rows."""
        cursor = self._exec(
            db,
            f"UPDATE {table} SET {column} = ? WHERE {where} = ? AND {column} IS NULL",
            (self._at(at), value),
        )
        return int(cursor.rowcount)
