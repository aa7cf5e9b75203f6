"""Postal addresses (stub: being written)."""

from __future__ import annotations


def canonical_postal_address(line: str, postcode: str | None = None, city: str | None = None) -> str:
    raise NotImplementedError
