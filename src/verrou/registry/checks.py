"""Checks: a relying party's question about applicants, answered, recorded and signed.

:class:`CheckService` runs a group of checks as one unit: it reads what the registry holds for
the applicants' fingerprints, decides each verdict with :func:`verrou.registry.policy.decide`,
and writes each check's audit entry and its owners' alerts, all in one store transaction
(:meth:`verrou.store.protocols.CheckLedger.run_checks`). Only then are the verdicts signed and
returned: a verdict whose audit entry did not commit is never given (fail closed; a store
failure propagates as :class:`verrou.errors.StoreError`, 503).

Grouping is what makes the API fast: the server hands every check waiting at one moment to one
call (group commit), so a transaction's cost is shared by the checks in it.

The signed verdict is a compact JWS (Ed25519, :mod:`verrou.signing`) whose payload is the
answer itself, with the JWT claims ``iss``, ``aud`` (the relying party), ``iat`` and ``exp``,
so that any JOSE library verifies it offline against the published JWKS and a bank can keep it
as proof. Nothing in it, in the audit entry or in an alert is a plaintext identifier: reasons
name attributes and kinds, the audit entry holds fingerprints.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeAlias, TypeVar

from verrou.errors import InvalidApplicant
from verrou.fingerprints import Fingerprinter
from verrou.registry.alerts import ALERT_RANK, DEFAULT_ALERT_WINDOW, Alert, AlertKind
from verrou.registry.audit import AuditDraft, format_at
from verrou.registry.outcomes import check_tallies
from verrou.registry.policy import (
    Applicant,
    Decision,
    ExposureHit,
    Freeze,
    IdentityKey,
    Reason,
    Thaw,
    applicant_keys,
    decide,
)
from verrou.registry.records import (
    Breach,
    CheckRecord,
    CheckSnapshot,
    QueuedAlert,
    RelyingParty,
    SealedContact,
)
from verrou.signing import SigningKey, canonical_json, sign_canonical
from verrou.store.protocols import CheckStore

#: ``iss`` of every verdict.
ISSUER: Final = "verrou"
#: The most applicants one batch request may hold.
MAX_BATCH: Final = 100


def new_check_id() -> str:
    """A random check id (``chk_`` and 24 hex digits): says nothing about the applicant."""
    return f"chk_{secrets.token_hex(12)}"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CheckRequest:
    """One applicant to check: their identity keys
    (:func:`verrou.registry.policy.applicant_keys`) and who asks."""

    keys: tuple[IdentityKey, ...]
    party: RelyingParty
    check_id: str = ""

    def __post_init__(self) -> None:
        if not self.check_id:
            object.__setattr__(self, "check_id", new_check_id())


@dataclass(frozen=True)
class CheckOutcome:
    """A recorded check: the decision, the audit entry that holds it, and the signed answer.

    ``payload`` is exactly what ``token`` signs, and ``payload_json`` its canonical JSON (the
    signed bytes); the API answers with it plus ``jws``.
    """

    check_id: str
    party: RelyingParty
    decision: Decision
    checked_at: datetime
    valid_until: datetime
    breaches: tuple[Breach, ...]
    audit_seq: int
    payload: dict[str, Any]
    payload_json: bytes
    token: str

    def signed(self) -> SignedVerdict:
        """What the caller keeps of it (and what crosses the recorder's pipe)."""
        return SignedVerdict(
            self.check_id, self.decision.verdict.value, self.payload_json, self.token
        )


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else format_at(moment)


def _breach_since(breach: Breach | None) -> datetime | None:
    """Since when a leaked key is known to be exposed: the breach's detection, else its
    disclosure, else the ingest of its dump."""
    if breach is None:
        return None
    return breach.detected_at or breach.disclosed_at or breach.ingested_at


def _reason_claims(reason: Reason, breaches: dict[str, Breach]) -> dict[str, Any]:
    since = reason.since
    if reason.code == "exposed" and reason.breach is not None:
        since = _breach_since(breaches.get(reason.breach))
    return {
        "code": reason.code,
        "attribute": reason.attribute,
        "kind": reason.kind,
        "breach": reason.breach,
        "placed_by": reason.freeze_placed_by,
        "since": _when(since),
        "until": _when(reason.until),
    }


def _breach_claims(breach: Breach) -> dict[str, Any]:
    return {
        "name": breach.name,
        "title": breach.title,
        "data_classes": list(breach.data_classes),
        "detected_at": _when(breach.detected_at),
        "disclosed_at": _when(breach.disclosed_at),
    }


def verdict_claims(
    request: CheckRequest,
    decision: Decision,
    breaches: Sequence[Breach],
    *,
    checked_at: datetime,
    valid_until: datetime,
) -> dict[str, Any]:
    """The signed answer to one check (JSON-ready, no plaintext identifier). Its id and
    audience come from the request together, as for :func:`check_audit`, so a check's id
    cannot be paired with another party."""
    by_name = {breach.name: breach for breach in breaches}
    return {
        "iss": ISSUER,
        "aud": request.party.id,
        "iat": int(checked_at.timestamp()),
        "exp": int(valid_until.timestamp()),
        "check_id": request.check_id,
        "verdict": decision.verdict.value,
        "reasons": [_reason_claims(reason, by_name) for reason in decision.reasons],
        "breaches": [_breach_claims(breach) for breach in breaches],
        "leaked_together": [
            {"breach": group.breach, "attributes": list(group.attributes)}
            for group in decision.linked_attributes
        ],
        "attributes": [
            {"attribute": state.attribute, "state": state.state.value} for state in decision.states
        ],
        "checked_at": format_at(checked_at),
        "valid_until": format_at(valid_until),
    }


@dataclass(frozen=True)
class GroupRecords:
    """A group snapshot indexed by fingerprint, once, so each check reads only its own keys'
    records (scanning the whole group's for every check would cost group size squared)."""

    hits: dict[bytes, list[ExposureHit]]
    freezes: dict[bytes, list[Freeze]]
    thaws: dict[bytes, list[Thaw]]
    contacts: dict[bytes, list[SealedContact]]

    @classmethod
    def of(cls, snapshot: CheckSnapshot) -> GroupRecords:
        return cls(
            _by_fingerprint(snapshot.hits),
            _by_fingerprint(snapshot.freezes),
            _by_fingerprint(snapshot.thaws),
            snapshot.contacts,
        )

    def decide(self, request: CheckRequest, now: datetime) -> Decision:
        """The policy's decision on one check, from its own keys' records."""
        own = [key.fingerprint for key in request.keys]
        return decide(
            request.keys,
            [hit for fp in own for hit in self.hits.get(fp, ())],
            [freeze for fp in own for freeze in self.freezes.get(fp, ())],
            [thaw for fp in own for thaw in self.thaws.get(fp, ())],
            relying_party_id=request.party.id,
            now=now,
        )


def _alert_kind(
    fingerprint: bytes, records: GroupRecords, party: RelyingParty, now: datetime
) -> AlertKind | None:
    """What the owner of one key is told about a check on it, or None (nothing to tell: the
    key is unknown, or its owner thawed it for this relying party)."""
    freezes = records.freezes.get(fingerprint, [])
    if any(f.canary for f in freezes):
        return "canary_tripped"
    if freezes:
        thaws = records.thaws.get(fingerprint, [])
        thawed = any(t.active_for(party.id, now) for t in thaws)
        return None if thawed else "attempt_on_frozen"
    if fingerprint in records.hits:
        return "attempt_on_exposed"
    return None


def alert_window(now: datetime, window: timedelta) -> tuple[int, int]:
    """The alert window ``now`` falls in: ``[start, end)`` in whole seconds since the epoch,
    windows of ``window`` laid end to end from the epoch (so every process agrees)."""
    length = max(1, int(window.total_seconds()))
    start = int(now.timestamp()) // length * length
    return start, start + length


def owner_alerts(
    request: CheckRequest,
    records: GroupRecords,
    now: datetime,
    window: timedelta = DEFAULT_ALERT_WINDOW,
) -> list[QueuedAlert]:
    """The alerts one check puts in the outbox: one per registered owner whose keys it touched
    (the strongest kind among them), with the contact sealed to the key that raised it, in the
    alert window of ``now`` (the store coalesces them: one per owner, relying party and
    window)."""
    chosen: dict[str, tuple[int, Alert, bytes]] = {}
    for key in request.keys:
        contacts = records.contacts.get(key.fingerprint)
        if not contacts:
            continue
        kind = _alert_kind(key.fingerprint, records, request.party, now)
        if kind is None:
            continue
        for contact in contacts:
            rank = ALERT_RANK[kind]
            if contact.owner_ref in chosen and chosen[contact.owner_ref][0] >= rank:
                continue
            alert = Alert(
                subject_fingerprint=key.fingerprint,
                kind=kind,
                relying_party=request.party.name,
                at=now,
                check_id=request.check_id,
            )
            chosen[contact.owner_ref] = (rank, alert, contact.sealed)
    if not chosen:
        return []
    start, end = alert_window(now, window)
    return [
        QueuedAlert(alert, sealed, owner_ref, request.party.id, start, end)
        for owner_ref, (_, alert, sealed) in chosen.items()
    ]


def check_audit(request: CheckRequest, decision: Decision, now: datetime) -> AuditDraft:
    """The audit entry of one check: ids, codes and fingerprints, never plaintext."""
    return AuditDraft(
        action="check",
        actor=request.party.id,
        subject=None,
        details={
            "check_id": request.check_id,
            "verdict": decision.verdict.value,
            "reasons": sorted({reason.code for reason in decision.reasons}),
            "breaches": list(decision.breaches),
            "fingerprints": [fp.hex() for fp in decision.subject_fingerprints],
        },
        at=now,
    )


@dataclass(frozen=True)
class SignedVerdict:
    """What a caller keeps of a recorded check: its id, verdict and signed answer."""

    check_id: str
    verdict: str
    payload_json: bytes
    token: str

    def answer_json(self) -> bytes:
        """The JSON answer: the signed payload with ``jws`` added (serialised once, spliced)."""
        return self.payload_json[:-1] + b',"jws":"' + self.token.encode("ascii") + b'"}'


@dataclass(frozen=True)
class CheckJob:
    """The applicants of one API request: checked all together, or none if one is invalid."""

    party: RelyingParty
    applicants: tuple[Applicant, ...]


#: A job's outcome: its signed verdicts, in order, or why its applicants are invalid.
JobResult: TypeAlias = list[SignedVerdict] | InvalidApplicant


def run_jobs(
    service: CheckService, fingerprinter: Fingerprinter, jobs: Sequence[CheckJob]
) -> list[JobResult]:
    """Canonicalise every job's applicants, then decide, record and sign the valid jobs' checks
    in one transaction (:meth:`CheckService.run`).

    A job with an invalid applicant records nothing and gets :class:`InvalidApplicant` naming
    each bad field (``applicants.N.field`` when the job holds several applicants). A store
    failure raises, for every job of the group: nothing was recorded.
    """
    results: list[JobResult | None] = []
    requests: list[CheckRequest] = []
    spans: list[tuple[int, int, int]] = []  # (job index, first request, end)
    for index, job in enumerate(jobs):
        problems: dict[str, str] = {}
        keyed: list[CheckRequest] = []
        for position, applicant in enumerate(job.applicants):
            try:
                keys = applicant_keys(applicant, fingerprinter)
            except InvalidApplicant as exc:
                prefix = f"applicants.{position}." if len(job.applicants) > 1 else ""
                problems.update({prefix + name: why for name, why in exc.fields.items()})
                continue
            keyed.append(CheckRequest(tuple(keys), job.party))
        if problems:
            results.append(InvalidApplicant(problems))
            continue
        results.append(None)
        spans.append((index, len(requests), len(requests) + len(keyed)))
        requests.extend(keyed)
    outcomes = service.run(requests)
    for index, start, end in spans:
        results[index] = [outcome.signed() for outcome in outcomes[start:end]]
    return [result for result in results if result is not None]


_Keyed = TypeVar("_Keyed", ExposureHit, Freeze, Thaw)


def _by_fingerprint(records: Sequence[_Keyed]) -> dict[bytes, list[_Keyed]]:
    grouped: dict[bytes, list[_Keyed]] = {}
    for record in records:
        grouped.setdefault(record.fingerprint, []).append(record)
    return grouped


class CheckService:
    """Decides, records and signs checks against one store."""

    def __init__(
        self,
        store: CheckStore,
        signing_key: SigningKey,
        *,
        verdict_ttl: timedelta = timedelta(minutes=15),
        clock: Callable[[], datetime] = utc_now,
        alert_window: timedelta = DEFAULT_ALERT_WINDOW,
    ) -> None:
        if verdict_ttl <= timedelta(0):
            raise ValueError("verdict_ttl must be positive")
        if alert_window < timedelta(seconds=1):
            raise ValueError("alert_window must be at least a second")
        self.alert_window = alert_window
        self.store = store
        self.signing_key = signing_key
        self.verdict_ttl = verdict_ttl
        self.clock = clock

    def check(self, request: CheckRequest) -> CheckOutcome:
        """Run one check (see :meth:`run`)."""
        return self.run([request])[0]

    def run(self, requests: Sequence[CheckRequest]) -> list[CheckOutcome]:
        """Decide and record ``requests`` in one transaction, then sign each verdict.

        Returns one outcome per request, in order. Raises the store's error when the
        transaction fails; then nothing was recorded and no verdict exists.
        """
        if not requests:
            return []
        now = self.clock()
        decisions: list[Decision] = []
        involved: list[tuple[Breach, ...]] = []

        def conclude(snapshot: CheckSnapshot) -> list[CheckRecord]:
            decisions.clear()
            involved.clear()
            records = []
            indexed = GroupRecords.of(snapshot)
            for request in requests:
                decision = indexed.decide(request, now)
                decisions.append(decision)
                names = set(decision.breaches)
                involved.append(
                    tuple(
                        sorted(
                            (b for b in snapshot.breaches.values() if b.name in names),
                            key=lambda b: b.name,
                        )
                    )
                )
                records.append(
                    CheckRecord(
                        audit=check_audit(request, decision, now),
                        alerts=owner_alerts(request, indexed, now, self.alert_window),
                        tallies=check_tallies(
                            involved[-1],
                            request.party.sector,
                            decision.verdict.value,
                            canary=decision.canary_tripped,
                            at=now,
                        ),
                    )
                )
            return records

        fingerprints = [key.fingerprint for request in requests for key in request.keys]
        entries = self.store.run_checks(fingerprints, now=now, conclude=conclude)
        valid_until = now + self.verdict_ttl
        outcomes = []
        for request, decision, breaches, entry in zip(
            requests, decisions, involved, entries, strict=True
        ):
            payload = verdict_claims(
                request, decision, breaches, checked_at=now, valid_until=valid_until
            )
            payload_json = canonical_json(payload)
            outcomes.append(
                CheckOutcome(
                    check_id=request.check_id,
                    party=request.party,
                    decision=decision,
                    checked_at=now,
                    valid_until=valid_until,
                    breaches=breaches,
                    audit_seq=entry.seq,
                    payload=payload,
                    payload_json=payload_json,
                    token=sign_canonical(payload_json, self.signing_key),
                )
            )
        return outcomes


__all__ = [
    "ISSUER",
    "MAX_BATCH",
    "CheckJob",
    "CheckOutcome",
    "CheckRequest",
    "CheckService",
    "JobResult",
    "SignedVerdict",
    "alert_window",
    "check_audit",
    "new_check_id",
    "owner_alerts",
    "run_jobs",
    "verdict_claims",
]
