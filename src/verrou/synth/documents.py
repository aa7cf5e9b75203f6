"""Identity documents with their check digits: CNI, passport, driving licence, NIR (key) and
IBAN (RIB key and ISO 13616 check digits)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from verrou.synth.building import _digits, _Draws, _lit, _mask_nulls, _strings, _weighted
from verrou.synth.pools import _ALNUM, _BANK_CODES, _BIRTH_COUNTRIES, _LETTERS
from verrou.synth.spec import DOCUMENT_SHARES, BoolArray, ByteMatrix, IntArray


def _rib_table() -> npt.NDArray[np.int64]:
    table = np.zeros(256, dtype=np.int64)
    for d in range(10):
        table[48 + d] = d
    for i, letter in enumerate(range(65, 91)):
        # A..I → 1..9, J..R → 1..9, S..Z → 2..9
        table[letter] = i + 1 if i < 9 else (i - 8 if i < 18 else i - 16)
    return table


_RIB_VALUES = _rib_table()
# ISO 7064 mod 97-10 reading: a digit shifts by 10, a letter (A=10 ... Z=35) by 100.
_ISO_MULT = np.where(np.arange(256) >= 65, 100, 10).astype(np.int64)
_ISO_VALUE = np.where(np.arange(256) >= 65, np.arange(256) - 55, np.arange(256) - 48).astype(
    np.int64
)


def _rib_digit_values(chars: ByteMatrix) -> IntArray:
    """RIB transliteration of an ASCII matrix: digits as is, A/J→1, B/K/S→2, ... I/R/Z→9."""
    return _RIB_VALUES[chars]


def _iban_check_digits(bban: str) -> int:
    """ISO 13616 check digits of a French BBAN."""
    numeric = "".join(str(int(ch, 36)) for ch in bban + "FR00")
    return 98 - int(numeric) % 97


def _matrix_to_int(mat: npt.NDArray[Any]) -> IntArray:
    """Digit matrix (values 0-9 per cell) → integers; rows must fit in int64."""
    out = np.zeros(mat.shape[0], dtype=np.int64)
    for col in range(mat.shape[1]):
        out = out * 10 + mat[:, col].astype(np.int64)
    return out


def _iso_mod97(chars: ByteMatrix) -> IntArray:
    """Remainder mod 97 of an alphanumeric matrix read the ISO 7064 way (A=10 ... Z=35)."""
    rem = np.zeros(chars.shape[0], dtype=np.int64)
    for col in range(chars.shape[1]):
        c = chars[:, col]
        rem = (rem * _ISO_MULT[c] + _ISO_VALUE[c]) % 97
    return rem


def _departments() -> tuple[ByteMatrix, IntArray]:
    """Metropolitan departments as (n, 2) chars and their NIR numeric value (2A→19, 2B→18)."""
    codes = [f"{d:02d}" for d in range(1, 96) if d != 20] + ["2A", "2B"]
    mat = np.frombuffer("".join(codes).encode("ascii"), dtype=np.uint8).reshape(-1, 2)
    values = np.array([int(c.replace("2A", "19").replace("2B", "18")) for c in codes])
    return mat.copy(), values.astype(np.int64)


_DEPT_CHARS, _DEPT_VALUES = _departments()


def _documents(
    rng: _Draws, n: int, female: BoolArray, years: IntArray, months: IntArray
) -> dict[str, pa.Array]:
    cols: dict[str, pa.Array] = {}
    dept_i = rng.integers(0, len(_DEPT_VALUES), n)

    # CNI: old 12-char (YYMM + office + serial, issued 1995..Aug 2021) or new 9-alnum CNIe.
    lo = np.maximum(1995, years)
    issue = lo + (rng.random(n) * (2021 - lo + 1)).astype(np.int64)
    old_ok = lo <= 2020
    issue_m = np.where(issue == 2021, rng.integers(1, 8, n), rng.integers(1, 13, n))
    office_char = _ALNUM[rng.integers(0, 36, n)][:, None]
    old_cni = _strings(
        _digits(issue % 100, 2),
        _digits(issue_m, 2),
        _DEPT_CHARS[dept_i],
        office_char,
        _digits(rng.integers(0, 100_000, n), 5),
    )
    new_cni = _strings(_ALNUM[rng.integers(0, 36, (n, 9))])
    cols["numero_cni"] = pc.if_else(pa.array(old_ok & (rng.random(n) < 0.6)), old_cni, new_cni)

    def yy_letters_serial(first: int, last: int) -> pa.Array:
        return _strings(
            _digits(rng.integers(first, last + 1, n), 2),
            _LETTERS[rng.integers(0, 26, (n, 2))],
            _digits(rng.integers(0, 100_000, n), 5),
        )

    cols["passeport"] = yy_letters_serial(6, 25)

    # Driving licence: EU card (same shape as a passport) or old paper YYMM + dept + 6 digits.
    lic_lo = np.maximum(1975, years + 18)
    lic_y = lic_lo + (rng.random(n) * np.maximum(2012 - lic_lo + 1, 1)).astype(np.int64)
    old_licence = _strings(
        _digits(lic_y % 100, 2),
        _digits(rng.integers(1, 13, n), 2),
        _DEPT_CHARS[rng.integers(0, len(_DEPT_VALUES), n)],
        _digits(rng.integers(0, 1_000_000, n), 6),
    )
    use_old = (lic_lo <= 2012) & (rng.random(n) < 0.5)
    cols["permis"] = pc.if_else(pa.array(use_old), old_licence, yy_letters_serial(13, 25))

    cols["nir"] = _nirs(rng, n, female, years, months, dept_i)
    cols["iban"] = _ibans(rng, n)

    for name, share in DOCUMENT_SHARES.items():
        cols[name] = _mask_nulls(cols[name], rng.random(n) < share)
    return cols


def _nirs(
    rng: _Draws,
    n: int,
    female: BoolArray,
    years: IntArray,
    months: IntArray,
    dept_i: IntArray,
) -> pa.Array:
    """Valid NIRs consistent with sex, birth year and month."""
    sex = np.where(female, 2, 1).astype(np.int64)
    place = _weighted(rng, n, [85, 3, 12])  # metropolitan, overseas, abroad
    dept_chars = _DEPT_CHARS[dept_i].copy()
    dept_val = _DEPT_VALUES[dept_i].copy()
    corsica = dept_chars[:, 1] >= 65  # 2A / 2B
    # Corsica was department 20 for people born before 1976.
    old_corsica = corsica & (years < 1976)
    dept_chars[old_corsica] = np.frombuffer(b"20", dtype=np.uint8)
    dept_val[old_corsica] = 20
    commune = rng.integers(1, 900, n)
    overseas_digit = rng.integers(1, 7, n)  # 971..976
    dept_val = np.where(place == 1, 97, np.where(place == 2, 99, dept_val))
    dept_chars = np.where(
        (place == 0)[:, None],
        dept_chars,
        np.where((place == 1)[:, None], _lit(n, "97"), _lit(n, "99")),
    ).astype(np.uint8)
    commune = np.where(
        place == 1,
        overseas_digit * 100 + rng.integers(1, 60, n),
        np.where(
            place == 2,
            np.asarray(_BIRTH_COUNTRIES)[rng.integers(0, len(_BIRTH_COUNTRIES), n)],
            commune,
        ),
    )
    order = rng.integers(1, 1000, n)
    number = (
        sex * 10**12
        + (years % 100) * 10**10
        + months * 10**8
        + dept_val * 10**6
        + commune * 10**3
        + order
    )
    key = 97 - number % 97
    parts = (
        _digits(sex, 1),
        _digits(years % 100, 2),
        _digits(months, 2),
        dept_chars,
        _digits(commune, 3),
        _digits(order, 3),
        _digits(key, 2),
    )
    compact = _strings(*parts)
    sp = _lit(n, " ")
    spaced = _strings(*(x for i, p in enumerate(parts) for x in ((sp, p) if i else (p,))))
    return pc.if_else(pa.array(rng.random(n) < 0.75), compact, spaced)


def _ibans(rng: _Draws, n: int) -> pa.Array:
    """FR IBANs with a correct RIB key and correct ISO 13616 check digits."""
    bank = np.asarray(_BANK_CODES, dtype=np.int64)[rng.integers(0, len(_BANK_CODES), n)]
    branch = rng.integers(0, 100_000, n)
    account = rng.integers(48, 58, size=(n, 11), dtype=np.uint8)
    # Some account numbers carry a letter (as La Banque Postale's do).
    with_letter = rng.random(n) < 0.1
    letter_pos = rng.integers(0, 11, n)
    letters = _LETTERS[rng.integers(0, 26, n)]
    rows = np.nonzero(with_letter)[0]
    account[rows, letter_pos[rows]] = letters[rows]
    acc = _matrix_to_int(_rib_digit_values(account))
    key = 97 - ((89 * bank + 15 * branch + 3 * acc) % 97)
    bban = np.concatenate([_digits(bank, 5), _digits(branch, 5), account, _digits(key, 2)], axis=1)
    check = 98 - _iso_mod97(np.concatenate([bban, _lit(n, "FR00")], axis=1))
    full = np.concatenate([_lit(n, "FR"), _digits(check, 2), bban], axis=1)
    compact = _strings(full)
    sp = _lit(n, " ")
    grouped = _strings(
        *(x for k in range(7) for x in ((sp,) if k else ()) + (full[:, 4 * k : 4 * k + 4],))
    )
    return pc.if_else(pa.array(rng.random(n) < 0.5), compact, grouped)
