"""Deliberate defects: broken cells, malformed records and duplicated (respelled) people."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from verrou.synth.building import _Chunk
from verrou.synth.documents import _iban_check_digits
from verrou.synth.pools import fold_accents
from verrou.synth.spec import DUPLICATE_SHARE, DUPLICATE_VARIANTS, Defect, IntArray, SynthSpec


def _set_cells(arr: pa.Array, updates: dict[int, str]) -> pa.Array:
    """``arr`` with the cells of ``updates`` replaced (concat + take: faster than a mask)."""
    if not updates:
        return arr
    rows = np.fromiter(updates, dtype=np.int64, count=len(updates))
    idx = np.arange(len(arr), dtype=np.int64)
    idx[rows] = len(arr) + np.arange(len(rows), dtype=np.int64)
    extra = pa.array(list(updates.values()), pa.string())
    return pa.concat_arrays([arr, extra]).take(pa.array(idx))


@dataclass
class _SpecialRows:
    """Rows of a chunk chosen to be broken, malformed or duplicated (disjoint sets)."""

    broken: list[int]
    malformed: list[tuple[int, Defect]]
    duplicates: list[tuple[int, int, str]]  # (row, source row, intended variant)


def _plan_specials(spec: SynthSpec, rng: np.random.Generator, n: int) -> _SpecialRows:
    """Choose the broken, malformed and duplicated rows of a chunk; sources are clean rows."""
    n_broken = round(n * spec.broken_share)
    n_dup = round(n * DUPLICATE_SHARE) if n >= 2 else 0
    perm = rng.permutation(n)
    broken = sorted(int(i) for i in perm[:n_broken])
    dups = sorted(int(i) for i in perm[n_broken : n_broken + n_dup] if i > 0)
    n_malformed = 0
    if spec.fmt == "csv" and broken:
        n_malformed = max(1, round(len(broken) * 0.05))
    malformed_set = {int(i) for i in rng.permutation(np.asarray(broken))[:n_malformed]}
    malformed = [
        (i, Defect.MALFORMED_EXTRA_FIELD if rng.random() < 0.5 else Defect.MALFORMED_MISSING_FIELD)
        for i in broken
        if i in malformed_set
    ]
    special = np.zeros(n, dtype=bool)
    special[broken + dups] = True
    clean = np.nonzero(~special)[0]
    duplicates: list[tuple[int, int, str]] = []
    for j in dups:
        pos = int(np.searchsorted(clean, j))
        if pos == 0:
            continue
        source = int(clean[int(rng.integers(0, pos))])
        variant = "exact"
        if rng.random() >= 0.3:
            variant = DUPLICATE_VARIANTS[int(rng.integers(1, len(DUPLICATE_VARIANTS)))]
        duplicates.append((j, source, variant))
    return _SpecialRows(
        broken=[i for i in broken if i not in malformed_set],
        malformed=malformed,
        duplicates=duplicates,
    )


def _apply_duplicates(chunk: _Chunk, plan: list[tuple[int, int, str]]) -> None:
    """Respell the names of duplicated rows (their draws already repeat their source row).

    A variant that changes nothing (no accent to remove, no hyphen) falls back to ``exact``, and
    the row then repeats its source's account id and login too.
    """
    if not plan:
        return
    cols = chunk.columns
    name_cols = ("nom", "nom_naissance", "prenoms")
    rows = pa.array([j for j, _, _ in plan])
    originals = {c: cols[c].take(rows).to_pylist() for c in name_cols}
    name_updates: dict[str, dict[int, str]] = {c: {} for c in name_cols}
    fallback: list[tuple[int, int]] = []
    for k, (j, i, variant) in enumerate(plan):
        if variant != "exact":
            values = {c: originals[c][k] for c in name_cols}
            respelled = _respell(values, variant)
            if respelled == values:
                variant = "exact"
                fallback.append((j, i))
            for c, v in respelled.items():
                if v is not None and v != values[c]:
                    name_updates[c][j] = v
        chunk.duplicates.append((j, i, variant))
    for c, updates in name_updates.items():
        cols[c] = _set_cells(cols[c], updates)
    for j, i, variant in chunk.duplicates:
        if variant == "exact":
            chunk.ids[j] = chunk.ids[i]
    if fallback:
        logins = cols["login"].take(pa.array([i for _, i in fallback])).to_pylist()
        cols["login"] = _set_cells(
            cols["login"], {j: v for (j, _), v in zip(fallback, logins, strict=True)}
        )


def _apply_broken(
    chunk: _Chunk, rng: np.random.Generator, rows: list[int], years: IntArray
) -> None:
    """Break one cell in each of ``rows``, choosing among the defects its present cells allow."""
    if not rows:
        return
    cols = chunk.columns
    picked = pa.array(rows)
    optional = [
        (c, d)
        for c, d in (
            ("telephone", Defect.PHONE_TOO_SHORT),
            ("nir", Defect.NIR_WRONG_KEY),
            ("iban", Defect.IBAN_WRONG_RIB_KEY),
        )
        if c in cols
    ]
    present = {c: cols[c].take(picked).is_valid().to_pylist() for c, _ in optional}
    plan: list[tuple[int, str, Defect]] = []
    for k, i in enumerate(rows):
        options = [
            ("email", Defect.EMAIL_NO_AT),
            ("email", Defect.EMAIL_DOUBLE_DOT),
            ("date_naissance", Defect.DATE_IMPOSSIBLE),
        ]
        options += [(c, d) for c, d in optional if present[c][k]]
        column, defect = options[int(rng.integers(0, len(options)))]
        plan.append((i, column, defect))
    by_column: dict[str, list[tuple[int, Defect]]] = {}
    for i, column, defect in plan:
        source = "_phone_national" if defect == Defect.PHONE_TOO_SHORT else column
        by_column.setdefault(source, []).append((i, defect))
    for source, items in by_column.items():
        values = cols[source].take(pa.array([i for i, _ in items])).to_pylist()
        target = "telephone" if source == "_phone_national" else source
        updates = {
            i: _break(v, d, rng, int(years[i])) for (i, d), v in zip(items, values, strict=True)
        }
        cols[target] = _set_cells(cols[target], updates)
    chunk.broken.extend(plan)


def _respell(values: dict[str, str | None], variant: str) -> dict[str, str | None]:
    def apply(text: str | None, field: str) -> str | None:
        if text is None:
            return None
        if variant == "upper_case":
            return text.upper() if field != "prenoms" else text
        if variant == "lower_case":
            return text.lower()
        if variant == "accents_removed":
            return fold_accents(text)
        if variant == "hyphen_as_space":
            return text.replace("-", " ")
        return text

    return {c: apply(v, c) for c, v in values.items()}


_IMPOSSIBLE_DAYS = ("31/02", "30/02", "31/04", "31/06", "31/09", "31/11")


def _break(value: str, defect: Defect, rng: np.random.Generator, year: int) -> str:
    """An invalid variant of ``value`` for ``defect``; never accidentally valid."""
    if defect == Defect.EMAIL_NO_AT:
        return value.replace("@", "", 1)
    if defect == Defect.EMAIL_DOUBLE_DOT:
        local, _, domain = value.partition("@")
        if "." in local:
            local = local.replace(".", "..", 1)
        else:
            cut = int(rng.integers(1, len(local))) if len(local) > 1 else 1
            local = f"{local[:cut]}..{local[cut:]}"
        return f"{local}@{domain}"
    if defect == Defect.DATE_IMPOSSIBLE:
        options = list(_IMPOSSIBLE_DAYS)
        if not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
            options.append("29/02")
        return f"{options[int(rng.integers(0, len(options)))]}/{year:04d}"
    if defect == Defect.PHONE_TOO_SHORT:
        digits = value[: 10 - int(rng.integers(1, 3))]
        if rng.random() < 0.5:
            return digits
        return " ".join(digits[k : k + 2] for k in range(0, len(digits), 2))
    if defect == Defect.NIR_WRONG_KEY:
        key = int(value[-2:])
        wrong = (key - 1 + int(rng.integers(1, 97))) % 97 + 1
        return f"{value[:-2]}{wrong:02d}"
    if defect == Defect.IBAN_WRONG_RIB_KEY:
        grouped = " " in value
        compact = value.replace(" ", "")
        bban = compact[4:]
        key = int(bban[-2:])
        wrong = (key - 1 + int(rng.integers(1, 97))) % 97 + 1
        bban = f"{bban[:-2]}{wrong:02d}"
        # Keep the ISO check digits right, so only the RIB key gives the defect away.
        iban = f"FR{_iban_check_digits(bban):02d}{bban}"
        if grouped:
            return " ".join(iban[k : k + 4] for k in range(0, len(iban), 4))
        return iban
    raise ValueError(f"unknown defect {defect!r}")
