"""Filing identity-theft reports and issuing exposure attestations, and verifying them for a
relying party: the registry's side of :mod:`verrou.registry.reports` (which signs, and knows
nothing of the store).

Filing a report disputes checks that touched the citizen's own keys (a check of anyone else is
refused as unknown, so a report cannot probe the log), declares frauds by code, and freezes the
identity as ``report`` for ``identity_theft``: a freeze no citizen thaw or lift ever opens
(:mod:`verrou.registry.citizens`), replacing the citizen's own freeze and its thaws. A citizen's
note is sealed like contacts, never stored in clear. Operators list, show and withdraw reports;
withdrawing does not lift the freeze (an operator decides that apart).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final, Literal

from verrou.errors import Conflict, InvalidReport, NotFound, SignatureError
from verrou.pdf import Lang, attestation_pdf, report_pdf
from verrou.registry import citizens, subjects
from verrou.registry.audit import AuditDraft, parse_at
from verrou.registry.citizen_records import StoredReport
from verrou.registry.contacts import ContactKey, seal_note
from verrou.registry.outcomes import report_tallies
from verrou.registry.records import FiledReport, RelyingParty
from verrou.registry.reports import (
    ATTESTATION_VALIDITY,
    Attestation,
    AttestedBreach,
    DeclaredFraud,
    DisputedCheck,
    FraudCode,
    Report,
    ReportFreeze,
    new_attestation,
    new_report_id,
    report_claims,
    sign_attestation,
    sign_report,
    verify_attestation_token,
    verify_report_token,
)
from verrou.signing import SigningKey, canonical_json
from verrou.store.protocols import RegistryStore

#: The longest note a citizen may write on a report (sealed, never read by verrou).
NOTE_MAX: Final = 2000


@dataclass(frozen=True)
class FraudDeclared:
    """A fraud as the citizen declares it: a relying party the registry knows (or none), the
    dates, what was done (a code)."""

    what: FraudCode
    started: date
    ended: date | None = None
    relying_party_id: str | None = None


@dataclass(frozen=True)
class Verification:
    """What a relying party learns verifying a report or attestation: whether it is valid now,
    its status, and which of *its own* checks the report disputes (never another's)."""

    id: str
    kind: Literal["report", "attestation"]
    valid: bool
    status: Literal["valid", "withdrawn", "expired"]
    issued_at: datetime
    withdrawn_at: datetime | None
    expires_at: datetime | None
    disputed_checks: tuple[str, ...] = field(
        # The relying party's documentation (the API answers this record as it is).
        metadata={
            "description": "The checks of yours (your check ids) this report disputes; "
            "never another's."
        }
    )


def _note_fingerprint(report_id: str) -> bytes:
    # A seal binds its blob to a 16-byte subject: for a note, its report.
    return hashlib.blake2b(report_id.encode(), digest_size=16, person=b"verrou-note/1").digest()


def _parties(store: RegistryStore) -> dict[str, RelyingParty]:
    return {party.id: party for party in store.list_relying_parties()}


def file_report(
    store: RegistryStore,
    signing_key: SigningKey,
    citizen_id: str,
    *,
    disputed_check_ids: Sequence[str],
    declared: Sequence[FraudDeclared],
    now: datetime,
    note: str | None = None,
    contact_key: ContactKey | None = None,
) -> tuple[StoredReport, Report]:
    """File an identity-theft report for a citizen: freeze their identity (``report``,
    ``identity_theft``), sign the report, store it, alert them. :class:`NotFound` for a
    disputed check that did not touch their keys, or an unknown relying party."""
    keys = citizens.my_keys(store, citizen_id)
    if not keys:
        raise NotFound("this account holds no key: sign in again")
    mine = {key.fingerprint for key in keys}
    wanted = set(disputed_check_ids)
    rows = citizens.checks_of(store, list(mine), limit=len(wanted), only=wanted) if wanted else []
    by_check = {row.check_id: row for row in rows}
    disputed: list[DisputedCheck] = []
    for check_id in dict.fromkeys(disputed_check_ids):
        row = by_check.get(check_id)
        if row is None:
            raise NotFound(f"no check {check_id} of your identity")
        disputed.append(
            DisputedCheck(
                check_id, row.relying_party_id, row.relying_party_name, row.at, row.verdict
            )
        )
    parties = _parties(store)
    frauds: list[DeclaredFraud] = []
    for fraud in declared:
        name = None
        if fraud.relying_party_id is not None:
            party = parties.get(fraud.relying_party_id)
            if party is None:
                raise NotFound(f"no relying party {fraud.relying_party_id}")
            name = party.name
        try:
            frauds.append(
                DeclaredFraud(fraud.relying_party_id, name, fraud.started, fraud.ended, fraud.what)
            )
        except ValueError as exc:  # the record's own rules: dates, codes (never a value)
            raise InvalidReport(str(exc)) from None
    if not disputed and not frauds:
        raise InvalidReport("a report disputes a check or declares a fraud")

    report_id = new_report_id()
    placed = subjects.place_freeze(
        store,
        [key.identity_key() for key in keys],
        placed_by="report",
        reason="identity_theft",
        actor=citizens.actor_of(citizen_id),
        now=now,
    )
    report = Report(
        id=report_id,
        issued_at=now,
        citizen_ref=citizen_id,
        disputed=tuple(disputed),
        declared=tuple(frauds),
        freeze=ReportFreeze(keys=len(placed), since=now),
    )
    token = sign_report(report, signing_key)
    sealed = None
    if note and note.strip():
        if contact_key is None:
            raise ValueError("a note is sealed: give the contact key")
        # Sealed as a contact's address is (AES-256-GCM, bound to the report), never in clear.
        sealed = seal_note(
            note[:NOTE_MAX], contact_key, subject_fingerprint=_note_fingerprint(report_id)
        )
    stored = StoredReport(
        id=report_id,
        citizen_id=citizen_id,
        kind="report",
        issued_at=now,
        expires_at=None,
        status="valid",
        withdrawn_at=None,
        claims=canonical_json(report_claims(report)).decode(),
        token=token,
        sealed_note=sealed,
    )
    # The outcome curve counts the report under each breach that exposed its filer, and each
    # sector of the relying parties it names.
    named = {c.relying_party_id for c in disputed} | {f.relying_party_id for f in frauds}
    sectors = [parties[p].sector for p in named if p is not None and p in parties]
    exposed_in = {hit.breach_id for hit in store.lookup(sorted(mine))}
    filed = FiledReport(
        stored,
        disputes=[(c.check_id, c.relying_party_id) for c in disputed],
        tallies=report_tallies(exposed_in, sectors, now),
        audit=AuditDraft(
            action="report.file",
            actor=citizens.actor_of(citizen_id),
            subject=None,
            details={
                "report_id": report_id,
                "disputed": [c.check_id for c in disputed],
                "declared": [f.what for f in frauds],
                "keys": len(placed),
            },
            at=now,
        ),
    )
    store.add_report(filed)
    citizens.notify_owner(store, citizen_id, "report_filed", now=now, reference=report_id)
    return stored, report


def issue_attestation(
    store: RegistryStore,
    signing_key: SigningKey,
    citizen_id: str,
    *,
    now: datetime,
    validity: timedelta = ATTESTATION_VALIDITY,
) -> tuple[StoredReport, Attestation]:
    """An exposure attestation for a citizen: the breaches that exposed them (names, data
    classes, disclosure dates) and whether their identity is frozen, signed and stored."""
    keys = citizens.my_keys(store, citizen_id)
    freezes, _ = store.freezes_for([k.fingerprint for k in keys], now=now)
    frozen = bool(keys) and len({f.fingerprint for f in freezes}) == len(keys)
    breaches = tuple(
        AttestedBreach(
            e.breach,
            tuple(e.data_classes),
            e.disclosed_at.date() if e.disclosed_at else None,
        )
        for e in citizens.my_exposures(store, citizen_id)
    )
    attestation = new_attestation(
        citizen_ref=citizen_id, breaches=breaches, frozen=frozen, issued_at=now, validity=validity
    )
    token = sign_attestation(attestation, signing_key)
    from verrou.registry.reports import attestation_claims

    stored = StoredReport(
        id=attestation.id,
        citizen_id=citizen_id,
        kind="attestation",
        issued_at=now,
        expires_at=attestation.expires_at,
        status="valid",
        withdrawn_at=None,
        claims=canonical_json(attestation_claims(attestation)).decode(),
        token=token,
    )
    audit = AuditDraft(
        action="attestation.issue",
        actor=citizens.actor_of(citizen_id),
        subject=None,
        details={"attestation_id": attestation.id, "breaches": len(breaches)},
        at=now,
    )
    store.add_report(FiledReport(stored, audit))
    return stored, attestation


def report_of(store: RegistryStore, stored: StoredReport) -> Report:
    """The report as it was signed, rebuilt from its stored claims (relying-party names from
    the registry), for its PDF."""
    claims = json.loads(stored.claims)
    names = {party_id: party.name for party_id, party in _parties(store).items()}
    freeze = claims["freeze"]
    return Report(
        id=stored.id,
        issued_at=parse_at(claims["issued_at"]),
        citizen_ref=stored.citizen_id,
        disputed=tuple(
            DisputedCheck(
                item["check_id"],
                item["relying_party_id"],
                names.get(item["relying_party_id"], item["relying_party_id"]),
                parse_at(item["checked_at"]),
                item["verdict"],
            )
            for item in claims["disputed"]
        ),
        declared=tuple(
            DeclaredFraud(
                item["relying_party_id"],
                names.get(item["relying_party_id"]) if item["relying_party_id"] else None,
                date.fromisoformat(item["started"]),
                date.fromisoformat(item["ended"]) if item["ended"] else None,
                item["what"],
            )
            for item in claims["declared"]
        ),
        freeze=ReportFreeze(keys=int(freeze["keys"]), since=parse_at(freeze["since"])),
    )


def attestation_of(stored: StoredReport) -> Attestation:
    """The attestation as it was signed, rebuilt from its stored claims, for its PDF."""
    claims = json.loads(stored.claims)
    return Attestation(
        id=stored.id,
        issued_at=parse_at(claims["issued_at"]),
        expires_at=parse_at(claims["expires_at"]),
        citizen_ref=stored.citizen_id,
        breaches=tuple(
            AttestedBreach(
                item["name"],
                tuple(item["data_classes"]),
                date.fromisoformat(item["disclosed"]) if item["disclosed"] else None,
            )
            for item in claims["breaches"]
        ),
        frozen=bool(claims["frozen"]),
    )


def my_document(store: RegistryStore, document_id: str, citizen_id: str) -> StoredReport:
    """The citizen's own report or attestation ``document_id``; :class:`NotFound` for one that
    does not exist or is another citizen's (the same answer: ids are not probed)."""
    stored = store.get_report(document_id)
    if stored is None or stored.citizen_id != citizen_id:
        raise NotFound(f"no document {document_id} of yours")
    return stored


def document_pdf(
    store: RegistryStore,
    document_id: str,
    citizen_id: str,
    *,
    citizen_name: str,
    verify_url: str,
    lang: Lang,
) -> bytes:
    """The PDF of the citizen's own document ``document_id`` (:func:`my_document`), with
    their name as they signed in (printed now, never stored) and the QR code of
    ``verify_url``; :class:`InvalidReport` for a name the embedded font cannot print."""
    stored = my_document(store, document_id, citizen_id)
    try:
        if stored.kind == "report":
            return report_pdf(
                report_of(store, stored),
                token=stored.token,
                citizen_name=citizen_name,
                verify_url=verify_url,
                lang=lang,
            )
        return attestation_pdf(
            attestation_of(stored),
            token=stored.token,
            citizen_name=citizen_name,
            verify_url=verify_url,
            lang=lang,
        )
    except ValueError as exc:  # e.g. a name in a script the embedded font cannot print
        raise InvalidReport(str(exc)) from None


def verify_for(
    store: RegistryStore,
    token: str,
    jwks: Mapping[str, Any],
    *,
    relying_party_id: str,
    now: datetime,
) -> Verification:
    """Verify a report's or attestation's token for a relying party: the signature and claims
    (:class:`SignatureError` otherwise), then its current status in the registry, and which
    of this party's own checks the report disputes."""
    try:
        claims = verify_report_token(token, jwks)
        kind: Literal["report", "attestation"] = "report"
    except SignatureError:
        claims = verify_attestation_token(token, jwks, now)
        kind = "attestation"
    stored = store.get_report(str(claims["jti"]))
    if stored is None or stored.kind != kind or stored.token != token:
        raise NotFound("this registry did not issue this document")
    disputed: tuple[str, ...] = ()
    if kind == "report":
        disputed = tuple(
            check_id
            for check_id, party in store.report_disputes(stored.id)
            if party == relying_party_id
        )
    status: Literal["valid", "withdrawn", "expired"] = stored.status
    if status == "valid" and stored.expires_at is not None and stored.expires_at <= now:
        status = "expired"
    return Verification(
        id=stored.id,
        kind=kind,
        valid=status == "valid",
        status=status,
        issued_at=stored.issued_at,
        withdrawn_at=stored.withdrawn_at,
        expires_at=stored.expires_at,
        disputed_checks=disputed,
    )


def withdraw(store: RegistryStore, report_id: str, *, actor: str, now: datetime) -> StoredReport:
    """Withdraw a report (the freeze it placed stays: lifting it is an operator's decision);
    :class:`NotFound` if unknown, :class:`Conflict` if withdrawn already."""
    stored = store.get_report(report_id)
    if stored is None or stored.kind != "report":
        raise NotFound(f"no report {report_id}")
    draft = AuditDraft(
        action="report.withdraw",
        actor=actor,
        subject=None,
        details={"report_id": report_id},
        at=now,
    )
    if not store.withdraw_report(report_id, at=now, audit=draft):
        raise Conflict(f"report {report_id} is withdrawn already")
    found = store.get_report(report_id)
    assert found is not None
    return found
