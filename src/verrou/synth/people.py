"""One chunk of people: names, birth dates and places, logins, emails and addresses, with the
contact and document columns added by :mod:`.contacts` and :mod:`.documents`."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from verrou.synth.building import (
    _Chunk,
    _digits,
    _Draws,
    _join,
    _lit,
    _mask_nulls,
    _pick,
    _strings,
    _take,
    _weighted,
)
from verrou.synth.contacts import _phones
from verrou.synth.defects import _apply_broken, _apply_duplicates, _plan_specials
from verrou.synth.documents import _documents
from verrou.synth.pools import _EMAIL_LAYOUTS, _EMAIL_SEPARATORS, _Pools
from verrou.synth.spec import ADDRESS_SHARE, MARRIED_SHARE, PHONE_SHARE, IntArray, SynthSpec


def _birth_years(rng: _Draws, n: int) -> IntArray:
    years = np.arange(1930, 2009)
    # Adults holding an ANTS account: thin before the post-war boom, flat afterwards.
    w = np.where(years < 1946, 0.15 + 0.75 * (years - 1930) / 16, 1.0)
    w = np.where(years > 2003, 0.6, w)
    return years[_weighted(rng, n, list(w))].astype(np.int64)


def _dates(rng: _Draws, n: int) -> tuple[IntArray, IntArray, IntArray]:
    years = _birth_years(rng, n)
    start = (years - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    end = (years - 1969).astype("datetime64[Y]").astype("datetime64[D]")
    length = (end - start).astype(np.int64)
    day = start + (rng.random(n) * length).astype(np.int64).astype("timedelta64[D]")
    month_start = day.astype("datetime64[M]")
    months = month_start.astype(np.int64) % 12 + 1
    days = (day - month_start.astype("datetime64[D]")).astype(np.int64) + 1
    return years, months.astype(np.int64), days


def _generate_chunk(
    spec: SynthSpec, pools: _Pools, generator: np.random.Generator, n: int, first_id: int
) -> _Chunk:
    plan = _plan_specials(spec, generator, n)
    person_source = np.arange(n, dtype=np.int64)
    account_source = np.arange(n, dtype=np.int64)
    for j, i, variant in plan.duplicates:
        person_source[j] = i
        if variant == "exact":
            account_source[j] = i
    rng = _Draws(generator, person_source)  # everything about the person
    account = _Draws(generator, account_source)  # the account: id and login
    cols: dict[str, pa.Array] = {}

    female = rng.random(n) < 0.52
    cols["civilite"] = pc.if_else(pa.array(female), "Mme", "M.")

    # Given names: 1-3, the first drives the email.
    def given_idx() -> IntArray:
        m = rng.integers(0, pools.male_count, n)
        f = pools.male_count + rng.integers(0, pools.female_count, n)
        return np.where(female, f, m)

    g1, g2, g3 = given_idx(), given_idx(), given_idx()
    count = _weighted(rng, n, [0.35, 0.42, 0.23]) + 1
    second = _mask_nulls(_take(pools.given.display, g2), count >= 2)
    third = _mask_nulls(_take(pools.given.display, g3), count >= 3)
    first = _take(pools.given.display, g1)
    cols["prenoms"] = pc.binary_join_element_wise(first, second, third, ", ", null_handling="skip")

    # Family name; married people (mostly women) carry a spouse's name, the birth name beside it.
    birth_f = rng.integers(0, pools.family.size, n)
    spouse_f = (birth_f + 1 + rng.integers(0, pools.family.size - 1, n)) % pools.family.size
    married = np.where(
        female,
        rng.random(n) < MARRIED_SHARE * 0.9 / 0.52,
        rng.random(n) < MARRIED_SHARE * 0.1 / 0.48,
    )
    nom_f = np.where(married, spouse_f, birth_f)
    nom = _take(pools.family.display, nom_f)
    birth_name = _take(pools.family.display, birth_f)
    # The pool holds distinct strings, but make sure a "married" name differs from the birth name.
    married &= np.asarray(pc.not_equal(nom, birth_name))
    cols["nom"] = pc.if_else(pa.array(married), nom, birth_name)
    cols["nom_naissance"] = _mask_nulls(birth_name, married)

    years, months, days = _dates(rng, n)
    cols["date_naissance"] = _strings(
        _digits(days, 2), _lit(n, "/"), _digits(months, 2), _lit(n, "/"), _digits(years, 4)
    )

    # Email from the names, accents stripped.
    fg = _take(pools.given.folded, g1)
    fi = _take(pools.given.initial, g1)
    ff = _take(pools.family.folded, nom_f)
    yy = _strings(_digits(years % 100, 2))
    yyyy = _strings(_digits(years, 4))
    rnd = pc.cast(pa.array(rng.integers(1, 1000, n)), pa.string())
    # Local part = first + separator + second + suffix, per a layout drawn for each row.
    layout = _weighted(rng, n, [w for *_, w in _EMAIL_LAYOUTS])
    table = np.array([spec_[:4] for spec_ in _EMAIL_LAYOUTS], dtype=np.int64)
    parts_by_name = {"given": fg, "initial": fi, "family": ff}
    names = ("given", "initial", "family")
    first_part = _pick(table[layout, 0], *(parts_by_name[k] for k in names))
    second_part = _pick(table[layout, 2], *(parts_by_name[k] for k in names))
    separator = _take(pa.array(_EMAIL_SEPARATORS), table[layout, 1])
    suffix = _pick(
        table[layout, 3],
        pa.nulls(n, pa.string()),
        yy,
        rnd,
        _join(".", yyyy),
    )
    local = pc.binary_join_element_wise(
        first_part, separator, second_part, suffix, "", null_handling="replace"
    )
    domain = _take(pools.domains, rng.choice(len(pools.domain_p), size=n, p=pools.domain_p))
    cols["email"] = _join(local, "@", domain)

    ids = first_id + np.cumsum(generator.integers(1, 40, n)).astype(np.int64)
    login_digits = pc.cast(pa.array(account.integers(1, 10_000, n)), pa.string())
    cols["login"] = pc.if_else(
        pa.array(account.random(n) < 0.45), cols["email"], _join(fi, ff, login_digits)
    )

    phone, national = _phones(rng, n)
    cols["telephone"] = _mask_nulls(phone, rng.random(n) < PHONE_SHARE)
    cols["_phone_national"] = national

    has_address = rng.random(n) < ADDRESS_SHARE
    number = np.minimum(rng.geometric(0.04, n), 250)
    number_s = pc.cast(pa.array(number), pa.string())
    number_s = _pick(
        _weighted(rng, n, [95, 4, 1]), number_s, _join(number_s, " bis"), _join(number_s, " ter")
    )
    sep = pc.if_else(pa.array(rng.random(n) < 0.1), ", ", " ")
    street = _take(pools.streets, rng.integers(0, pools.street_count, n))
    cols["adresse"] = _mask_nulls(_join(number_s, sep, street), has_address)
    commune = rng.integers(0, len(pools.postcodes), n)
    cols["code_postal"] = _mask_nulls(_take(pools.postcodes, commune), has_address)
    cols["ville"] = _mask_nulls(_take(pools.cities, commune), has_address)

    if spec.with_documents:
        cols.update(_documents(rng, n, female, years, months))

    chunk = _Chunk(columns=cols, ids=ids, broken=[], malformed=plan.malformed, duplicates=[])
    _apply_duplicates(chunk, plan.duplicates)
    _apply_broken(chunk, generator, plan.broken, years)
    del cols["_phone_national"]
    cols["id_compte"] = pc.cast(pa.array(chunk.ids), pa.string())
    return chunk
