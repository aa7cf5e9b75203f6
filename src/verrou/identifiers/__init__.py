"""Identifier kinds and their canonicalisers.

A canonicaliser turns raw text into the one canonical text of its kind, or raises
:class:`verrou.errors.InvalidIdentifier` saying why (never echoing the value). Each kind carries a
version: any change that alters canonical output bumps it, because it changes fingerprints.
"""

from __future__ import annotations

from collections.abc import Callable

from verrou.identifiers.address import canonical_postal_address, postal_address_readings
from verrou.identifiers.contact import canonical_account_id, canonical_email, canonical_phone
from verrou.identifiers.documents import (
    canonical_cni,
    canonical_driving_licence,
    canonical_iban,
    canonical_nir,
    canonical_passport,
    canonical_residence_permit,
)
from verrou.identifiers.kinds import KIND_CODES, KIND_VERSIONS, KINDS_BY_CODE, Kind
from verrou.identifiers.names import PersonParts, person_key_readings, person_keys

#: Kinds whose canonical form comes from one raw field.
SINGLE_FIELD: dict[Kind, Callable[[str], str]] = {
    Kind.NIR: canonical_nir,
    Kind.CNI: canonical_cni,
    Kind.PASSPORT: canonical_passport,
    Kind.DRIVING_LICENCE: canonical_driving_licence,
    Kind.RESIDENCE_PERMIT: canonical_residence_permit,
    Kind.IBAN: canonical_iban,
    Kind.EMAIL: canonical_email,
    Kind.PHONE: canonical_phone,
}


def canonical(kind: Kind, raw: str) -> str:
    """Canonical text of a single-field identifier, or raise ``InvalidIdentifier``."""
    return SINGLE_FIELD[kind](raw)


__all__ = [
    "KINDS_BY_CODE",
    "KIND_CODES",
    "KIND_VERSIONS",
    "SINGLE_FIELD",
    "Kind",
    "PersonParts",
    "canonical",
    "canonical_account_id",
    "canonical_postal_address",
    "person_key_readings",
    "person_keys",
    "postal_address_readings",
]
