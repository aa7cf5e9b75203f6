"""Canary identities: planted in a source, they reveal and date its next leak.

An operator plants made-up people (:func:`plant_canaries`) in a source it watches -- a
partner's customer base, a service's accounts -- and nowhere else. From then on:

* a check on any of their keys is denied (a canary freeze, which no thaw opens) and raises an
  incident to the operators: at planting, the operators' contacts (settings
  ``VERROU_OPERATOR_EMAIL`` / ``VERROU_OPERATOR_WEBHOOK``) are sealed on every key of the
  canary with the canary's id and source, so the check path queues the alert as it queues any
  owner's, and delivery names the canary (:mod:`verrou.registry.alerts`). :func:`incidents`
  lists them from the checks index;
* a dump that holds them came from that source, and was taken after they were planted:
  :func:`attribute_run`, at the end of every ingest run, finds the run's canaries and records
  that on the breach's timeline (:class:`~verrou.registry.records.BreachEvidence`).

The registry holds their keys' fingerprints, never a value: the identities are written once,
to the planting CSV the operator plants from (:mod:`verrou.synth.canaries` makes them).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from verrou.errors import Conflict, InvalidApplicant, InvalidCanary, InvalidIdentifier
from verrou.fingerprints import Fingerprinter
from verrou.identifiers import Kind
from verrou.identifiers.contact import canonical_email
from verrou.registry.audit import AuditDraft
from verrou.registry.canary_records import (
    SOURCE_MAX,
    Canary,
    CanaryIdentity,
    CanaryIncident,
    CanaryKey,
    CanaryPlanting,
    CanaryRef,
    SealedCanaryContact,
)
from verrou.registry.citizens import checks_of
from verrou.registry.contacts import Contact, ContactKey, seal
from verrou.registry.policy import Applicant, Freeze, IdentityKey, applicant_keys
from verrou.registry.records import BreachEvidence, IngestRun, pages_by_key
from verrou.registry.subjects import key_draft
from verrou.store.protocols import CanaryStore, IngestStore, RegistryStore

#: The most canaries one planting makes.
MAX_PLANTING: Final = 10_000
#: Candidates refused (their keys are in the registry already) per canary asked before a
#: planting gives up: a generator that keeps hitting the registry is broken, not unlucky.
MAX_REFUSED_PER_CANARY: Final = 20
#: Canary keys read at a time when a run or the checks index is searched for them.
KEY_PAGE: Final = 1_000
#: The most incidents one listing reads.
MAX_INCIDENTS: Final = 100_000


def new_canary_id() -> str:
    """A random canary id (``cn-`` and 12 hex digits): says nothing of the identity."""
    return f"cn-{secrets.token_hex(6)}"


def checked_source(source: str) -> str:
    """The source trimmed, once it is one printable line of at most :data:`SOURCE_MAX`
    characters (incident alerts tell it); :class:`InvalidCanary` otherwise."""
    trimmed = source.strip() if isinstance(source, str) else ""
    if not trimmed or len(trimmed) > SOURCE_MAX or not trimmed.isprintable():
        raise InvalidCanary(
            f"a canary's source is one printable line of 1 to {SOURCE_MAX} characters"
        )
    return trimmed


def checked_domain(domain: str) -> str:
    """The email domain of canaries in canonical form (lower case, punycode);
    :class:`InvalidCanary` when no address can be on it."""
    try:
        return canonical_email(f"canary@{domain.strip()}").rpartition("@")[2]
    except InvalidIdentifier as exc:
        raise InvalidCanary(f"the canaries' email domain is refused: {exc.reason}") from None


def identity_keys(identity: CanaryIdentity, fingerprinter: Fingerprinter) -> list[IdentityKey]:
    """Every key a relying party could check the canary by: its person (each matching key),
    CNI, passport, NIR, IBAN, phone and email, canonicalised and fingerprinted as a check does.

    :class:`InvalidApplicant` when a value does not pass its validator (a broken generator).
    """
    person = Applicant(
        family_name=identity.family_name,
        given_names=" ".join(identity.given_names),
        birth_date=identity.birth_date,
    )
    contact = Applicant(nir=identity.nir, email=identity.email, phone=identity.phone)
    # One applicant a document: a relying party is shown one at a time.
    presented = [
        Applicant(document_type="cni", document_number=identity.cni, iban=identity.iban),
        Applicant(document_type="passport", document_number=identity.passport),
    ]
    keys = [
        key for one in (person, contact, *presented) for key in applicant_keys(one, fingerprinter)
    ]
    return list({key.fingerprint: key for key in keys}.values())


# --- planting -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planting:
    """What :func:`plant_canaries` did: the canaries planted with their identities (in clear,
    for the planting CSV, never stored), in the same order, and how many candidates it refused
    because a key of theirs was in the registry already (or in an earlier candidate)."""

    canaries: tuple[Canary, ...]
    identities: tuple[CanaryIdentity, ...]
    refused: int


def _known(store: RegistryStore, keys: Sequence[bytes], now: datetime) -> set[bytes]:
    """The keys the registry knows already: exposed, frozen (canaries included), claimed by a
    citizen, or seen in a check (a real applicant's, very likely)."""
    known = {hit.fingerprint for hit in store.lookup(keys)}
    freezes, _ = store.freezes_for(keys, now=now)
    known.update(freeze.fingerprint for freeze in freezes)
    known.update(store.key_claimants(keys))
    # The checks index answers newest first, for all these keys together: a key checked ten
    # times more often than they number could hide another's old check (a best effort).
    known.update(fp for fp, _ in store.check_seqs(keys, below=None, limit=len(keys) * 10))
    return known


def _fresh_candidates(
    store: RegistryStore,
    fingerprinter: Fingerprinter,
    candidates: Iterator[CanaryIdentity],
    count: int,
    now: datetime,
) -> tuple[list[tuple[CanaryIdentity, list[IdentityKey]]], int]:
    """``count`` candidates none of whose keys the registry (or another of them) holds, and
    how many were refused for it; :class:`Conflict` past the refusals allowed."""
    chosen: list[tuple[CanaryIdentity, list[IdentityKey]]] = []
    taken: set[bytes] = set()
    refused = 0
    while len(chosen) < count:
        batch: list[tuple[CanaryIdentity, list[IdentityKey]]] = []
        for identity in candidates:
            try:
                batch.append((identity, identity_keys(identity, fingerprinter)))
            except InvalidApplicant:  # a value its validator refuses: never plant it
                refused += 1
            if len(batch) >= count - len(chosen):
                break
        if not batch:
            raise Conflict("the candidate canaries ran out before the planting was complete")
        known = _known(store, [key.fingerprint for _, keys in batch for key in keys], now)
        for identity, keys in batch:
            fingerprints = {key.fingerprint for key in keys}
            if fingerprints & (known | taken):
                refused += 1
                continue
            taken.update(fingerprints)
            chosen.append((identity, keys))
        if refused > count * MAX_REFUSED_PER_CANARY:
            raise Conflict(
                f"{refused} candidate canaries were refused for keys the registry holds: "
                "nothing was planted"
            )
    return chosen, refused


def _incident_contacts(
    canary: CanaryRef,
    keys: Sequence[IdentityKey],
    contacts: Sequence[Contact],
    contact_key: ContactKey,
) -> list[SealedCanaryContact]:
    """The operators' contacts sealed to each key of a canary, naming it. One owner reference
    per canary and channel: a check touching several of its keys is one incident a channel."""
    sealed: list[SealedCanaryContact] = []
    for contact in contacts:
        named = Contact(contact.channel, contact.address, canary=canary)
        for key in keys:
            blob = seal(named, contact_key, subject_fingerprint=key.fingerprint)
            sealed.append(
                SealedCanaryContact(key.fingerprint, blob, f"{canary.id}.{contact.channel}")
            )
    return sealed


def plant_canaries(
    store: RegistryStore,
    fingerprinter: Fingerprinter,
    candidates: Iterable[CanaryIdentity],
    *,
    count: int,
    source: str,
    contacts: Sequence[Contact],
    contact_key: ContactKey,
    keep: Callable[[Sequence[CanaryIdentity]], object],
    now: datetime,
    actor: str = "operator",
) -> Planting:
    """Plant ``count`` canaries of ``source``, taken from ``candidates`` in order.

    ``keep`` receives the canaries' identities, in clear, before anything is written: it puts
    them where the operator plants them from (the planting CSV). Only once it returns is the
    planting committed, so that no canary exists whose identity was not kept; if it raises,
    nothing is planted.

    A candidate any key of which the registry already holds (exposed, frozen, another canary,
    claimed or checked) is refused and the next one taken, so that no canary shares a key with a
    real person the registry knows or with another canary. The canaries, their keys' fingerprints,
    a canary freeze on each key, the operators' ``contacts`` sealed on each key, and the audit
    entries (a ``freeze.place`` a key, a ``canary.plant`` a canary) are written in one
    transaction. :class:`InvalidCanary` for a count out of range, a source that is not one line
    or no contact (an incident must reach someone); :class:`Conflict` when the registry keeps
    refusing candidates.
    """
    if isinstance(count, bool) or not 1 <= count <= MAX_PLANTING:
        raise InvalidCanary(f"a planting makes 1 to {MAX_PLANTING:,} canaries")
    source = checked_source(source)
    if not contacts:
        raise InvalidCanary("a canary needs the operators' email or webhook to raise incidents")
    chosen, refused = _fresh_candidates(store, fingerprinter, iter(candidates), count, now)
    planted: list[Canary] = []
    keys: list[CanaryKey] = []
    freezes: list[tuple[Freeze, AuditDraft]] = []
    sealed: list[SealedCanaryContact] = []
    audits: list[AuditDraft] = []
    for _, own in chosen:
        kinds = tuple(sorted({key.kind.value for key in own}))
        canary = Canary(new_canary_id(), source, now, kinds)
        planted.append(canary)
        for key in own:
            keys.append(CanaryKey(key.fingerprint, key.kind, canary.id))
            draft = key_draft(
                "freeze.place",
                key,
                actor=actor,
                now=now,
                placed_by="operator",
                reason="canary",
                canary=True,
                canary_id=canary.id,
            )
            freezes.append((Freeze(key.fingerprint, "operator", "canary", now, canary=True), draft))
        sealed += _incident_contacts(CanaryRef(canary.id, source), own, contacts, contact_key)
        audits.append(
            AuditDraft(
                action="canary.plant",
                actor=actor,
                subject=None,
                details={
                    "canary_id": canary.id,
                    "source": source,
                    "kinds": list(kinds),
                    "channels": sorted({contact.channel for contact in contacts}),
                    "fingerprints": [key.fingerprint.hex() for key in own],
                },
                at=now,
            )
        )
    identities = tuple(identity for identity, _ in chosen)
    keep(identities)
    store.plant_canaries(CanaryPlanting(tuple(planted), keys, freezes, sealed, audits))
    return Planting(tuple(planted), identities, refused)


# --- a dump that holds canaries ---------------------------------------------------------------


def _canary_keys(store: CanaryStore) -> Iterator[Sequence[CanaryKey]]:
    """Every canary key, a page of :data:`KEY_PAGE` at a time."""
    return pages_by_key(
        lambda after, size: store.canary_key_page(after=after, limit=size),
        lambda key: key.fingerprint,
        KEY_PAGE,
    )


def attribute_run(store: IngestStore, run: IngestRun, *, now: datetime) -> list[BreachEvidence]:
    """The canaries an ingest run's dump holds, by source and planting date, recorded as
    evidence on its breach's timeline (once, however often the run is attributed), and
    returned: each says the data came from that source and was taken on or after that date.

    The run's fingerprints are compared with the canary keys a page at a time (memory holds a
    page of keys and the canaries found, whatever the dump's size). A canary counts as found when
    the run holds one of its keys other than its person's: a name and birth date alone may be a
    real namesake's, an email on the operators' domain or a NIR is not.
    """
    found: dict[str, set[Kind]] = {}
    for page in _canary_keys(store):
        key_of = {key.fingerprint: key for key in page}
        for hit in store.lookup(list(key_of)):
            if hit.run_id == run.id:
                key = key_of[hit.fingerprint]
                found.setdefault(key.canary_id, set()).add(key.kind)
    attributed = {canary_id for canary_id, kinds in found.items() if kinds - {Kind.PERSON}}
    counts: dict[tuple[str, datetime], int] = {}
    for canary in store.canaries():
        if canary.id in attributed:
            planting = (canary.source, canary.planted_at)
            counts[planting] = counts.get(planting, 0) + 1
    evidence = [
        BreachEvidence(run.breach_id, run.id, "canary", source, n, planted_at, now)
        for (source, planted_at), n in sorted(counts.items(), key=lambda item: item[0][1])
    ]
    if evidence:
        store.add_breach_evidence(evidence)
    return [e for e in store.breach_evidence(run.breach_id) if e.run_id == run.id]


# --- incidents ----------------------------------------------------------------------------------


def incidents(store: RegistryStore, *, limit: int = MAX_INCIDENTS) -> list[CanaryIncident]:
    """Checks on canaries, newest first (at most ``limit``): one per check and canary it
    touched, from the checks index and the audit entries it points to (nothing is recorded
    twice). A check before the canary was planted, or not denied (its freeze lifted by hand),
    is no incident."""
    canaries = {canary.id: canary for canary in store.canaries()}
    found: dict[tuple[str, str], CanaryIncident] = {}
    for page in _canary_keys(store):
        canary_of = {key.fingerprint: canaries[key.canary_id] for key in page}
        for row in checks_of(store, list(canary_of), limit=limit):
            canary = canary_of[row.fingerprint]
            if row.at >= canary.planted_at and row.verdict == "deny":
                incident = CanaryIncident(CanaryRef(canary.id, canary.source), row)
                found.setdefault((row.check_id, canary.id), incident)
    return sorted(found.values(), key=lambda incident: incident.check.seq, reverse=True)[:limit]


@dataclass(frozen=True)
class CanarySummary:
    """A canary as ``verrou canary list`` shows it: the record and its incidents so far."""

    canary: Canary
    incidents: int


def summaries(store: RegistryStore) -> list[CanarySummary]:
    """Every canary, oldest planting first, with the number of incidents it raised."""
    counts: dict[str, int] = {}
    for incident in incidents(store):
        counts[incident.canary.id] = counts.get(incident.canary.id, 0) + 1
    return [CanarySummary(canary, counts.get(canary.id, 0)) for canary in store.canaries()]


__all__ = [
    "KEY_PAGE",
    "MAX_INCIDENTS",
    "MAX_PLANTING",
    "MAX_REFUSED_PER_CANARY",
    "CanarySummary",
    "Planting",
    "attribute_run",
    "checked_domain",
    "checked_source",
    "identity_keys",
    "incidents",
    "new_canary_id",
    "plant_canaries",
    "summaries",
]
