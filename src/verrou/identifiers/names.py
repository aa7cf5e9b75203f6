"""Names, birth dates and person matching keys (stub: being written)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PersonParts:
    family_names: tuple[str, ...]
    given_names: str
    birth_date: str
    birth_place: str | None = None


def person_keys(parts: PersonParts) -> list[str]:
    raise NotImplementedError
