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


#: Canonicaliser version per kind. Bump on any change of canonical output.
KIND_VERSIONS: dict[Kind, int] = {kind: 1 for kind in Kind}

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
