"""Canary identities: made-up people who pass every validator, and the CSV rows that plant them.

A canary must look like anyone else in the source it is planted in, and like anyone else in the
dump that source later leaks: names from the same pools as the synthetic ANTS dump, a birth date
an adult has, a NIR consistent with sex and birth (key included), a CNIe and a passport number of
the real shapes, an IBAN with correct ISO 13616 and RIB keys (the same vectorised builders as the
synthetic dump), a French mobile number, and an email on a domain the operators control (mail to
it is part of the incident: nobody else ever writes there).

:func:`canary_identities` is an endless stream, deterministic for a seed: the registry refuses
the candidates whose keys it already holds and takes the next ones. :func:`write_canary_rows`
writes them with the columns of the synthetic ANTS dump (``;``-separated, UTF-8), so that the
rows go into a source, or are appended to a dump, as they are.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Final, NamedTuple, TextIO

import numpy as np

from verrou.registry.canary_records import CanaryIdentity
from verrou.synth.building import _digits, _Draws, _strings, _weighted
from verrou.synth.documents import _DEPT_VALUES, _ibans, _nirs
from verrou.synth.people import _dates
from verrou.synth.pools import _ALNUM, _LETTERS, _PHONE_RANGES, _build_pools, _Pools
from verrou.synth.spec import BASE_COLUMNS, DOCUMENT_COLUMNS

#: The planting CSV's columns: the synthetic ANTS dump's, documents included.
CANARY_COLUMNS: Final = BASE_COLUMNS + DOCUMENT_COLUMNS
#: Candidates drawn at a time (each draw of the stream is one batch of numpy draws).
_BATCH: Final = 64
#: Mobile ranges of metropolitan France (06, 07) with their weights, from the dump's pool.
_MOBILES: Final = tuple(
    (prefix, weight)
    for prefix, region, weight in _PHONE_RANGES
    if region == "FR" and prefix[0] in "67"
)
#: Keeps a canary stream apart from a synthetic dump drawn with the same seed.
_STREAM: Final = 0xCA1A


class _Names(NamedTuple):
    """The synthetic dump's name pools as Python lists (a canary is built one at a time)."""

    given: list[str]
    given_folded: list[str]
    male_count: int
    female_count: int
    family: list[str]
    family_folded: list[str]

    @classmethod
    def of(cls, pools: _Pools) -> _Names:
        return cls(
            pools.given.display.to_pylist(),
            pools.given.folded.to_pylist(),
            pools.male_count,
            pools.female_count,
            pools.family.display.to_pylist(),
            pools.family.folded.to_pylist(),
        )


def canary_identities(seed: int, domain: str) -> Iterator[CanaryIdentity]:
    """Candidate canaries, without end, the same ones for the same seed and domain."""
    names = _Names.of(_build_pools(seed))
    for batch in itertools.count():
        generator = np.random.default_rng(np.random.SeedSequence([seed, _STREAM, batch]))
        yield from _candidates(names, generator, domain)


def _candidates(pool: _Names, generator: np.random.Generator, domain: str) -> list[CanaryIdentity]:
    n = _BATCH
    draws = _Draws(generator, np.arange(n))
    female = draws.random(n) < 0.52
    years, months, days = _dates(draws, n)
    departments = draws.integers(0, len(_DEPT_VALUES), n)
    nirs = _nirs(draws, n, female, years, months, departments).to_pylist()
    ibans = _ibans(draws, n).to_pylist()
    cnis = _strings(_ALNUM[draws.integers(0, 36, (n, 9))]).to_pylist()
    passports = _strings(
        _digits(draws.integers(6, 26, n), 2),
        _LETTERS[draws.integers(0, 26, (n, 2))],
        _digits(draws.integers(0, 100_000, n), 5),
    ).to_pylist()
    mobile = _weighted(draws, n, [weight for _, weight in _MOBILES])
    free = draws.integers(0, 10, (n, 8))
    second = draws.integers(0, 2, n)
    digits = draws.integers(1, 100, n)
    account = draws.integers(10_000_000, 100_000_000, n)
    found: list[CanaryIdentity] = []
    for i in range(n):
        start, count = (pool.male_count, pool.female_count) if female[i] else (0, pool.male_count)
        picked = [start + int(generator.integers(0, count)) for _ in range(1 + int(second[i]))]
        given = list(dict.fromkeys(pool.given[k] for k in picked))  # never "Marie, Marie"
        surname = int(generator.integers(0, len(pool.family)))
        first, family = pool.given_folded[picked[0]], pool.family_folded[surname]
        email = f"{first}.{family}{int(digits[i]):02d}@{domain}"
        prefix = _MOBILES[int(mobile[i])][0]
        national = "0" + prefix + "".join(map(str, free[i][: 9 - len(prefix)]))
        found.append(
            CanaryIdentity(
                civility="Mme" if female[i] else "M.",
                family_name=pool.family[surname],
                given_names=tuple(given),
                birth_date=date(int(years[i]), int(months[i]), int(days[i])),
                nir=str(nirs[i]),
                cni=str(cnis[i]),
                passport=str(passports[i]),
                iban=str(ibans[i]),
                phone=" ".join(national[k : k + 2] for k in range(0, 10, 2)),
                email=email,
                account_id=str(int(account[i])),
                login=email if i % 2 else f"{first[:1]}{family}{int(digits[i])}",
            )
        )
    return found


def canary_row(identity: CanaryIdentity) -> list[str]:
    """A canary as a row of :data:`CANARY_COLUMNS`, written as the synthetic dump writes its
    rows (given names joined by ``", "``, birth date ``dd/mm/yyyy``, blanks where the dump
    has no value for most people)."""
    born = identity.birth_date
    cells = {
        "id_compte": identity.account_id,
        "login": identity.login,
        "civilite": identity.civility,
        "nom": identity.family_name,
        "prenoms": ", ".join(identity.given_names),
        "date_naissance": f"{born.day:02d}/{born.month:02d}/{born.year:04d}",
        "email": identity.email,
        "telephone": identity.phone,
        "numero_cni": identity.cni,
        "passeport": identity.passport,
        "nir": identity.nir,
        "iban": identity.iban,
    }
    return [cells.get(column, "") for column in CANARY_COLUMNS]


def write_canary_rows(handle: TextIO, identities: Iterable[CanaryIdentity]) -> int:
    """Write the header and one line per canary (``;``-separated, as the dump); the count."""
    handle.write(";".join(CANARY_COLUMNS) + "\n")
    written = 0
    for identity in identities:
        handle.write(";".join(canary_row(identity)) + "\n")
        written += 1
    return written


__all__ = ["CANARY_COLUMNS", "canary_identities", "canary_row", "write_canary_rows"]
