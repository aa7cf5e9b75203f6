"""Keys two accounts claim, and how an operator resolves one (DESIGN.md, "who may do what":
a key claimed by two accounts stays frozen until an operator resolves it).

A contested key (:meth:`~verrou.store.protocols.CitizenStore.contested_keys`) is shown with
each claim and where it comes from: the verified sign-in claims or an email proven by a code
(*proven*), or an identifier the account bound without proof. Either the operator leaves it
contested (nothing to do: no account may thaw or lift it), or decides which account keeps it
(:func:`resolve_contested_key`): every other account's claim is released, with the contacts it
sealed to the key, each release audited (``citizen.release``, the key's fingerprint as subject,
the operator as actor) in one transaction.

The freeze is never touched: a resolution opens nothing. When the freeze in force is an
account's own, the account that placed it stays its owner (:attr:`Resolution.freeze_owner`
says who), and a freeze the released account placed is lifted by an operator apart (``verrou
freeze lift``), never by the resolution.

Keys are named by their short fingerprint (:func:`~verrou.registry.subjects.short_fingerprint`),
as ``verrou citizens conflicts`` prints them: the pages never show a whole fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from verrou.errors import Conflict, InvalidApplicant, NotFound
from verrou.identifiers import Kind
from verrou.registry.audit import AuditDraft
from verrou.registry.citizen_records import ContestedKey, KeySource
from verrou.registry.subjects import short_fingerprint
from verrou.store.protocols import RegistryStore


@dataclass(frozen=True)
class Claim:
    """One account's claim on a contested key: where it comes from, and since when (a key's
    claims are listed oldest first)."""

    citizen_id: str
    source: KeySource
    proven: bool
    added_at: datetime


@dataclass(frozen=True)
class KeyConflict:
    """A key two or more accounts claim, as an operator sees it (no fingerprint in full)."""

    key: str
    kind: Kind
    frozen: bool
    #: Whose own freeze is in force on the key; None for none, or one not an account's.
    freeze_owner: str | None
    claims: tuple[Claim, ...]


@dataclass(frozen=True)
class Resolution:
    """What :func:`resolve_contested_key` did: who keeps the key, whose claims were released,
    and whose own freeze is in force on it (None: none, or not an account's)."""

    key: str
    kept: str
    released: tuple[str, ...]
    freeze_owner: str | None


def _claims(store: RegistryStore, contested: ContestedKey) -> tuple[Claim, ...]:
    claims = []
    for citizen_id in contested.citizens:
        for key in store.citizen_keys(citizen_id):
            if key.fingerprint == contested.fingerprint:
                claims.append(Claim(citizen_id, key.source, key.proven, key.added_at))
                break
    return tuple(sorted(claims, key=lambda claim: (claim.added_at, claim.citizen_id)))


def _freeze_owner(store: RegistryStore, fingerprint: bytes, *, now: datetime) -> str | None:
    freezes, _ = store.freezes_for([fingerprint], now=now)
    return next((freeze.owner for freeze in freezes if freeze.owner), None)


def key_conflicts(store: RegistryStore, *, now: datetime) -> list[KeyConflict]:
    """Every key two or more accounts claim, with each claim, in fingerprint order."""
    return [
        KeyConflict(
            key=short_fingerprint(contested.fingerprint),
            kind=contested.kind,
            frozen=contested.frozen,
            freeze_owner=_freeze_owner(store, contested.fingerprint, now=now),
            claims=_claims(store, contested),
        )
        for contested in store.contested_keys()
    ]


def resolve_contested_key(
    store: RegistryStore, key: str, *, keep: str, actor: str, now: datetime
) -> Resolution:
    """Give the contested key named ``key`` (its short fingerprint) to the account ``keep``:
    release every other account's claim, audited. :class:`NotFound` when no contested key has
    that name, :class:`Conflict` when two do (resolve it with ``verrou citizens conflicts``),
    :class:`InvalidApplicant` when ``keep`` does not claim it."""
    named = [c for c in store.contested_keys() if short_fingerprint(c.fingerprint) == key]
    if not named:
        raise NotFound("no key two accounts claim has this short fingerprint")
    if len(named) > 1:
        raise Conflict("two contested keys share this short fingerprint")
    (contested,) = named
    if keep not in contested.citizens:
        raise InvalidApplicant({"keep": "does not claim this key"})
    others = [citizen_id for citizen_id in contested.citizens if citizen_id != keep]
    drafts = [
        AuditDraft(
            action="citizen.release",
            actor=actor,
            subject=contested.fingerprint.hex(),
            details={"kind": contested.kind.value, "citizen": citizen_id, "kept_by": keep},
            at=now,
        )
        for citizen_id in others
    ]
    released = store.release_citizen_key(contested.fingerprint, others, audits=drafts)
    return Resolution(
        key=key,
        kept=keep,
        released=tuple(released),
        freeze_owner=_freeze_owner(store, contested.fingerprint, now=now),
    )


__all__ = ["Claim", "KeyConflict", "Resolution", "key_conflicts", "resolve_contested_key"]
