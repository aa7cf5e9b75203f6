"""What an operator (and later the citizen portal) does to one identity: freeze, lift, thaw,
register an alert contact, and see everything the registry holds about it.

Each function takes the store and the identity's keys
(:func:`verrou.registry.policy.applicant_keys`): a person yields several matching keys (one per
spelling of the name), and every change applies to all of them, so that the same human stays
frozen whichever spelling a bank sends.

Every change is written with its audit entry, whose subject is the key's fingerprint in hex and
whose details hold ids and codes only -- never a name, a number or an address. No click, no
rich: the command line and the web pages shape the answers.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, TypeAlias

from verrou.errors import Conflict, InvalidThaw, NotFound
from verrou.registry.audit import AuditDraft, entry_from_content, format_at
from verrou.registry.contacts import Contact, ContactKey, seal
from verrou.registry.policy import (
    Freeze,
    FreezeReason,
    IdentityKey,
    PlacedBy,
    SubjectState,
    Thaw,
    decide,
    state_verdict,
)
from verrou.store.protocols import RegistryStore

#: Hex characters of a fingerprint shown to operators: enough to tell keys apart, too few to
#: be a fingerprint anyone could look up.
SHORT_FINGERPRINT: Final = 12
#: The relying-party id a subject's state is computed for in operator views: a thaw for one
#: bank does not open the key here, a thaw for all does.
OPERATOR_VIEW: Final = "operator"

Outcome: TypeAlias = Literal["placed", "already_frozen", "lifted", "thawed", "not_frozen"]


def short_fingerprint(fingerprint: bytes) -> str:
    """The first :data:`SHORT_FINGERPRINT` hex characters of a fingerprint."""
    return fingerprint.hex()[:SHORT_FINGERPRINT]


@dataclass(frozen=True)
class FreezeOutcome:
    """What a freeze, lift or thaw did to one key.

    ``outcome``: ``placed`` or ``already_frozen`` (freeze), ``lifted`` (lift), ``thawed``
    (thaw), ``not_frozen`` (lift or thaw of a key that holds no freeze). ``freeze`` is the
    freeze in force after a freeze (the existing one when the key was already frozen).
    """

    key: IdentityKey
    outcome: Outcome
    freeze: Freeze | None = None

    @property
    def short(self) -> str:
        """The key's short fingerprint."""
        return short_fingerprint(self.key.fingerprint)


def _distinct(keys: Sequence[IdentityKey]) -> list[IdentityKey]:
    """The keys without repeated fingerprints, in order (two spellings may give one key)."""
    seen: set[bytes] = set()
    kept: list[IdentityKey] = []
    for key in keys:
        if key.fingerprint not in seen:
            seen.add(key.fingerprint)
            kept.append(key)
    return kept


def _require_keys(keys: Sequence[IdentityKey]) -> list[IdentityKey]:
    distinct = _distinct(keys)
    if not distinct:
        raise ValueError("an identity needs at least one key")
    return distinct


def key_draft(
    action: str, key: IdentityKey, *, actor: str, now: datetime, **details: object
) -> AuditDraft:
    """The audit entry of a change to one key: its fingerprint as the subject, the attribute
    and kind it came from, and the change's own details."""
    return AuditDraft(
        action=action,
        actor=actor,
        subject=key.fingerprint.hex(),
        details={"attribute": key.attribute, "kind": key.kind.value, **details},
        at=now,
    )


def place_freeze(
    store: RegistryStore,
    keys: Sequence[IdentityKey],
    *,
    placed_by: PlacedBy,
    reason: FreezeReason,
    actor: str,
    now: datetime,
    canary: bool = False,
    owner: str | None = None,
) -> list[FreezeOutcome]:
    """Freeze every key of an identity (audit action ``freeze.place``).

    A key already frozen as strongly (:attr:`Freeze.rank`) keeps its freeze and is reported
    ``already_frozen``; the others are ``placed`` (replacing a weaker freeze and its thaws).
    ``owner`` names the citizen whose own freeze this is. Each placement is one transaction
    with its audit entry.
    """
    outcomes: list[FreezeOutcome] = []
    for key in _require_keys(keys):
        freeze = Freeze(key.fingerprint, placed_by, reason, now, canary, owner)
        draft = key_draft(
            "freeze.place",
            key,
            actor=actor,
            now=now,
            placed_by=placed_by,
            reason=reason,
            canary=canary,
        )
        in_force = store.place_freeze(freeze, audit=draft)
        # The store returns the existing freeze, untouched, when the key was already frozen.
        outcome: Outcome = "placed" if in_force == freeze else "already_frozen"
        outcomes.append(FreezeOutcome(key, outcome, in_force))
    return outcomes


def lift_freeze(
    store: RegistryStore, keys: Sequence[IdentityKey], *, actor: str, now: datetime
) -> list[FreezeOutcome]:
    """Lift the freeze of every key of an identity, and their thaws with it (``freeze.lift``).

    Keys that hold no freeze are reported ``not_frozen`` and nothing is audited for them.
    """
    outcomes: list[FreezeOutcome] = []
    for key in _require_keys(keys):
        draft = key_draft("freeze.lift", key, actor=actor, now=now)
        lifted = store.lift_freeze(key.fingerprint, audit=draft)
        outcomes.append(FreezeOutcome(key, "lifted" if lifted else "not_frozen"))
    return outcomes


def _check_relying_party(store: RegistryStore, relying_party_id: str) -> None:
    for party in store.list_relying_parties():
        if party.id == relying_party_id:
            if not party.active:
                raise Conflict(f"relying party {relying_party_id} is revoked: it cannot check")
            return
    raise NotFound(f"no relying party {relying_party_id}")


def thaw(
    store: RegistryStore,
    keys: Sequence[IdentityKey],
    *,
    relying_party_id: str | None,
    starts: datetime,
    until: datetime,
    actor: str,
    now: datetime,
) -> list[FreezeOutcome]:
    """Open the frozen keys of an identity from ``starts`` until ``until`` (``thaw.add``).

    For one relying party, or for all when ``relying_party_id`` is None. Keys that hold no
    freeze are reported ``not_frozen`` (a person's keys may be frozen under some spellings
    only); when none of them is frozen, :class:`Conflict`. :class:`NotFound` for an unknown
    relying party, :class:`Conflict` for a revoked one, :class:`InvalidThaw` for a window that
    ends before it starts or before ``now``.
    """
    distinct = _require_keys(keys)
    if until <= starts:
        raise InvalidThaw("a thaw must end after it starts")
    if until <= now:
        raise InvalidThaw("this thaw would already have ended: give an end in the future")
    if relying_party_id is not None:
        _check_relying_party(store, relying_party_id)
    outcomes: list[FreezeOutcome] = []
    for key in distinct:
        window = Thaw(key.fingerprint, relying_party_id, starts, until)
        draft = key_draft(
            "thaw.add",
            key,
            actor=actor,
            now=now,
            relying_party_id=relying_party_id,
            starts=format_at(starts),
            until=format_at(until),
        )
        try:
            store.add_thaw(window, audit=draft)
        except Conflict:
            outcomes.append(FreezeOutcome(key, "not_frozen"))
        else:
            outcomes.append(FreezeOutcome(key, "thawed"))
    if not any(o.outcome == "thawed" for o in outcomes):
        raise Conflict("this identity is not frozen: there is nothing to thaw")
    return outcomes


# --- the operator's view of an identity -----------------------------------------------------


@dataclass(frozen=True)
class Exposure:
    """A breach a key leaked in, and how many leaked records of it hold the key."""

    breach: str
    records: int


@dataclass(frozen=True)
class HistoryEntry:
    """An audit entry about a key (a change of it, or a check that touched it)."""

    seq: int
    at: datetime
    action: str
    actor: str


@dataclass(frozen=True)
class KeyReport:
    """Everything the registry holds about one key of an identity.

    ``state`` is the key's subject state as an operator sees it (a thaw for one relying party
    does not count, a thaw for all does); ``thaws`` are the thaws not yet ended (active or to
    come); ``contacts`` the number of sealed alert contacts registered for the key.
    """

    attribute: str
    kind: str
    fingerprint: bytes
    state: SubjectState
    exposures: tuple[Exposure, ...]
    freeze: Freeze | None
    thaws: tuple[Thaw, ...]
    contacts: int
    history: tuple[HistoryEntry, ...]

    @property
    def short(self) -> str:
        """The key's short fingerprint."""
        return short_fingerprint(self.fingerprint)


@dataclass(frozen=True)
class SubjectReport:
    """The operator's view of an identity: one :class:`KeyReport` per key.

    ``unreadable_audit_entries`` counts audit entries that could not be decoded while looking
    for the history (``verrou audit verify`` says which).
    """

    keys: tuple[KeyReport, ...]
    unreadable_audit_entries: int = 0

    @property
    def state(self) -> SubjectState:
        """The state of the key with the strongest verdict (the more specific on a tie)."""
        order = [
            SubjectState.CANARY,
            SubjectState.FROZEN,
            SubjectState.EXPOSED,
            SubjectState.THAWED,
            SubjectState.UNKNOWN,
        ]
        return max(
            (k.state for k in self.keys),
            key=lambda s: (state_verdict(s).strength, -order.index(s)),
        )


def _history(
    store: RegistryStore, fingerprints: Sequence[bytes]
) -> tuple[dict[bytes, list[HistoryEntry]], int]:
    # A scan of the whole audit log, streamed once: fine for an operator command, not for a
    # request path (an index from fingerprint to seq would be the store's job then).
    wanted = {fp.hex(): fp for fp in fingerprints}
    found: dict[bytes, list[HistoryEntry]] = {fp: [] for fp in fingerprints}
    unreadable = 0
    for stored in store.audit_entries():
        try:
            entry = entry_from_content(
                stored.content, prev_hash=stored.prev_hash, entry_hash=stored.entry_hash
            )
        except ValueError:
            unreadable += 1
            continue
        touched: set[str] = set()
        if entry.subject in wanted:
            touched.add(entry.subject)
        listed = entry.details.get("fingerprints")
        if isinstance(listed, list):
            touched.update(fp for fp in listed if isinstance(fp, str) and fp in wanted)
        for hex_fp in touched:
            found[wanted[hex_fp]].append(
                HistoryEntry(entry.seq, entry.at, entry.action, entry.actor)
            )
    return found, unreadable


def subject_report(
    store: RegistryStore, keys: Sequence[IdentityKey], *, now: datetime
) -> SubjectReport:
    """What the registry holds about an identity, key by key: state, breaches, freeze, thaws,
    contacts and the audit history (the key's own changes and the checks that touched it)."""
    distinct = _require_keys(keys)
    fingerprints = [key.fingerprint for key in distinct]
    hits = store.lookup(fingerprints)
    freezes, thaws = store.freezes_for(fingerprints, now=now)
    contacts = store.contacts_for(fingerprints)
    history, unreadable = _history(store, fingerprints)

    reports: list[KeyReport] = []
    for key in distinct:
        fp = key.fingerprint
        key_hits = [hit for hit in hits if hit.fingerprint == fp]
        key_freezes = [f for f in freezes if f.fingerprint == fp]
        key_thaws = [t for t in thaws if t.fingerprint == fp]
        decision = decide(
            [key], key_hits, key_freezes, key_thaws, relying_party_id=OPERATOR_VIEW, now=now
        )
        records: dict[str, set[tuple[int, int]]] = {}
        for hit in key_hits:
            records.setdefault(hit.breach_name, set()).add((hit.run_id, hit.record))
        reports.append(
            KeyReport(
                attribute=key.attribute,
                kind=key.kind.value,
                fingerprint=fp,
                state=decision.states[0].state,
                exposures=tuple(
                    Exposure(breach, len(found)) for breach, found in sorted(records.items())
                ),
                freeze=key_freezes[0] if key_freezes else None,
                thaws=tuple(sorted(key_thaws, key=lambda t: (t.starts, t.until))),
                contacts=len(contacts.get(fp, [])),
                history=tuple(history[fp]),
            )
        )
    return SubjectReport(tuple(reports), unreadable)


# --- alert contacts -----------------------------------------------------------------------


def new_owner_ref() -> str:
    """A random id shared by the keys of one contact registration (``ow-`` and 16 hex)."""
    return f"ow-{secrets.token_hex(8)}"


def register_contact(
    store: RegistryStore,
    keys: Sequence[IdentityKey],
    contact: Contact,
    contact_key: ContactKey,
    *,
    now: datetime,
    actor: str = "operator",
) -> str:
    """Register where to alert the owner of an identity; return the registration's owner_ref.

    The contact is sealed once per key (a seal binds it to that key's fingerprint), all under
    one owner_ref, so that a check touching several keys of one person alerts them once. Each
    key also gets an audit entry ``contact.add`` holding the attribute and the channel, never
    the address.
    """
    owner_ref = new_owner_ref()
    for key in _require_keys(keys):
        sealed = seal(contact, contact_key, subject_fingerprint=key.fingerprint)
        store.add_contact(key.fingerprint, sealed, owner_ref=owner_ref)
        store.append_audit(
            AuditDraft(
                action="contact.add",
                actor=actor,
                subject=key.fingerprint.hex(),
                details={
                    "attribute": key.attribute,
                    "channel": contact.channel,
                    "owner_ref": owner_ref,
                },
                at=now,
            )
        )
    return owner_ref


__all__ = [
    "OPERATOR_VIEW",
    "SHORT_FINGERPRINT",
    "Exposure",
    "FreezeOutcome",
    "HistoryEntry",
    "InvalidThaw",
    "KeyReport",
    "Outcome",
    "SubjectReport",
    "key_draft",
    "lift_freeze",
    "new_owner_ref",
    "place_freeze",
    "register_contact",
    "short_fingerprint",
    "subject_report",
    "thaw",
]
