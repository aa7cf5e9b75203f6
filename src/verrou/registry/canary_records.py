"""The records of canary identities: what the store keeps of a canary (its id, source, planting
date and its keys' fingerprints), what one planting writes, an incident, and the identity itself
in clear, which exists only on its way to the planting CSV and is never stored.

A canary is a made-up identity an operator plants in a source (a partner's customer base, a
service's accounts): any check on it is denied and raises an incident, and a dump that holds it
names the source it was taken from and a date it was taken after (:mod:`verrou.registry.canaries`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from verrou.identifiers import Kind
from verrou.masking import mask_value
from verrou.registry.audit import AuditDraft
from verrou.registry.citizen_records import CheckIndexRow
from verrou.registry.policy import Freeze

#: Longest source name: it is told in incident alerts, on one line, as a relying party's name is.
SOURCE_MAX: Final = 120


@dataclass(frozen=True)
class CanaryRef:
    """Which canary an incident is about: its id and the source it was planted in. Sealed with
    the operators' contacts on its keys, so that an incident alert can name both."""

    id: str
    source: str


@dataclass(frozen=True)
class Canary(CanaryRef):
    """A canary as the registry keeps it: its id, source and planting date, and the identifier
    kinds its keys cover (the keys themselves are :class:`CanaryKey` rows)."""

    planted_at: datetime
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class CanaryKey:
    """One key of a canary: its fingerprint and kind (never the value)."""

    fingerprint: bytes
    kind: Kind
    canary_id: str

    def __repr__(self) -> str:  # a fingerprint is linkable: keep it out of logs
        return f"CanaryKey({self.canary_id}, {self.kind.value})"


@dataclass(frozen=True)
class SealedCanaryContact:
    """An operators' contact sealed to one canary key, under the canary's own owner reference
    (one a channel: an email and a webhook are two alerts, not one)."""

    fingerprint: bytes
    sealed: bytes
    owner_ref: str


@dataclass(frozen=True)
class CanaryPlanting:
    """Everything one ``verrou canary create`` writes, in one transaction: the canaries, their
    keys, a canary freeze on each key (with its ``freeze.place`` audit entry, for ``audit
    verify``'s replay), the operators' sealed contacts, and one ``canary.plant`` entry each."""

    canaries: Sequence[Canary]
    keys: Sequence[CanaryKey]
    freezes: Sequence[tuple[Freeze, AuditDraft]]
    contacts: Sequence[SealedCanaryContact] = ()
    audits: Sequence[AuditDraft] = ()


@dataclass(frozen=True)
class CanaryIncident:
    """A check on a canary: which canary (and its source), and the check as the checks index
    tells it (when, the relying party's id, name and sector, the verdict, the check's id and
    audit seq). Read from the index and the log, never stored twice."""

    canary: CanaryRef
    check: CheckIndexRow


@dataclass(frozen=True, repr=False)
class CanaryIdentity:
    """A canary's identity in clear: made up, valid for every validator, written once to the
    planting CSV and nowhere else (the registry keeps its keys' fingerprints). ``repr`` masks
    every value, so that one logged by accident does not give it away."""

    civility: str
    family_name: str
    given_names: tuple[str, ...]
    birth_date: date
    nir: str
    cni: str
    passport: str
    iban: str
    phone: str
    email: str
    #: The account the dump's service would have given it (not keys: a relying party never
    #: sends one), so that its row looks like every other row of the dump.
    account_id: str = ""
    login: str = ""

    def __repr__(self) -> str:
        return f"CanaryIdentity({mask_value(self.family_name)}, {mask_value(self.email)})"


__all__ = [
    "SOURCE_MAX",
    "Canary",
    "CanaryIdentity",
    "CanaryIncident",
    "CanaryKey",
    "CanaryPlanting",
    "CanaryRef",
    "SealedCanaryContact",
]
