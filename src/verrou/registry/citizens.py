"""Citizens: who signed in, which keys their verified identity owns, and what they may do with
them -- freeze everything, open it for one bank for a few days, lift, see who checked.

The rule that stops a fraudster from opening a victim's identity (DESIGN.md, "who may do
what"): a citizen may freeze anything they add, but may thaw or lift a key only when

* the key is theirs: a person key derived from their verified sign-in claims, an email they
  proved with a one-time code, or an identifier they bound (document, NIR, IBAN, phone);
* nobody else claims it (two accounts claiming one key is a *conflict*: it stays frozen and
  goes to the operators, :meth:`~verrou.store.protocols.CitizenStore.contested_keys`);
* its freeze is their own (:attr:`~verrou.registry.policy.Freeze.owner`): never another
  citizen's, an operator's, a canary's or an identity-theft report's;
* and, for a thaw, the key is proven or has not leaked: an identifier bound without proof that
  a breach holds could be the victim's, and a fraudster's freeze-then-thaw of it would turn the
  bank's ``step_up`` into ``clear``.

A key that fails the rule is left as it is and reported with the reason (:data:`Refusal`).
Every change is audited per key (by :mod:`verrou.registry.subjects`) and alerts the citizen's
proven emails, so that a hijacked account is seen at once. Nothing here holds a claim value:
a citizen is an id and a keyed reference of their sign-in account; keys are fingerprints.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final, Literal, Protocol, TypeAlias

from verrou.errors import (
    Conflict,
    InvalidApplicant,
    InvalidCode,
    InvalidThaw,
    NotFound,
    RateLimited,
)
from verrou.fingerprints import Fingerprinter
from verrou.identifiers import Kind
from verrou.masking import mask_value
from verrou.registry import subjects
from verrou.registry.alerts import Alert, AlertKind
from verrou.registry.audit import AuditDraft
from verrou.registry.citizen_records import (
    CheckIndexRow,
    Citizen,
    CitizenKey,
    ContestedKey,
    EmailCode,
    KeySource,
)
from verrou.registry.contacts import Contact, ContactKey, open_sealed, seal
from verrou.registry.policy import (
    Applicant,
    Freeze,
    FreezeReason,
    IdentityKey,
    Thaw,
    applicant_keys,
)
from verrou.registry.records import RelyingParty, pages_by_key
from verrou.store.protocols import RegistryStore

#: Why a key was not thawed or lifted.
Refusal: TypeAlias = Literal["not_frozen", "not_your_freeze", "contested", "unproven_exposed"]

#: The longest a citizen may open their identity (the issue's "at most 30 days").
MAX_THAW: Final = timedelta(days=30)
#: A one-time email code: how long it is good for, and how many wrong tries it takes.
EMAIL_CODE_TTL: Final = timedelta(minutes=10)
EMAIL_CODE_ATTEMPTS: Final = 5
#: Codes one account may have sent in an hour: each is an email to an address the citizen
#: typed, so an account must not become a way to mail strangers.
EMAIL_CODES_PER_HOUR: Final = 5
#: The attributes a citizen binds with :func:`bind_identifiers` (person keys come from the
#: sign-in claims, emails from a code).
BINDABLE: Final = frozenset({"document", "nir", "iban", "phone", "postal_address"})


def new_citizen_id() -> str:
    """A random citizen id (``ct-`` and 24 hex digits): says nothing about the person."""
    return f"ct-{secrets.token_hex(12)}"


def new_change_ref() -> str:
    """The reference an account alert gives for a change (``chg-`` and 16 hex digits)."""
    return f"chg-{secrets.token_hex(8)}"


def actor_of(citizen_id: str) -> str:
    """How the audit log names a citizen acting on their own keys."""
    return f"citizen:{citizen_id}"


class SignedInIdentity(Protocol):
    """What sign-in tells of a citizen (FranceConnect's claims, verified by :mod:`verrou.oidc`)."""

    @property
    def issuer(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def given_name(self) -> str: ...
    @property
    def family_name(self) -> str: ...
    @property
    def preferred_username(self) -> str | None: ...
    @property
    def birthdate(self) -> str: ...
    @property
    def birthplace(self) -> str: ...


@dataclass(frozen=True)
class CheckSeen:
    """One check of a citizen's keys: who, when, which verdict, on which of their attributes."""

    check_id: str
    at: datetime
    relying_party_id: str
    relying_party_name: str
    sector: str
    verdict: str
    attributes: tuple[str, ...]


@dataclass(frozen=True)
class OwnerOutcome:
    """What a citizen's freeze, thaw or lift did to one of their keys (``refusal`` says why a
    key was left as it was)."""

    key: CitizenKey
    outcome: subjects.Outcome | Literal["refused"]
    refusal: Refusal | None = None


# --- sign-in and keys ---------------------------------------------------------------------------


def identity_keys(
    identity: SignedInIdentity, fingerprinter: Fingerprinter, *, today: date | None = None
) -> list[IdentityKey]:
    """The person keys of a signed-in identity, with the check API's canonicalisers: the birth
    name and the usage name as family names, all given names, the birth date, and the INSEE
    birthplace code when born in France (empty abroad)."""
    applicant = Applicant(
        family_name=identity.family_name,
        usage_name=identity.preferred_username or None,
        given_names=identity.given_name,
        birth_date=identity.birthdate,
        birth_place=identity.birthplace or None,
    )
    return applicant_keys(applicant, fingerprinter, today=today)


def sign_in(
    store: RegistryStore,
    fingerprinter: Fingerprinter,
    identity: SignedInIdentity,
    *,
    now: datetime,
    contact_key: ContactKey | None = None,
) -> Citizen:
    """Record a sign-in: the citizen (created on first sign-in, known again by the keyed
    reference of their account) and the person keys their verified claims give."""
    keys = identity_keys(identity, fingerprinter, today=now.date())
    reference = fingerprinter.subject_ref(identity.issuer, identity.subject)
    citizen = store.sign_in_citizen(reference, new_citizen_id(), now=now)
    bind_keys(store, citizen.id, keys, source="claims", now=now, contact_key=contact_key)
    return citizen


def bind_keys(
    store: RegistryStore,
    citizen_id: str,
    keys: Iterable[IdentityKey],
    *,
    source: KeySource,
    now: datetime,
    contact_key: ContactKey | None = None,
) -> list[CitizenKey]:
    """Bind keys to a citizen (those already bound are left as they are); return the new ones.

    Each new binding is audited (``citizen.bind``, the key's fingerprint as subject), and the
    citizen's proven emails are sealed to the new keys, so that a check on them alerts too.
    """
    wanted = {
        key.fingerprint: CitizenKey(
            citizen_id, key.fingerprint, key.attribute, key.kind, source, now
        )
        for key in keys
    }
    drafts = [
        AuditDraft(
            action="citizen.bind",
            actor=actor_of(citizen_id),
            subject=key.fingerprint.hex(),
            details={"attribute": key.attribute, "kind": key.kind.value, "source": source},
            at=now,
        )
        for key in wanted.values()
    ]
    added = store.bind_citizen_keys(list(wanted.values()), audits=drafts)
    if added and contact_key is not None:
        _seal_contacts_to(store, citizen_id, added, contact_key)
    return added


def bind_identifiers(
    store: RegistryStore,
    fingerprinter: Fingerprinter,
    citizen_id: str,
    applicant: Applicant,
    *,
    now: datetime,
    contact_key: ContactKey | None = None,
) -> list[CitizenKey]:
    """Bind a citizen's own identifiers (a document, NIR, IBAN, phone or postal address,
    canonicalised as a check's are) to their account, without proof: they may freeze them, and
    thaw them only while nobody else claims them and no breach holds them (module docstring).
    :class:`InvalidApplicant` for a person or an email (they come from sign-in and codes)."""
    keys = applicant_keys(applicant, fingerprinter, today=now.date())
    refused = {key.attribute for key in keys if key.attribute not in BINDABLE}
    if refused:
        raise InvalidApplicant(
            {field: "comes from sign-in or an email code, not from binding" for field in refused}
        )
    return bind_keys(store, citizen_id, keys, source="bound", now=now, contact_key=contact_key)


def my_keys(store: RegistryStore, citizen_id: str) -> list[CitizenKey]:
    """Every key the citizen claims; :class:`NotFound` for an unknown citizen."""
    if store.get_citizen(citizen_id) is None:
        raise NotFound(f"no citizen {citizen_id}")
    return store.citizen_keys(citizen_id)


# --- emails proven by a code --------------------------------------------------------------------


def _code_hash(contact_key: ContactKey, code_id: str, code: str) -> bytes:
    # Keyed, so that the table does not give back a six-digit code by trying them all.
    return hmac.new(contact_key.secret, f"{code_id}\x1f{code}".encode(), hashlib.sha256).digest()


def new_email_code() -> str:
    """Six random digits."""
    return f"{secrets.randbelow(1_000_000):06d}"


def start_email_proof(
    store: RegistryStore,
    fingerprinter: Fingerprinter,
    contact_key: ContactKey,
    citizen_id: str,
    email: str,
    *,
    now: datetime,
) -> tuple[str, str, Contact]:
    """Start proving an email: return (code id, code, contact) for the caller to send the code
    to that address. Only a keyed hash of the code and the sealed address are stored."""
    if store.email_codes_since(citizen_id, now - timedelta(hours=1)) >= EMAIL_CODES_PER_HOUR:
        raise RateLimited(
            f"at most {EMAIL_CODES_PER_HOUR} email codes an hour: try again later", 3600
        )
    contact = Contact("email", email)  # canonical, or InvalidIdentifier without the value
    key = applicant_keys(Applicant(email=email), fingerprinter)[0]
    code_id, code = f"ec-{secrets.token_hex(8)}", new_email_code()
    store.add_email_code(
        EmailCode(
            id=code_id,
            citizen_id=citizen_id,
            fingerprint=key.fingerprint,
            sealed_contact=seal(contact, contact_key, subject_fingerprint=key.fingerprint),
            code_hash=_code_hash(contact_key, code_id, code),
            created_at=now,
            expires_at=now + EMAIL_CODE_TTL,
        )
    )
    return code_id, code, contact


def prove_email(
    store: RegistryStore,
    contact_key: ContactKey,
    citizen_id: str,
    code_id: str,
    code: str,
    *,
    now: datetime,
) -> CitizenKey:
    """Finish an email proof: bind the email to the citizen and make it their alert contact.

    :class:`InvalidThaw`-like refusals are :class:`~verrou.errors.InvalidCode`: an unknown,
    used or expired code, another citizen's, or too many tries (each try counts, right or
    wrong, before it is compared).
    """
    pending = store.try_email_code(code_id, citizen_id, now=now)
    if pending is None or pending.used_at is not None or pending.expires_at <= now:
        raise InvalidCode("this code is unknown, used or expired: ask for a new one")
    if pending.attempts > EMAIL_CODE_ATTEMPTS:
        raise InvalidCode("too many tries for this code: ask for a new one")
    if not hmac.compare_digest(pending.code_hash, _code_hash(contact_key, code_id, code)):
        raise InvalidCode("this code is not the one sent")
    if not store.use_email_code(code_id, now=now):
        raise InvalidCode("this code is unknown, used or expired: ask for a new one")
    key = IdentityKey("email", Kind.EMAIL, pending.fingerprint)
    # Bound first: the citizen's other proven addresses are sealed to it, not yet this one.
    bind_keys(store, citizen_id, [key], source="email", now=now, contact_key=contact_key)
    # The new address alerts for every key of the citizen: sealed to each (a seal binds it to
    # one fingerprint), under the citizen's id, so that a check touching several alerts once.
    contact = open_sealed(pending.sealed_contact, contact_key, subject_fingerprint=key.fingerprint)
    store.add_contact(pending.fingerprint, pending.sealed_contact, owner_ref=citizen_id)
    held = store.citizen_keys(citizen_id)
    for other in held:
        if other.fingerprint != pending.fingerprint:
            blob = seal(contact, contact_key, subject_fingerprint=other.fingerprint)
            store.add_contact(other.fingerprint, blob, owner_ref=citizen_id)
    return next(k for k in held if k.fingerprint == pending.fingerprint)


def _email_contacts(store: RegistryStore, citizen_id: str) -> list[tuple[bytes, bytes]]:
    """(fingerprint, sealed contact) of the citizen's proven emails: one per address, sealed to
    the address's own key."""
    emails = {k.fingerprint for k in store.citizen_keys(citizen_id) if k.source == "email"}
    contacts = store.contacts_for(sorted(emails))
    return [
        (fingerprint, sealed.sealed)
        for fingerprint, found in contacts.items()
        for sealed in found[:1]
        if sealed.owner_ref == citizen_id
    ]


def _seal_contacts_to(
    store: RegistryStore, citizen_id: str, keys: Sequence[CitizenKey], contact_key: ContactKey
) -> None:
    for email_fp, sealed in _email_contacts(store, citizen_id):
        contact = open_sealed(sealed, contact_key, subject_fingerprint=email_fp)
        for key in keys:
            if key.fingerprint != email_fp:
                blob = seal(contact, contact_key, subject_fingerprint=key.fingerprint)
                store.add_contact(key.fingerprint, blob, owner_ref=citizen_id)


def notify_owner(
    store: RegistryStore,
    citizen_id: str,
    kind: AlertKind,
    *,
    now: datetime,
    relying_party: str = "verrou",
    until: datetime | None = None,
    breach: str | None = None,
    data_classes: Sequence[str] = (),
    reference: str | None = None,
) -> int:
    """Queue an account alert to each of the citizen's proven emails; return how many."""
    reference = reference or new_change_ref()
    queued = 0
    for email_fp, sealed in _email_contacts(store, citizen_id):
        # About the change of ``reference``, to the address sealed to its own key.
        alert = Alert(
            email_fp,
            kind,
            relying_party,
            now,
            reference,
            until=until,
            breach=breach,
            data_classes=tuple(data_classes),
        )
        store.enqueue_alert(alert, sealed, now=now)
        queued += 1
    return queued


# --- freeze, thaw, lift: the owner's own ------------------------------------------------------


def freeze_mine(
    store: RegistryStore,
    citizen_id: str,
    *,
    now: datetime,
    reason: FreezeReason = "owner_request",
) -> list[OwnerOutcome]:
    """Freeze every key the citizen claims, as their own freeze (verdict ``deny``). A key
    already frozen as strongly keeps its freeze (``already_frozen``)."""
    keys = my_keys(store, citizen_id)
    if not keys:
        raise NotFound("this account holds no key to freeze")
    by_fp = {key.fingerprint: key for key in keys}
    outcomes = subjects.place_freeze(
        store,
        [key.identity_key() for key in keys],
        placed_by="owner",
        reason=reason,
        actor=actor_of(citizen_id),
        now=now,
        owner=citizen_id,
    )
    if any(o.outcome == "placed" for o in outcomes):
        notify_owner(store, citizen_id, "identity_frozen", now=now)
    return [OwnerOutcome(by_fp[o.key.fingerprint], o.outcome) for o in outcomes]


def _refusal(
    key: CitizenKey,
    freeze: Freeze | None,
    claimants: set[str],
    exposed: bool,
    *,
    for_thaw: bool,
) -> Refusal | None:
    if freeze is None:
        return "not_frozen"
    if freeze.canary or freeze.placed_by != "owner" or freeze.owner != key.citizen_id:
        return "not_your_freeze"
    if claimants - {key.citizen_id}:
        return "contested"
    if for_thaw and not key.proven and exposed:
        return "unproven_exposed"
    return None


def _openable(
    store: RegistryStore, citizen_id: str, now: datetime, *, for_thaw: bool
) -> tuple[list[CitizenKey], list[OwnerOutcome]]:
    """The citizen's keys they may open now, and the refusals of the others."""
    keys = my_keys(store, citizen_id)
    fingerprints = [key.fingerprint for key in keys]
    freezes, _ = store.freezes_for(fingerprints, now=now)
    freeze_of = {freeze.fingerprint: freeze for freeze in freezes}
    claimants = store.key_claimants(fingerprints)
    exposed = {hit.fingerprint for hit in store.lookup(fingerprints)} if for_thaw else set()
    allowed: list[CitizenKey] = []
    refused: list[OwnerOutcome] = []
    for key in keys:
        why = _refusal(
            key,
            freeze_of.get(key.fingerprint),
            claimants.get(key.fingerprint, set()),
            key.fingerprint in exposed,
            for_thaw=for_thaw,
        )
        if why is None:
            allowed.append(key)
        else:
            outcome: Literal["refused", "not_frozen"] = (
                "not_frozen" if why == "not_frozen" else "refused"
            )
            refused.append(OwnerOutcome(key, outcome, why))
    return allowed, refused


def thaw_mine(
    store: RegistryStore,
    citizen_id: str,
    *,
    relying_party_id: str | None,
    until: datetime,
    now: datetime,
    relying_party_name: str | None = None,
) -> list[OwnerOutcome]:
    """Open the citizen's own frozen keys for one relying party (None: all) from now until
    ``until``, at most :data:`MAX_THAW` ahead. Keys outside the rule are left frozen and
    reported with why; :class:`~verrou.errors.Conflict` when no key could be opened."""
    if until - now > MAX_THAW:
        raise InvalidThaw(f"a thaw lasts at most {MAX_THAW.days} days")
    allowed, refused = _openable(store, citizen_id, now, for_thaw=True)
    if not allowed:
        raise Conflict(_nothing_to_open(refused))
    by_fp = {key.fingerprint: key for key in allowed}
    thawed = subjects.thaw(
        store,
        [key.identity_key() for key in allowed],
        relying_party_id=relying_party_id,
        starts=now,
        until=until,
        actor=actor_of(citizen_id),
        now=now,
    )
    notify_owner(
        store,
        citizen_id,
        "identity_thawed",
        now=now,
        relying_party=relying_party_name or "tous les organismes / every organisation",
        until=until,
    )
    return [OwnerOutcome(by_fp[o.key.fingerprint], o.outcome) for o in thawed] + refused


def active_relying_parties(store: RegistryStore) -> list[RelyingParty]:
    """The relying parties a citizen may open their identity for: the active ones."""
    return [party for party in store.list_relying_parties() if party.active]


def thaw_mine_for(
    store: RegistryStore,
    citizen_id: str,
    *,
    relying_party_id: str | None,
    days: float,
    now: datetime,
) -> list[OwnerOutcome]:
    """:func:`thaw_mine` for the relying party ``relying_party_id`` (None: every one) for
    ``days`` days from now; :class:`NotFound` for a relying party the registry does not know."""
    name = None
    if relying_party_id is not None:
        party = next((p for p in store.list_relying_parties() if p.id == relying_party_id), None)
        if party is None:
            raise NotFound(f"no relying party {relying_party_id}")
        name = party.name
    return thaw_mine(
        store,
        citizen_id,
        relying_party_id=relying_party_id,
        relying_party_name=name,
        until=now + timedelta(days=days),
        now=now,
    )


def refusals(
    store: RegistryStore, citizen_id: str, *, now: datetime, for_thaw: bool
) -> list[OwnerOutcome]:
    """The citizen's keys a thaw (``for_thaw``) or a lift would leave as they are now, each
    with why: what to show when :func:`thaw_mine` or :func:`lift_mine` opened nothing."""
    return _openable(store, citizen_id, now, for_thaw=for_thaw)[1]


def lift_mine(store: RegistryStore, citizen_id: str, *, now: datetime) -> list[OwnerOutcome]:
    """Lift the citizen's own freezes (``step_up`` again where the keys leaked). Keys frozen by
    anyone else, or claimed by another citizen too, stay frozen and are reported."""
    allowed, refused = _openable(store, citizen_id, now, for_thaw=False)
    if not allowed:
        raise Conflict(_nothing_to_open(refused))
    by_fp = {key.fingerprint: key for key in allowed}
    lifted = subjects.lift_freeze(
        store, [key.identity_key() for key in allowed], actor=actor_of(citizen_id), now=now
    )
    notify_owner(store, citizen_id, "identity_lifted", now=now)
    return [OwnerOutcome(by_fp[o.key.fingerprint], o.outcome) for o in lifted] + refused


def _nothing_to_open(refused: Sequence[OwnerOutcome]) -> str:
    reasons = sorted({o.refusal for o in refused if o.refusal})
    if reasons == ["not_frozen"]:
        return "this identity is not frozen: there is nothing to open"
    return "no key of this identity may be opened from this account (" + ", ".join(reasons) + ")"


# --- who checked my identity ---------------------------------------------------------------------


def checks_of(
    store: RegistryStore,
    fingerprints: Sequence[bytes],
    *,
    limit: int,
    before: datetime | None = None,
    only: Collection[str] | None = None,
) -> list[CheckIndexRow]:
    """The checks of these keys, newest first, from the checks index: a row per key a check
    touched, for at most ``limit`` checks, made before ``before`` and among the check ids
    ``only`` when given. The index holds (fingerprint, seq); the entries it points to hold the
    rest, and seq order is the log's, which is time order."""
    if not fingerprints or limit <= 0:
        return []
    parties = {party.id: party for party in store.list_relying_parties()}
    page = max(100, limit * len(fingerprints))  # a check touches several of one's keys
    found: list[CheckIndexRow] = []
    checks: set[str] = set()
    below: int | None = None
    while len(checks) < limit:
        index = store.check_seqs(fingerprints, below=below, limit=page)
        if not index:
            break
        entries = store.entries_at(sorted({seq for _, seq in index}))
        for fingerprint, seq in index:
            entry = entries.get(seq)
            if entry is None or entry.action != "check":
                continue
            check_id = str(entry.details.get("check_id", ""))
            if (before is not None and entry.at >= before) or (
                only is not None and check_id not in only
            ):
                continue
            if check_id not in checks and len(checks) == limit:
                break
            checks.add(check_id)
            party = parties.get(entry.actor)
            found.append(
                CheckIndexRow(
                    fingerprint,
                    entry.at,
                    seq,
                    check_id,
                    entry.actor,
                    party.name if party else "",
                    party.sector if party else "",
                    str(entry.details.get("verdict", "")),
                )
            )
        below = index[-1][1]
        if len(index) < page:
            break
    return found


def who_checked(
    store: RegistryStore,
    citizen_id: str,
    *,
    limit: int = 50,
    before: datetime | None = None,
) -> list[CheckSeen]:
    """The checks made on the citizen's keys, newest first, from the checks index: relying
    party, sector, when, verdict, and which of the citizen's attributes it touched."""
    keys = my_keys(store, citizen_id)
    attribute_of = {key.fingerprint: key.attribute for key in keys}
    rows = checks_of(store, list(attribute_of), limit=limit, before=before)
    seen: dict[str, CheckSeen] = {}
    for row in rows:
        found = seen.get(row.check_id)
        attribute = attribute_of.get(row.fingerprint, "unknown")
        if found is None:
            seen[row.check_id] = CheckSeen(
                row.check_id,
                row.at,
                row.relying_party_id,
                row.relying_party_name,
                row.sector,
                row.verdict,
                (attribute,),
            )
        elif attribute not in found.attributes:
            attributes = tuple(sorted((*found.attributes, attribute)))
            seen[row.check_id] = CheckSeen(
                found.check_id,
                found.at,
                found.relying_party_id,
                found.relying_party_name,
                found.sector,
                found.verdict,
                attributes,
            )
    return list(seen.values())[:limit]  # the index's order: newest first, by time then seq


@dataclass(frozen=True)
class MyExposure:
    """A breach that holds some of the citizen's keys: its name, title, data classes,
    disclosure date, and which of the citizen's attributes it holds."""

    breach: str
    title: str | None
    data_classes: tuple[str, ...]
    disclosed_at: datetime | None
    attributes: tuple[str, ...]


def my_exposures(store: RegistryStore, citizen_id: str) -> list[MyExposure]:
    """The breaches that exposed the citizen, from their keys' fingerprints."""
    keys = my_keys(store, citizen_id)
    attribute_of = {key.fingerprint: key.attribute for key in keys}
    by_breach: dict[str, set[str]] = {}
    for hit in store.lookup(list(attribute_of)):
        by_breach.setdefault(hit.breach_name, set()).add(attribute_of[hit.fingerprint])
    exposures: list[MyExposure] = []
    for name in sorted(by_breach):
        breach = store.get_breach(name)
        exposures.append(
            MyExposure(
                breach=name,
                title=breach.title if breach else None,
                data_classes=breach.data_classes if breach else (),
                disclosed_at=breach.disclosed_at if breach else None,
                attributes=tuple(sorted(by_breach[name])),
            )
        )
    return exposures


#: Who holds a freeze, as its owner sees it: themselves, another account, an operator, an
#: identity-theft report, or a canary (a planted identity).
FreezeHolder: TypeAlias = Literal["mine", "another_account", "operator", "report", "canary"]


def freeze_holder(freeze: Freeze, citizen_id: str) -> FreezeHolder:
    """Who holds ``freeze``, as the citizen ``citizen_id`` is told."""
    if freeze.canary:
        return "canary"
    if freeze.placed_by == "owner":
        return "mine" if freeze.owner == citizen_id else "another_account"
    return freeze.placed_by


@dataclass(frozen=True)
class KeyState:
    """One of the citizen's keys now: its freeze (None: not frozen), who holds it, and the
    thaws that have not ended."""

    key: CitizenKey
    freeze: Freeze | None
    held_by: FreezeHolder | None
    thaws: tuple[Thaw, ...]


@dataclass(frozen=True)
class MyIdentity:
    """What a signed-in citizen sees of their identity: each key's state, and the breaches
    that exposed them."""

    citizen_id: str
    keys: tuple[KeyState, ...]
    exposures: tuple[MyExposure, ...]

    @property
    def frozen(self) -> bool:
        """True when every key holds a freeze."""
        return bool(self.keys) and all(state.freeze is not None for state in self.keys)

    @property
    def partly_frozen(self) -> bool:
        """True when some keys, not all, hold a freeze."""
        return not self.frozen and any(state.freeze is not None for state in self.keys)


def my_identity(store: RegistryStore, citizen_id: str, *, now: datetime) -> MyIdentity:
    """The citizen's keys with their freezes and thaws at ``now``, and their exposures."""
    keys = my_keys(store, citizen_id)
    freezes, thaws = store.freezes_for([key.fingerprint for key in keys], now=now)
    freeze_of = {freeze.fingerprint: freeze for freeze in freezes}
    states = []
    for key in keys:
        freeze = freeze_of.get(key.fingerprint)
        states.append(
            KeyState(
                key,
                freeze,
                None if freeze is None else freeze_holder(freeze, citizen_id),
                tuple(t for t in thaws if t.fingerprint == key.fingerprint),
            )
        )
    return MyIdentity(citizen_id, tuple(states), tuple(my_exposures(store, citizen_id)))


def my_masked_emails(
    store: RegistryStore, contact_key: ContactKey, citizen_id: str
) -> list[tuple[CitizenKey, str]]:
    """The citizen's proven emails, each with its address masked (:func:`mask_value`): what a
    page may show of them. The address itself never leaves this function."""
    by_fp = {key.fingerprint: key for key in my_keys(store, citizen_id) if key.source == "email"}
    shown = []
    for fingerprint, sealed in _email_contacts(store, citizen_id):
        contact = open_sealed(sealed, contact_key, subject_fingerprint=fingerprint)
        if fingerprint in by_fp:
            shown.append((by_fp[fingerprint], mask_value(contact.address)))
    return sorted(shown, key=lambda item: item[0].added_at)


# --- new breaches ------------------------------------------------------------------------------


#: Citizen keys read at a time when a finished ingest run looks for the citizens it exposed.
KEY_PAGE: Final = 5_000


def alert_new_exposures(store: RegistryStore, run_id: int, *, now: datetime) -> int:
    """After an ingest run: one alert per citizen whose keys it holds, naming the breach and its
    data classes, nothing else. Returns the number of citizens alerted (those with a proven
    email; the others see the breach when they sign in)."""
    run = store.get_run(run_id)
    summaries = store.list_breaches()
    breach = next((s.breach for s in summaries if s.breach.id == run.breach_id), None)
    if breach is None:
        return 0
    data_classes = breach.data_classes
    exposed: set[str] = set()
    claimed = pages_by_key(
        lambda after, size: store.citizen_key_page(after=after, limit=size),
        lambda row: row[0],
        KEY_PAGE,
    )
    for page in claimed:
        owners: dict[bytes, set[str]] = {}
        for fingerprint, citizen_id in page:
            owners.setdefault(fingerprint, set()).add(citizen_id)
        for hit in store.lookup(list(owners)):
            if hit.run_id == run_id:
                exposed.update(owners[hit.fingerprint])
    alerted = 0
    for citizen_id in sorted(exposed):
        sent = notify_owner(
            store,
            citizen_id,
            "new_breach",
            now=now,
            breach=breach.name,
            data_classes=data_classes,
            reference=f"brc-{run.id}",
        )
        alerted += 1 if sent else 0
    return alerted


__all__ = [
    "BINDABLE",
    "EMAIL_CODES_PER_HOUR",
    "EMAIL_CODE_ATTEMPTS",
    "EMAIL_CODE_TTL",
    "MAX_THAW",
    "CheckIndexRow",
    "CheckSeen",
    "Citizen",
    "CitizenKey",
    "ContestedKey",
    "EmailCode",
    "FreezeHolder",
    "KeySource",
    "KeyState",
    "MyExposure",
    "MyIdentity",
    "OwnerOutcome",
    "Refusal",
    "SignedInIdentity",
    "active_relying_parties",
    "alert_new_exposures",
    "bind_identifiers",
    "bind_keys",
    "checks_of",
    "freeze_holder",
    "freeze_mine",
    "identity_keys",
    "lift_mine",
    "my_exposures",
    "my_identity",
    "my_keys",
    "my_masked_emails",
    "notify_owner",
    "prove_email",
    "refusals",
    "sign_in",
    "start_email_proof",
    "thaw_mine",
    "thaw_mine_for",
    "who_checked",
]
