"""The records of operators and their sessions (:mod:`verrou.registry.operators`), as the store
keeps them: a password hash, hashes of secrets, names and times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Operator:
    """An operator as the store keeps them; ``password_hash`` is :func:`hash_password`'s."""

    name: str
    password_hash: str
    created_at: datetime
    disabled_at: datetime | None = None

    def __repr__(self) -> str:
        return f"Operator({self.name!r}, disabled={self.disabled_at is not None})"


@dataclass(frozen=True)
class OperatorSessionRecord:
    """A signed-in operator's session as the store keeps it: hashes and times only."""

    sid_hash: bytes
    operator: str
    csrf_hash: bytes
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def usable_at(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at
