"""Citizens' accounts in SQL, written once for both backends (:class:`CitizenSql`).

The :class:`~verrou.store.protocols.CitizenStore` role: citizens known by a keyed reference of
their sign-in account, the keys they claim, email proofs in progress, and the index of checks by
key that :meth:`SqlRegistry.run_checks` writes in each check's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from verrou.identifiers import Kind
from verrou.registry.audit import AuditDraft, AuditEntry, entry_from_content
from verrou.registry.citizen_records import Citizen, CitizenKey, ContestedKey, EmailCode
from verrou.store.base import record_columns, record_row
from verrou.store.sql_reports import ReportSql

_KEY_COLUMNS = record_columns(CitizenKey)
_CODE_COLUMNS = record_columns(EmailCode)


class CitizenSql(ReportSql):
    """:class:`SqlRegistry` with the citizens' role (and, from its bases, the reports' and the
    outcome counts'); the dialect hooks stay the backend's."""

    def _citizen_key(self, row: Sequence[Any]) -> CitizenKey:
        return CitizenKey(
            citizen_id=row[0],
            fingerprint=bytes(row[1]),
            attribute=row[2],
            kind=Kind(row[3]),
            source=row[4],
            added_at=self._required_when(row[5]),
        )

    def sign_in_citizen(self, subject_ref: bytes, new_id: str, *, now: datetime) -> Citizen:
        with self._write() as db:
            row = self._exec(
                db, "SELECT id, created_at FROM citizens WHERE subject_ref = ?", (subject_ref,)
            ).fetchone()
            if row is None:
                self._exec(
                    db,
                    "INSERT INTO citizens (id, subject_ref, created_at, last_sign_in) "
                    "VALUES (?, ?, ?, ?)",
                    (new_id, subject_ref, self._at(now), self._at(now)),
                )
                return Citizen(new_id, now, now)
            self._exec(
                db,
                "UPDATE citizens SET last_sign_in = ? WHERE id = ?",
                (self._at(now), row[0]),
            )
            return Citizen(str(row[0]), self._required_when(row[1]), now)

    def get_citizen(self, citizen_id: str) -> Citizen | None:
        rows = self._read(
            "SELECT id, created_at, last_sign_in FROM citizens WHERE id = ?", (citizen_id,)
        )
        if not rows:
            return None
        row = rows[0]
        return Citizen(str(row[0]), self._required_when(row[1]), self._required_when(row[2]))

    def bind_citizen_keys(
        self, keys: Sequence[CitizenKey], *, audits: Sequence[AuditDraft]
    ) -> list[CitizenKey]:
        if len(keys) != len(audits):
            raise ValueError("every key binding needs its audit entry")
        added: list[CitizenKey] = []
        drafts: list[AuditDraft] = []
        with self._write() as db:
            head = self._audit_head(db)
            for key, draft in zip(keys, audits, strict=True):
                if draft.subject != key.fingerprint.hex():
                    raise ValueError("a binding's audit entry must name its key")
                row = record_row(key, self._at)
                if self._insert(
                    db, "citizen_keys", _KEY_COLUMNS, row, unless="citizen_id, fingerprint"
                ):
                    added.append(key)
                    drafts.append(draft)
            if drafts:
                self._chain_many(db, head, drafts)
        return added

    def citizen_keys(self, citizen_id: str) -> list[CitizenKey]:
        rows = self._read(
            f"SELECT {_KEY_COLUMNS} FROM citizen_keys WHERE citizen_id = ? "
            "ORDER BY added_at, attribute, fingerprint",
            (citizen_id,),
        )
        return [self._citizen_key(row) for row in rows]

    def release_citizen_key(
        self, fingerprint: bytes, citizen_ids: Sequence[str], *, audits: Sequence[AuditDraft]
    ) -> list[str]:
        draft_of = dict(zip(citizen_ids, audits, strict=True))
        if any(draft.subject != fingerprint.hex() for draft in audits):
            raise ValueError("a release's audit entry must name its key")
        with self._write() as db:
            head = self._audit_head(db)
            released = [c for c in draft_of if self._release_claim(db, fingerprint, c)]
            if released:
                self._chain_many(db, head, [draft_of[c] for c in released])
        return released

    def _release_claim(self, db: Any, fingerprint: bytes, citizen_id: str) -> bool:
        """Delete one account's claim on a key, and the contacts it sealed to it (the account
        no longer hears of checks on it); False when it held no claim."""
        deleted = self._exec(
            db,
            "DELETE FROM citizen_keys WHERE citizen_id = ? AND fingerprint = ?",
            (citizen_id, fingerprint),
        )
        if not deleted.rowcount:
            return False
        self._exec(
            db,
            "DELETE FROM contacts WHERE subject_fingerprint = ? AND owner_ref = ?",
            (fingerprint, citizen_id),
        )
        return True

    def key_claimants(self, fingerprints: Sequence[bytes]) -> dict[bytes, set[str]]:
        keys = list(dict.fromkeys(fingerprints))
        if not keys:
            return {}
        match, params = self._one_of(keys)
        found: dict[bytes, set[str]] = {}
        for fingerprint, citizen_id in self._read(
            f"SELECT fingerprint, citizen_id FROM citizen_keys WHERE fingerprint {match}", params
        ):
            found.setdefault(bytes(fingerprint), set()).add(str(citizen_id))
        return found

    def contested_keys(self) -> list[ContestedKey]:
        rows = self._read(
            "SELECT k.fingerprint, k.kind, k.citizen_id FROM citizen_keys k WHERE k.fingerprint IN "
            "(SELECT fingerprint FROM citizen_keys GROUP BY fingerprint HAVING COUNT(*) > 1) "
            "ORDER BY k.fingerprint, k.citizen_id"
        )
        grouped: dict[bytes, tuple[Kind, list[str]]] = {}
        for fingerprint, kind, citizen_id in rows:
            grouped.setdefault(bytes(fingerprint), (Kind(kind), []))[1].append(str(citizen_id))
        frozen: set[bytes] = set()
        if grouped:
            match, params = self._one_of(list(grouped))
            frozen = {
                bytes(row[0])
                for row in self._read(
                    f"SELECT fingerprint FROM freezes WHERE fingerprint {match}", params
                )
            }
        return [
            ContestedKey(fingerprint, kind, tuple(citizens), fingerprint in frozen)
            for fingerprint, (kind, citizens) in grouped.items()
        ]

    def citizen_key_page(self, *, after: bytes | None, limit: int) -> list[tuple[bytes, str]]:
        if after is None:
            rows = self._read(
                "SELECT fingerprint, citizen_id FROM citizen_keys "
                "ORDER BY fingerprint, citizen_id LIMIT ?",
                (limit,),
            )
        else:
            rows = self._read(
                "SELECT fingerprint, citizen_id FROM citizen_keys WHERE fingerprint > ? "
                "ORDER BY fingerprint, citizen_id LIMIT ?",
                (after, limit),
            )
        return [(bytes(row[0]), str(row[1])) for row in rows]

    def add_email_code(self, code: EmailCode) -> None:
        with self._write() as db:
            self._insert(db, "email_codes", _CODE_COLUMNS, record_row(code, self._at))

    def email_codes_since(self, citizen_id: str, since: datetime) -> int:
        rows = self._read(
            "SELECT COUNT(*) FROM email_codes WHERE citizen_id = ? AND created_at >= ?",
            (citizen_id, self._at(since)),
        )
        return int(rows[0][0])

    def try_email_code(self, code_id: str, citizen_id: str, *, now: datetime) -> EmailCode | None:
        with self._write() as db:
            self._exec(
                db,
                "UPDATE email_codes SET attempts = attempts + 1 WHERE id = ? AND citizen_id = ?",
                (code_id, citizen_id),
            )
            row = self._exec(
                db,
                f"SELECT {_CODE_COLUMNS} FROM email_codes WHERE id = ? AND citizen_id = ?",
                (code_id, citizen_id),
            ).fetchone()
        if row is None:
            return None
        return EmailCode(
            id=row[0],
            citizen_id=row[1],
            fingerprint=bytes(row[2]),
            sealed_contact=bytes(row[3]),
            code_hash=bytes(row[4]),
            created_at=self._required_when(row[5]),
            expires_at=self._required_when(row[6]),
            attempts=int(row[7]),
            used_at=self._when(row[8]),
        )

    def use_email_code(self, code_id: str, *, now: datetime) -> bool:
        with self._write() as db:
            return self._set_once(db, "email_codes", "used_at", "id", code_id, now) == 1

    def check_seqs(
        self, fingerprints: Sequence[bytes], *, below: int | None, limit: int
    ) -> list[tuple[bytes, int]]:
        keys = list(dict.fromkeys(fingerprints))
        if not keys or limit <= 0:
            return []
        match, params = self._one_of(keys)
        bound = ""
        if below is not None:
            bound = "AND seq < ? "
            params.append(below)
        rows = self._read(
            f"SELECT fingerprint, seq FROM check_subjects WHERE fingerprint {match} "
            f"{bound}ORDER BY seq DESC LIMIT ?",
            [*params, limit],
        )
        return [(bytes(row[0]), int(row[1])) for row in rows]

    def entries_at(self, seqs: Sequence[int]) -> dict[int, AuditEntry]:
        match, params = self._one_of(list(seqs))
        entries: dict[int, AuditEntry] = {}
        for seq, content, prev_hash, entry_hash in self._read(
            f"SELECT seq, content, prev_hash, entry_hash FROM audit_log WHERE seq {match}", params
        ):
            try:
                entries[int(seq)] = entry_from_content(
                    bytes(content), prev_hash=bytes(prev_hash), entry_hash=bytes(entry_hash)
                )
            except ValueError:
                continue
        return entries
