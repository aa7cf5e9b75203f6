"""The registry store's protocols, one per role, and their union for wiring.

Each domain operation needs one role (a check the :class:`CheckLedger`, a freeze the
:class:`FreezeStore`, ...); :class:`RegistryStore` is all of them at once, which the SQLite and
PostgreSQL stores implement (through :class:`verrou.store.sql.SqlRegistry`, which names it as its
base) and :func:`verrou.store.open_store` returns. What every store does alike on top of a role's
storage is written here once: :meth:`RelyingPartyStore.create_relying_party` mints a party and
its key, and the store only writes them (:meth:`RelyingPartyStore.add_relying_party`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from verrou.registry.alerts import Alert, OutboxItem
from verrou.registry.audit import AuditEntry, AuditSnapshot, StoredEntry
from verrou.registry.canary_records import Canary, CanaryKey, CanaryPlanting
from verrou.registry.citizen_records import (
    Citizen,
    CitizenKey,
    ContestedKey,
    EmailCode,
    StoredReport,
)
from verrou.registry.operator_records import Operator, OperatorSessionRecord
from verrou.registry.policy import ExposureHit, Freeze, Thaw
from verrou.registry.records import (
    KEY_PREFIX_CHARS,
    BatchCommit,
    Breach,
    BreachEvidence,
    BreachInfo,
    BreachSummary,
    FiledReport,
    IngestRun,
    NewRun,
    OutboxStatus,
    Reject,
    RelyingParty,
    SealedContact,
    Sector,
    Tally,
    api_key_hash,
    checked_rate_limit,
    checked_relying_party,
    new_api_key,
    new_relying_party_id,
    relying_party_draft,
)
from verrou.registry.sessions import CitizenSessionRecord
from verrou.store.base import AuditDraft, Conclude


class RegistryAdmin(Protocol):
    """Opening, migrating and probing the registry, and binding it to its keys."""

    url_for_display: str

    def migrate(self) -> list[int]: ...
    def schema_version(self) -> int: ...
    def close(self) -> None: ...
    def ping(self) -> None:
        """Raise :class:`~verrou.errors.StoreError` unless the store answers a query."""
        ...

    def bind_fingerprint_key(self, key_id: str, versions: Mapping[str, int] | None = None) -> None:
        """Refuse a fingerprint key, or canonicaliser versions (``versions``, default this
        verrou's :data:`~verrou.identifiers.kinds.KIND_VERSIONS`), other than the registry's.

        The first call records ``key_id`` as the registry's key (a registry from before the
        key was recorded adopts the key id of its ingest runs, and is refused when they hold
        several); every call then raises
        :class:`~verrou.keys.FingerprintKeyMismatch` (naming both ids, never a key) unless
        ``key_id`` is the recorded one. Likewise each kind's recorded canonicaliser version
        must be this verrou's (:class:`~verrou.keys.CanonicaliserVersionMismatch` otherwise);
        kinds with none recorded are recorded. :func:`verrou.store.open_store` calls it for
        every command that holds the fingerprint key.
        """
        ...

    def probe_write(self) -> None:
        """Raise :class:`~verrou.errors.StoreError` unless a check could be recorded now: a
        write transaction on the audit chain's head is taken and rolled back."""
        ...


class BreachStore(Protocol):
    """Breaches and their timelines."""

    def ensure_breach(self, info: BreachInfo) -> Breach: ...
    def get_breach(self, name: str) -> Breach | None: ...
    def list_breaches(self) -> list[BreachSummary]: ...


class IngestRunStore(Protocol):
    """Ingest runs: started, fed batch by batch, finished or failed, resumed."""

    def find_run(self, breach_id: int, file_sha256: str) -> IngestRun | None: ...
    def start_run(self, run: NewRun) -> IngestRun: ...
    def restart_run(self, run_id: int) -> IngestRun: ...
    def commit_batch(self, batch: BatchCommit) -> None: ...
    def finish_run(self, run_id: int, counts: dict[str, Any]) -> IngestRun: ...
    def fail_run(self, run_id: int, error: str) -> None: ...
    def get_run(self, run_id: int) -> IngestRun: ...
    def list_runs(self) -> list[IngestRun]:
        """Every ingest run, newest first."""
        ...

    def rejects(self, run_id: int) -> Iterator[Reject]: ...


class ExposureLookup(Protocol):
    """Which leaked records hold some fingerprints."""

    def lookup(self, fingerprints: Sequence[bytes]) -> list[ExposureHit]:
        """Every exposure of these fingerprints in the complete ingest runs."""
        ...


class CheckLedger(ExposureLookup, Protocol):
    """What a check reads and records: exposures, then a group of checks in one transaction."""

    def run_checks(
        self, fingerprints: Sequence[bytes], *, now: datetime, conclude: Conclude
    ) -> list[AuditEntry]:
        """Record a group of checks in one transaction.

        Reads what the registry holds for ``fingerprints`` (exposures, freezes with their thaws
        active at ``now``, sealed contacts, the breaches hit) under the audit chain's lock, hands
        it to ``conclude`` (the verdict policy, which must not touch the store), then appends
        the audit entries it returns, in order, with their alerts, and commits. Returns the
        chained entries. Whatever fails, nothing is written, and the error propagates: a check
        whose audit entry is not committed has no verdict.
        """
        ...


class LookupIndexStore(Protocol):
    """The private exposure check's index (:mod:`verrou.lookup`), read by bucket."""

    def lookup_entries(self, buckets: range) -> list[bytes]:
        """The packed index entries of these 16-bit buckets, in blocks."""
        ...

    def list_breaches(self) -> list[BreachSummary]:
        """Every breach, with what it holds (``indexed_by_kind``: what the index holds)."""
        ...


class OutcomeStore(Protocol):
    """The outcome counts (:mod:`verrou.registry.outcomes`), which the checks' and reports'
    transactions keep up to date."""

    def outcome_tallies(self, breach_id: int) -> list[Tally]:
        """The breach's counts, one tally per sector and day."""
        ...

    def outcome_totals(self) -> list[Tally]:
        """Every breach's counts per sector, summed over the days (``day``: the last one)."""
        ...


class FreezeStore(Protocol):
    """Freezes and thaws, each change in one transaction with its audit entry (whose subject
    must be the fingerprint in hex). A key holds at most one freeze."""

    def place_freeze(self, freeze: Freeze, *, audit: AuditDraft) -> Freeze:
        """Freeze a key; return the freeze in force. On a key already frozen nothing changes
        and nothing is audited: the existing freeze is returned."""
        ...

    def lift_freeze(self, fingerprint: bytes, *, audit: AuditDraft) -> bool:
        """Lift the freeze of a key, and its thaws with it; False (nothing audited) if none."""
        ...

    def add_thaw(self, thaw: Thaw, *, audit: AuditDraft) -> Thaw:
        """Open a frozen key for a window. :class:`~verrou.errors.Conflict` when the key is not
        frozen; :class:`~verrou.errors.NotFound` for an unknown relying party."""
        ...

    def freezes_for(
        self, fingerprints: Sequence[bytes], *, now: datetime
    ) -> tuple[list[Freeze], list[Thaw]]:
        """The freezes of these keys, and their thaws that have not ended at ``now``."""
        ...


class AuditLogStore(Protocol):
    """The hash-chained audit log."""

    def append_audit(self, draft: AuditDraft) -> AuditEntry:
        """Chain one entry after the current head, atomically."""
        ...

    def audit_entries(self) -> Iterator[StoredEntry]:
        """Every stored entry in seq order, streamed (see
        :func:`verrou.registry.audit.verify_stored`)."""
        ...

    def audit_snapshot(self) -> AuditSnapshot:
        """The chain's head row, the log's last entry and every freeze and thaw, read together
        under the head lock (so they agree with each other: every change takes that lock), for
        :func:`verrou.registry.audit.verify_registry`."""
        ...


class RelyingPartyStore(Protocol):
    """Relying parties and their API keys (only a hash is stored)."""

    def create_relying_party(
        self,
        name: str,
        sector: Sector,
        *,
        rate_limit: int | None = None,
        actor: str = "operator",
        at: datetime | None = None,
    ) -> tuple[RelyingParty, str]:
        """Register a relying party; return it and its API key, which is never shown again."""
        api_key = new_api_key()
        party = RelyingParty(
            id=new_relying_party_id(),
            name=checked_relying_party(name, sector),
            sector=sector,
            key_prefix=api_key[:KEY_PREFIX_CHARS],
            created_at=at or datetime.now(UTC),
            rate_limit=checked_rate_limit(rate_limit),
        )
        draft = relying_party_draft("relying_party.create", party, actor=actor, at=party.created_at)
        self.add_relying_party(party, api_key_hash(api_key), audit=draft)
        return party, api_key

    def add_relying_party(self, party: RelyingParty, key_hash: bytes, *, audit: AuditDraft) -> None:
        """Store a relying party made by :meth:`create_relying_party`, with the hash of its API
        key, in one transaction with its audit entry."""
        ...

    def relying_party_by_key(self, api_key: str) -> RelyingParty | None:
        """The active relying party this API key belongs to, or None."""
        ...

    def list_relying_parties(self) -> list[RelyingParty]:
        """Every relying party, revoked ones included, oldest first."""
        ...

    def revoke_relying_party(
        self, relying_party_id: str, *, actor: str = "operator", at: datetime | None = None
    ) -> bool:
        """Revoke a relying party's key; False (nothing audited) if unknown or already revoked."""
        ...


class OutboxStore(Protocol):
    """The alert outbox (:class:`verrou.registry.alerts.Outbox`)."""

    def enqueue_alert(self, alert: Alert, sealed_contact: bytes, *, now: datetime) -> OutboxItem:
        """Add a pending alert due at ``now``; :class:`~verrou.errors.Conflict` for an id
        already queued."""
        ...

    def due(self, now: datetime, limit: int) -> list[OutboxItem]:
        """Claim up to ``limit`` pending alerts due at ``now`` for :data:`ALERT_LEASE`, oldest
        first; concurrent callers never get the same alert."""
        ...

    def mark_delivered(
        self, alert_id: str, at: datetime, *, attempts: int, checks: int | None = None
    ) -> None:
        """See :meth:`verrou.registry.alerts.Outbox.mark_delivered`: checks an alert absorbed
        after it was read for sending (more than ``checks``) go to the alert of its next window."""
        ...

    def mark_retry(
        self, alert_id: str, attempts: int, next_attempt_at: datetime, error: str
    ) -> None: ...
    def mark_failed(self, alert_id: str, error: str, *, attempts: int) -> None: ...
    def outbox_status(self, now: datetime) -> OutboxStatus:
        """Counts of the outbox for operators (no contact, no fingerprint)."""
        ...


class ContactStore(Protocol):
    """Sealed contacts of the owners of keys."""

    def add_contact(self, subject_fingerprint: bytes, sealed: bytes, *, owner_ref: str) -> None:
        """Register a sealed contact (:func:`verrou.registry.contacts.seal`) for a key."""
        ...

    def contacts_for(self, fingerprints: Sequence[bytes]) -> dict[bytes, list[SealedContact]]:
        """The sealed contacts of these keys, by fingerprint, oldest first."""
        ...


class CitizenStore(Protocol):
    """Citizens' accounts: who signed in, the keys they claim, email proofs, and the index of
    the checks of their keys (:mod:`verrou.registry.citizens`)."""

    def sign_in_citizen(self, subject_ref: bytes, new_id: str, *, now: datetime) -> Citizen:
        """The citizen of this account reference, created with ``new_id`` on first sign-in;
        its last sign-in is set to ``now``."""
        ...

    def get_citizen(self, citizen_id: str) -> Citizen | None: ...

    def bind_citizen_keys(
        self, keys: Sequence[CitizenKey], *, audits: Sequence[AuditDraft]
    ) -> list[CitizenKey]:
        """Bind keys (``audits[i]`` is the entry of ``keys[i]``); those the citizen already
        holds are left as they are and not audited. Returns the new bindings."""
        ...

    def citizen_keys(self, citizen_id: str) -> list[CitizenKey]: ...

    def key_claimants(self, fingerprints: Sequence[bytes]) -> dict[bytes, set[str]]:
        """The citizens claiming each of these keys."""
        ...

    def contested_keys(self) -> list[ContestedKey]:
        """Keys two or more citizens claim, for the operators."""
        ...

    def release_citizen_key(
        self, fingerprint: bytes, citizen_ids: Sequence[str], *, audits: Sequence[AuditDraft]
    ) -> list[str]:
        """Take the key from these citizens' accounts (``audits[i]`` is the entry of
        ``citizen_ids[i]``), with the contacts they sealed to it, in one transaction; an
        account that does not claim it is left out and not audited. Returns those released."""
        ...

    def citizen_key_page(self, *, after: bytes | None, limit: int) -> list[tuple[bytes, str]]:
        """(fingerprint, citizen id) of every claimed key, in fingerprint order, a page at a
        time after ``after``."""
        ...

    def add_email_code(self, code: EmailCode) -> None: ...

    def email_codes_since(self, citizen_id: str, since: datetime) -> int:
        """How many email codes this citizen asked for since ``since``."""
        ...

    def try_email_code(self, code_id: str, citizen_id: str, *, now: datetime) -> EmailCode | None:
        """Count one try of a citizen's pending code and return it (None: no such code of
        theirs). The try is committed before the code is compared."""
        ...

    def use_email_code(self, code_id: str, *, now: datetime) -> bool:
        """Mark a code used; False when it was used already (two tries racing)."""
        ...

    def check_seqs(
        self, fingerprints: Sequence[bytes], *, below: int | None, limit: int
    ) -> list[tuple[bytes, int]]:
        """(fingerprint, audit seq) of the checks index for these keys, newest first, at most
        ``limit`` rows, of seqs below ``below`` when given."""
        ...

    def entries_at(self, seqs: Sequence[int]) -> dict[int, AuditEntry]:
        """The audit entries of these seqs, decoded (an unreadable one is left out: ``verrou
        audit verify`` names it)."""
        ...


class ReportStore(Protocol):
    """Identity-theft reports and exposure attestations (:mod:`verrou.registry.filing`)."""

    def add_report(self, filed: FiledReport) -> None:
        """Store a report or attestation with what it disputes, its audit entry and what it
        adds to the outcome counts, in one transaction."""
        ...

    def get_report(self, report_id: str) -> StoredReport | None: ...

    def list_reports(self, *, citizen_id: str | None = None) -> list[StoredReport]:
        """Reports and attestations, newest first; a citizen's own when ``citizen_id``."""
        ...

    def withdraw_report(self, report_id: str, *, at: datetime, audit: AuditDraft) -> bool:
        """Mark a report withdrawn; False (nothing audited) if unknown or withdrawn already."""
        ...

    def report_disputes(self, report_id: str) -> list[tuple[str, str]]:
        """The (check id, relying party id) pairs a report disputes."""
        ...


class SessionStore(Protocol):
    """Citizen sessions (:class:`~verrou.registry.sessions.CitizenSessionRecord`): only hashes
    of session ids are stored, never an id nor anything personal."""

    def create_session(self, session: CitizenSessionRecord) -> None:
        """Store a new session; :class:`~verrou.errors.Conflict` for an id already stored."""
        ...

    def get_session(self, sid_hash: bytes) -> CitizenSessionRecord | None:
        """The session whose id hashes to ``sid_hash``, revoked or expired ones included (the
        caller decides with :meth:`CitizenSessionRecord.usable_at`), or None."""
        ...

    def revoke_session(self, sid_hash: bytes, *, at: datetime) -> bool:
        """Revoke a session and every bearer token issued from it; False if it is unknown or
        already revoked."""
        ...

    def purge_expired(self, now: datetime) -> int:
        """Delete the sessions expired at ``now`` (revoked or not); how many were deleted."""
        ...


class OperatorStore(Protocol):
    """Operators (:mod:`verrou.registry.operators`) and their sessions, apart from citizens':
    password hashes and hashes of session ids and CSRF tokens, never a secret."""

    def add_operator(self, operator: Operator) -> bool:
        """Store a new operator; False (nothing changed) if the name is taken."""
        ...

    def get_operator(self, name: str) -> Operator | None: ...

    def list_operators(self) -> list[Operator]: ...

    def disable_operator(self, name: str, *, at: datetime) -> bool:
        """Disable an operator and revoke their sessions; False if unknown or disabled."""
        ...

    def create_operator_session(self, session: OperatorSessionRecord) -> None: ...

    def get_operator_session(self, sid_hash: bytes) -> OperatorSessionRecord | None:
        """The session whose id hashes to ``sid_hash``, revoked or expired included."""
        ...

    def revoke_operator_session(self, sid_hash: bytes, *, at: datetime) -> bool: ...

    def purge_operator_sessions(self, now: datetime) -> int: ...


class CanaryStore(Protocol):
    """Canary identities (:mod:`verrou.registry.canaries`): their records and their keys'
    fingerprints, never their values."""

    def plant_canaries(self, planting: CanaryPlanting) -> None:
        """Write a planting in one transaction: its canaries, their keys, a canary freeze on
        each key, the sealed contacts and the audit entries. :class:`~verrou.errors.Conflict`
        (nothing written) when a key already holds a freeze or belongs to a canary."""
        ...

    def canaries(self) -> list[Canary]:
        """Every canary with the kinds of its keys, oldest planting first."""
        ...

    def canary_key_page(self, *, after: bytes | None, limit: int) -> list[CanaryKey]:
        """Canary keys in fingerprint order, at most ``limit``, after ``after`` when given."""
        ...


class BreachEvidenceStore(Protocol):
    """What ingests found about where a breach's data came from and when (its timeline)."""

    def add_breach_evidence(self, evidence: Sequence[BreachEvidence]) -> None:
        """Record evidence; a fact already recorded for its run (same kind, source and
        planting date) is left as it is, so a run attributed twice records it once."""
        ...

    def breach_evidence(self, breach_id: int) -> list[BreachEvidence]:
        """The evidence of one breach, by planting date then source."""
        ...


class CheckStore(RegistryAdmin, CheckLedger, Protocol):
    """What a check recorder holds: the check ledger, on a connection it probes and closes."""


class IngestStore(
    RegistryAdmin,
    BreachStore,
    IngestRunStore,
    ExposureLookup,
    CanaryStore,
    BreachEvidenceStore,
    Protocol,
):
    """What an ingest needs: the key binding, the breach, its run, and at its end what tells
    which canaries its dump holds (the run's exposures, the canaries' keys, the evidence)."""


class RegistryStore(
    RegistryAdmin,
    BreachStore,
    IngestRunStore,
    CheckLedger,
    LookupIndexStore,
    OutcomeStore,
    FreezeStore,
    AuditLogStore,
    RelyingPartyStore,
    OutboxStore,
    ContactStore,
    CitizenStore,
    ReportStore,
    SessionStore,
    OperatorStore,
    CanaryStore,
    BreachEvidenceStore,
    Protocol,
):
    """Every role at once: what one SQLite or PostgreSQL store implements, for wiring."""
