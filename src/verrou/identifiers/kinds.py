"""The identifier kinds, their versions and their compact codes."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    NIR = "nir"
    CNI = "cni"
    PASSPORT = "passport"
    DRIVING_LICENCE = "driving_licence"
    RESIDENCE_PERMIT = "residence_permit"
    IBAN = "iban"
    EMAIL = "email"
    PHONE = "phone"
    ACCOUNT_ID = "account_id"
    POSTAL_ADDRESS = "postal_address"
    PERSON = "person"


#: The kinds the private exposure check can ask about (:mod:`verrou.lookup`), in the order
#: ``verrou lookup`` lists them: those a person types from memory or reads off a document.
_FROM_MEMORY = (Kind.EMAIL, Kind.PHONE, Kind.PERSON)
_FROM_DOCUMENTS = (Kind.NIR, Kind.CNI, Kind.PASSPORT, Kind.DRIVING_LICENCE, Kind.RESIDENCE_PERMIT)
LOOKUP_KINDS: tuple[Kind, ...] = _FROM_MEMORY + _FROM_DOCUMENTS

#: Canonicaliser version per kind. Bump on any change of canonical output: the version is hashed
#: into every fingerprint, so a registry ingested under another version no longer matches (see the
#: README, "Canonicaliser versions").
#:
#: Version 2 of person, postal_address, email and account_id: invisible code points dropped and
#: non-ASCII look-alikes folded (Unicode TR39); email also folds provider aliases (+tag, Gmail
#: dots). Document kinds, NIR, IBAN and phone gained the same folding but stay at 1: for every
#: value they accepted before, their output is unchanged (they only accept, or refuse for a
#: clearer reason, values they refused before), so fingerprints already in a registry still hold.
KIND_VERSIONS: dict[Kind, int] = {kind: 1 for kind in Kind} | {
    Kind.PERSON: 2,
    Kind.POSTAL_ADDRESS: 2,
    Kind.EMAIL: 2,
    Kind.ACCOUNT_ID: 2,
}

#: Stable small integer per kind, used in compact binary fingerprint entries. Never renumber.
KIND_CODES: dict[Kind, int] = {
    Kind.NIR: 1,
    Kind.CNI: 2,
    Kind.PASSPORT: 3,
    Kind.DRIVING_LICENCE: 4,
    Kind.RESIDENCE_PERMIT: 5,
    Kind.IBAN: 6,
    Kind.EMAIL: 7,
    Kind.PHONE: 8,
    Kind.ACCOUNT_ID: 9,
    Kind.POSTAL_ADDRESS: 10,
    Kind.PERSON: 11,
}
KINDS_BY_CODE: dict[int, Kind] = {code: kind for kind, code in KIND_CODES.items()}
