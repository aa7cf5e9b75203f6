"""The records of citizens' accounts, as the store holds them: citizens, the keys they claim,
contested keys, email proofs in progress, and rows of the checks index. Fingerprints and ids
only: no claim value, no address in clear."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, TypeAlias, get_args

from verrou.identifiers import Kind
from verrou.registry.audit import AuditDraft
from verrou.registry.policy import IdentityKey
from verrou.registry.records import Tally

#: Where a citizen's key comes from: the verified sign-in claims, an email proven by a code,
#: or an identifier bound to the account without proof.
KeySource: TypeAlias = Literal["claims", "email", "bound"]
KEY_SOURCES: Final[tuple[str, ...]] = get_args(KeySource)


@dataclass(frozen=True)
class Citizen:
    """A person who signed in: an id, and when."""

    id: str
    created_at: datetime
    last_sign_in: datetime


@dataclass(frozen=True)
class CitizenKey:
    """One key a citizen claims: its fingerprint, what it is, where the claim comes from."""

    citizen_id: str
    fingerprint: bytes
    attribute: str
    kind: Kind
    source: KeySource
    added_at: datetime

    @property
    def proven(self) -> bool:
        """True for a key the citizen proved: from the verified claims, or a coded email."""
        return self.source != "bound"

    def identity_key(self) -> IdentityKey:
        return IdentityKey(self.attribute, self.kind, self.fingerprint)

    def __repr__(self) -> str:  # a fingerprint is linkable: keep it out of logs
        return f"CitizenKey({self.attribute}, {self.kind.value}, {self.source})"


@dataclass(frozen=True)
class ContestedKey:
    """A key two or more citizens claim: it stays frozen, for an operator to resolve."""

    fingerprint: bytes
    kind: Kind
    citizens: tuple[str, ...]
    frozen: bool


@dataclass(frozen=True)
class CheckIndexRow:
    """A row of the checks index: one key of one check (what the store answers)."""

    fingerprint: bytes
    at: datetime
    seq: int
    check_id: str
    relying_party_id: str
    relying_party_name: str
    sector: str
    verdict: str


@dataclass(frozen=True)
class EmailCode:
    """A pending email proof: the address sealed to its own fingerprint, a keyed hash of the
    code, its time and how many tries it took."""

    id: str
    citizen_id: str
    fingerprint: bytes
    sealed_contact: bytes
    code_hash: bytes
    created_at: datetime
    expires_at: datetime
    attempts: int = 0
    used_at: datetime | None = None


ReportKind: TypeAlias = Literal["report", "attestation"]


@dataclass(frozen=True)
class StoredReport:
    """An identity-theft report or an exposure attestation as the store keeps it: its signed
    claims (ids, codes, dates: no personal data), the token, status, and the citizen's sealed
    note if any."""

    id: str
    citizen_id: str
    kind: ReportKind
    issued_at: datetime
    expires_at: datetime | None
    status: Literal["valid", "withdrawn"]
    withdrawn_at: datetime | None
    claims: str
    token: str
    sealed_note: bytes | None = None

    def __repr__(self) -> str:
        return f"StoredReport({self.id!r}, {self.kind!r}, {self.status!r})"


@dataclass(frozen=True)
class FiledReport:
    """What filing a report or issuing an attestation writes in one transaction: the document,
    its audit entry, the (check id, relying party id) pairs a report disputes, and what it adds
    to the outcome counts (:mod:`verrou.registry.outcomes`)."""

    document: StoredReport
    audit: AuditDraft
    disputes: Sequence[tuple[str, str]] = ()
    tallies: Sequence[Tally] = ()
