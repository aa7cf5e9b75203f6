"""French identity documents, NIR and IBAN (stub: being written)."""

from __future__ import annotations


def canonical_nir(raw: str) -> str:
    raise NotImplementedError


def canonical_cni(raw: str) -> str:
    raise NotImplementedError


def canonical_passport(raw: str) -> str:
    raise NotImplementedError


def canonical_driving_licence(raw: str) -> str:
    raise NotImplementedError


def canonical_residence_permit(raw: str) -> str:
    raise NotImplementedError


def canonical_iban(raw: str) -> str:
    raise NotImplementedError
