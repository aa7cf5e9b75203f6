"""The outcome counts in SQL, written once for both backends (:class:`OutcomeSql`).

The :class:`~verrou.store.protocols.OutcomeStore` role: reading what the checks' and reports'
transactions added to ``outcome_counts`` (:meth:`SqlRegistry._count_outcomes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from verrou.registry.records import MEASURES, Tally
from verrou.store.sql import SqlRegistry

_COLUMNS = f"breach_id, sector, day, {', '.join(MEASURES)}"


class OutcomeSql(SqlRegistry):
    """:class:`SqlRegistry` with the outcome counts' reads."""

    def outcome_tallies(self, breach_id: int) -> list[Tally]:
        rows = self._read(
            f"SELECT {_COLUMNS} FROM outcome_counts WHERE breach_id = ? ORDER BY day, sector",
            (breach_id,),
        )
        return [_tally(row) for row in rows]

    def outcome_totals(self) -> list[Tally]:
        """Every breach's counts summed over all days, per sector (``day`` is the last day
        counted): the running totals /metrics exports."""
        sums = ", ".join(f"SUM({m})" for m in MEASURES)
        rows = self._read(
            f"SELECT breach_id, sector, MAX(day), {sums} FROM outcome_counts "
            "GROUP BY breach_id, sector ORDER BY breach_id, sector"
        )
        return [_tally(row) for row in rows]


def _tally(row: Sequence[Any]) -> Tally:
    breach_id, sector, day, *counts = row
    measures = dict(zip(MEASURES, map(int, counts), strict=True))
    return Tally(int(breach_id), str(sector), date.fromisoformat(str(day)), **measures)
