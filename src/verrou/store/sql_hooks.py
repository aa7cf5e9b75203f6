"""The dialect hooks of :class:`~verrou.store.sql.SqlRegistry` as its mixins see them
(declared for the type checker only: the registry and its backends supply them), and the one
statement several roles share: stamping a time on rows that have none yet."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any


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
