"""Canary identities and breach evidence in SQL, written once for both backends
(:class:`CanarySql`).

The :class:`~verrou.store.protocols.CanaryStore` role (canaries, their keys' fingerprints, and
a planting written in one transaction with its freezes, sealed contacts and audit entries) and
the :class:`~verrou.store.protocols.BreachEvidenceStore` role (what an ingest found about where
a breach's data came from, for its timeline).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from verrou.errors import Conflict
from verrou.identifiers import Kind
from verrou.registry.canary_records import Canary, CanaryKey, CanaryPlanting
from verrou.registry.records import BreachEvidence
from verrou.store.base import FREEZE_COLUMNS, freeze_audit, freeze_row
from verrou.store.sql_citizens import CitizenSql

_EVIDENCE_COLUMNS = "breach_id, run_id, kind, source, canaries, planted_at, recorded_at"


class CanarySql(CitizenSql):
    """:class:`CitizenSql` with the canaries' and the breach evidence's roles."""

    def _many(self, db: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            db.cursor().executemany(self._sql(sql), rows)

    def plant_canaries(self, planting: CanaryPlanting) -> None:
        fingerprints = list(
            dict.fromkeys([key.fingerprint for key in planting.keys])
            | dict.fromkeys(freeze.fingerprint for freeze, _ in planting.freezes)
        )
        with self._write() as db:
            head = self._audit_head(db)
            if fingerprints:
                # Under the head lock: no freeze or other canary takes one of these keys
                # between this read and the commit.
                match, params = self._one_of(fingerprints)
                for table in ("freezes", "canary_keys"):
                    taken = self._exec(
                        db, f"SELECT COUNT(*) FROM {table} WHERE fingerprint {match}", params
                    ).fetchone()
                    if int(taken[0]):
                        raise Conflict(
                            f"{int(taken[0])} key(s) of these canaries are in the registry "
                            "already (frozen, or another canary's): nothing was planted"
                        )
            self._many(
                db,
                "INSERT INTO canaries (id, source, planted_at) VALUES (?, ?, ?)",
                [(c.id, c.source, self._at(c.planted_at)) for c in planting.canaries],
            )
            self._many(
                db,
                "INSERT INTO canary_keys (fingerprint, canary_id, kind) VALUES (?, ?, ?)",
                [(k.fingerprint, k.canary_id, k.kind.value) for k in planting.keys],
            )
            marks = ", ".join("?" * len(FREEZE_COLUMNS.split(",")))
            self._many(
                db,
                f"INSERT INTO freezes ({FREEZE_COLUMNS}) VALUES ({marks})",
                [freeze_row(freeze, self._at, self._flag) for freeze, _ in planting.freezes],
            )
            self._many(
                db,
                "INSERT INTO contacts (subject_fingerprint, sealed, owner_ref) VALUES (?, ?, ?)",
                [(c.fingerprint, c.sealed, c.owner_ref) for c in planting.contacts],
            )
            drafts = [freeze_audit(freeze, draft) for freeze, draft in planting.freezes]
            self._chain_many(db, head, [*drafts, *planting.audits])

    def canaries(self) -> list[Canary]:
        rows = self._read(
            "SELECT c.id, c.source, c.planted_at, k.kind FROM canaries c "
            "LEFT JOIN canary_keys k ON k.canary_id = c.id ORDER BY c.planted_at, c.id"
        )
        found: dict[str, tuple[Canary, set[str]]] = {}
        for canary_id, source, planted_at, kind in rows:
            if canary_id not in found:
                canary = Canary(str(canary_id), str(source), self._required_when(planted_at))
                found[canary_id] = (canary, set())
            if kind is not None:
                found[canary_id][1].add(str(kind))
        return [
            Canary(canary.id, canary.source, canary.planted_at, tuple(sorted(kinds)))
            for canary, kinds in found.values()
        ]

    def canary_key_page(self, *, after: bytes | None, limit: int) -> list[CanaryKey]:
        # Every fingerprint sorts after the empty one: one statement for the first page too.
        rows = self._read(
            "SELECT fingerprint, kind, canary_id FROM canary_keys WHERE fingerprint > ? "
            "ORDER BY fingerprint LIMIT ?",
            (after or b"", limit),
        )
        return [CanaryKey(bytes(row[0]), Kind(row[1]), str(row[2])) for row in rows]

    # --- breach evidence (the BreachEvidenceStore role) -----------------------------------------

    def add_breach_evidence(self, evidence: Sequence[BreachEvidence]) -> None:
        with self._write() as db:
            self._many(
                db,
                f"INSERT INTO breach_evidence ({_EVIDENCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id, kind, source, planted_at) DO NOTHING",
                [
                    (
                        e.breach_id,
                        e.run_id,
                        e.kind,
                        e.source,
                        e.canaries,
                        self._at(e.planted_at),
                        self._at(e.recorded_at),
                    )
                    for e in evidence
                ],
            )

    def breach_evidence(self, breach_id: int) -> list[BreachEvidence]:
        rows = self._read(
            f"SELECT {_EVIDENCE_COLUMNS} FROM breach_evidence WHERE breach_id = ? "
            "ORDER BY planted_at, source, run_id",
            (breach_id,),
        )
        return [
            BreachEvidence(
                breach_id=int(row[0]),
                run_id=int(row[1]),
                kind=row[2],
                source=str(row[3]),
                canaries=int(row[4]),
                planted_at=self._required_when(row[5]),
                recorded_at=self._required_when(row[6]),
            )
            for row in rows
        ]
