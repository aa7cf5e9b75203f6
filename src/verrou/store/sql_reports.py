"""Identity-theft reports and exposure attestations in SQL, written once for both backends
(:class:`ReportSql`): the :class:`~verrou.store.protocols.ReportStore` role. Filing a report
adds to the outcome counts in the same transaction (:meth:`SqlRegistry._count_outcomes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from verrou.registry.audit import AuditDraft
from verrou.registry.citizen_records import StoredReport
from verrou.registry.records import FiledReport
from verrou.store.base import record_columns, record_row
from verrou.store.sql_outcomes import OutcomeSql

_REPORT_COLUMNS = record_columns(StoredReport)


class ReportSql(OutcomeSql):
    """:class:`SqlRegistry` with the reports' role and the outcome counts'."""

    def _required_when(self, value: Any) -> datetime:
        moment = self._when(value)
        if moment is None:  # pragma: no cover - NOT NULL columns
            raise ValueError("a required time is missing")
        return moment

    def _report(self, row: Sequence[Any]) -> StoredReport:
        return StoredReport(
            id=str(row[0]),
            citizen_id=str(row[1]),
            kind=row[2],
            issued_at=self._required_when(row[3]),
            expires_at=self._when(row[4]),
            status=row[5],
            withdrawn_at=self._when(row[6]),
            claims=str(row[7]),
            token=str(row[8]),
            sealed_note=None if row[9] is None else bytes(row[9]),
        )

    def add_report(self, filed: FiledReport) -> None:
        with self._write() as db:
            self._count_outcomes(db, filed.tallies)
            head = self._audit_head(db)
            self._insert(db, "reports", _REPORT_COLUMNS, record_row(filed.document, self._at))
            if filed.disputes:
                db.cursor().executemany(
                    self._sql(
                        "INSERT INTO report_checks (report_id, check_id, relying_party_id) "
                        "VALUES (?, ?, ?)"
                    ),
                    [(filed.document.id, check, party) for check, party in filed.disputes],
                )
            self._chain(db, head, filed.audit)

    def get_report(self, report_id: str) -> StoredReport | None:
        rows = self._read(f"SELECT {_REPORT_COLUMNS} FROM reports WHERE id = ?", (report_id,))
        return self._report(rows[0]) if rows else None

    def list_reports(self, *, citizen_id: str | None = None) -> list[StoredReport]:
        if citizen_id is None:
            rows = self._read(f"SELECT {_REPORT_COLUMNS} FROM reports ORDER BY issued_at DESC, id")
        else:
            rows = self._read(
                f"SELECT {_REPORT_COLUMNS} FROM reports WHERE citizen_id = ? "
                "ORDER BY issued_at DESC, id",
                (citizen_id,),
            )
        return [self._report(row) for row in rows]

    def withdraw_report(self, report_id: str, *, at: datetime, audit: AuditDraft) -> bool:
        with self._write() as db:
            head = self._audit_head(db)
            withdrawn = self._exec(
                db,
                "UPDATE reports SET status = 'withdrawn', withdrawn_at = ? "
                "WHERE id = ? AND status = 'valid'",
                (self._at(at), report_id),
            )
            if withdrawn.rowcount == 0:
                return False
            self._chain(db, head, audit)
        return True

    def report_disputes(self, report_id: str) -> list[tuple[str, str]]:
        rows = self._read(
            "SELECT check_id, relying_party_id FROM report_checks WHERE report_id = ? "
            "ORDER BY check_id",
            (report_id,),
        )
        return [(str(row[0]), str(row[1])) for row in rows]
