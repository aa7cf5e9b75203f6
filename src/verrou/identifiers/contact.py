"""Email, phone and account identifiers (stub: being written)."""

from __future__ import annotations


def canonical_email(raw: str) -> str:
    raise NotImplementedError


def canonical_phone(raw: str) -> str:
    raise NotImplementedError


def canonical_account_id(service: str, raw: str) -> str:
    raise NotImplementedError
