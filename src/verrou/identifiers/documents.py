"""French identity documents, NIR and IBAN: canonical forms and the check digits they carry.

Every canonicaliser takes raw text from a dump and returns the one canonical text of its kind
(ASCII upper case, no separators), or raises :class:`verrou.errors.InvalidIdentifier` with a reason
that says what is wrong without echoing the value. Before any check, every canonicaliser applies the
same normalisation: Unicode NFKC (full-width digits and letters become ASCII), removal of all
whitespace (NBSP and narrow NBSP included), of the separators ``- . / _`` with their Unicode dash
variants, and of every invisible code point (BOM, zero-width space, Hangul fillers, ...: see
:mod:`verrou.identifiers.lookalikes`), then upper case. Version 2: a non-ASCII look-alike of a
letter or digit (Cyrillic К for K, Greek Ρ for P) is read as what it imitates (Unicode TR39
data); one that imitates both a letter and a digit (Cyrillic О: O or 0, Greek Ι: I or 1) is
refused, since either reading may be the real number and guessing wrong would let a frozen
document through. Digits of other scripts are still refused, never read.

Only the NIR and the IBAN carry check digits outside a machine-readable zone; the CNI, passport,
driving licence and residence permit numbers are checked for shape only. :func:`mrz_check_digit`
and :func:`rib_key` are exposed for the MRZ reader and for tests.

Character classes are spelled ``[0-9]`` and ``[A-Z]``, never ``\\d`` or ``str.isdigit``: those
accept Arabic-Indic or superscript digits that NFKC keeps and ``int()`` would silently read.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from stdnum import numdb
from stdnum.fr import nir as stdnum_nir

from verrou.errors import InvalidIdentifier
from verrou.identifiers.kinds import Kind
from verrou.identifiers.lookalikes import (
    DOCUMENT_TARGET,
    DROP_INVISIBLE,
    ambiguous_lookalikes,
    fold_lookalikes,
)

__all__ = [
    "MAX_RAW_LENGTH",
    "canonical_cni",
    "canonical_driving_licence",
    "canonical_iban",
    "canonical_nir",
    "canonical_passport",
    "canonical_residence_permit",
    "mrz_check_digit",
    "nir_notes",
    "rib_key",
]

#: Longer raw values are rejected before any Unicode work, so a hostile cell costs nothing.
#: The longest identifier here is a 34-character IBAN; 200 leaves room for generous spacing.
MAX_RAW_LENGTH = 200

# Every character for which str.isspace() is true (pinned by a test), so that whitespace removal
# does not depend on str.split() and can be one translate() call.
_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)
# Separators seen in exports, with the dashes word processors substitute for "-", and invisible
# characters (BOM on the first cell of a file, zero-width spaces from web copies, soft hyphen).
_SEPARATORS = "-./_\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u00ad\u200b\u200c\u200d\u2060\ufeff"
# Every invisible code point (Default_Ignorable_Code_Point and Cf, from Unicode data) goes too.
_STRIP_TABLE = {**DROP_INVISIBLE, **str.maketrans("", "", _WHITESPACE + _SEPARATORS)}
_AMBIGUOUS = ambiguous_lookalikes(DOCUMENT_TARGET)
_LONGEST_CANONICAL = 34  # an IBAN of the longest registry layout
_AMBIGUOUS_REASON = "look-alike character that could be read as a letter or as a digit"
# Fast path for pure-ASCII input (nearly all of a dump): bytes.translate with a delete set.
_ASCII_STRIP = "".join(c for c in _WHITESPACE + _SEPARATORS if c.isascii()).encode("ascii")

_NIR_RE = re.compile(r"[0-9]{5}(?:[0-9]{2}|2[AB])[0-9]{8}")
_ALNUM_RE = re.compile(r"[A-Z0-9]+")
_CNI_OLD_RE = re.compile(r"[0-9]{4}[A-Z0-9]{3}[0-9]{5}")
# Passport and EU driving licence card share this shape; the column says which one it is.
_BOOK_RE = re.compile(r"[0-9]{2}[A-Z]{2}[0-9]{5}")
_LICENCE_PAPER_RE = re.compile(r"[0-9]{4}(?:[0-9]{2}|2[AB])[0-9]{6}")
_IBAN_HEAD_RE = re.compile(r"[A-Z]{2}[0-9]{2}")
_BBAN_TOKEN_RE = re.compile(r"([1-9][0-9]*)!([nac])")
_RIB_CODE_RE = re.compile(r"[0-9]{5}")
_RIB_ACCOUNT_RE = re.compile(r"[A-Z0-9]{11}")

_MONTHS = frozenset(f"{m:02d}" for m in range(1, 13))

# Departments that issued old paper licences, as the two characters the 12-character number has
# room for: metropolitan 01-95 (20 kept for numbers issued before the 1976 split of Corsica), 2A
# and 2B, and 97 for the overseas departments (971-976), whose third digit can only fall into the
# serial. 00, 96, 98 and 99 are rejected: no prefecture issued licences under those codes.
_LICENCE_DEPARTMENTS = frozenset({f"{d:02d}" for d in range(1, 96)} | {"2A", "2B", "97"})

# IBAN country codes whose BBAN is the French RIB (bank 5, branch 5, account 11, RIB key 2).
# The SWIFT IBAN registry lists only FR and MC with this layout: the overseas departments and
# territories (GF, GP, MQ, RE, YT, PF, NC, TF, BL, MF, PM, WF) are covered by FR and have no IBAN
# prefix of their own (their codes appear only in BICs), so they are rejected, with a hint.
_RIB_COUNTRIES = frozenset({"FR", "MC"})
_FRENCH_TERRITORIES = frozenset(
    {"GF", "GP", "MQ", "RE", "YT", "PF", "NC", "TF", "BL", "MF", "PM", "WF"}
)

# RIB letters: A/J→1, B/K/S→2, C/L/T→3, D/M/U→4, E/N/V→5, F/O/W→6, G/P/X→7, H/Q/Y→8, I/R/Z→9.
# A bytes table: bytes.translate is several times faster than str.translate with a dict.
_RIB_LETTERS = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"12345678912345678923456789")
# ISO 13616: A=10 ... Z=35 before the mod-97.
_IBAN_DIGITS: dict[str, str] = {chr(65 + i): str(10 + i) for i in range(26)}
_IBAN_DIGITS.update({str(i): str(i) for i in range(10)})

_MRZ_VALUES: dict[str, int] = {c: i for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}
_MRZ_VALUES["<"] = 0
_MRZ_WEIGHTS = (7, 3, 1)


class _IbanLayout(NamedTuple):
    length: int
    bban: re.Pattern[str]
    structure: str
    country_digits: str  # the country code as ISO 13616 digits, moved to the end for the mod-97


_IBAN_REGISTRY = numdb.get("iban")
# Filled lazily; at most 26 × 26 entries since the key is checked to be two ASCII letters first.
_IBAN_LAYOUTS: dict[str, _IbanLayout | None] = {}


def _iban_layout(country: str) -> _IbanLayout | None:
    """The registry layout of an IBAN country, from python-stdnum's copy of the SWIFT registry."""
    try:
        return _IBAN_LAYOUTS[country]
    except KeyError:
        pass
    layout: _IbanLayout | None = None
    structure = _IBAN_REGISTRY.info(country)[0][1].get("bban", "")
    tokens = _BBAN_TOKEN_RE.findall(structure)
    # Only accept a structure we parse completely; anything else would be guessed.
    if tokens and "".join(f"{n}!{t}" for n, t in tokens) == structure:
        classes = {"n": "[0-9]", "a": "[A-Z]", "c": "[A-Z0-9]"}
        pattern = "".join(f"{classes[t]}{{{n}}}" for n, t in tokens)
        length = 4 + sum(int(n) for n, _ in tokens)
        country_digits = _IBAN_DIGITS[country[0]] + _IBAN_DIGITS[country[1]]
        layout = _IbanLayout(length, re.compile(pattern), structure, country_digits)
    _IBAN_LAYOUTS[country] = layout
    return layout


def _normalise(kind: Kind, raw: str) -> str:
    """Apply the common normalisation, or raise for non-text, over-long or empty input."""
    if not isinstance(raw, str):
        raise InvalidIdentifier(kind, "not text")
    if len(raw) > MAX_RAW_LENGTH:
        raise InvalidIdentifier(kind, f"longer than {MAX_RAW_LENGTH} characters")
    if raw.isascii():
        text = raw.encode("ascii").translate(None, _ASCII_STRIP).upper().decode("ascii")
    else:
        text = unicodedata.normalize("NFKC", raw).translate(_STRIP_TABLE).upper()
        # (Longer text is refused for its length by the kind's own check, as before.)
        if len(text) <= _LONGEST_CANONICAL and not _AMBIGUOUS.isdisjoint(map(ord, text)):
            raise InvalidIdentifier(kind, _AMBIGUOUS_REASON)
        text = fold_lookalikes(text, DOCUMENT_TARGET).upper()
    if not text:
        raise InvalidIdentifier(kind, "empty")
    return text


def _require_alnum(kind: Kind, text: str) -> None:
    if _ALNUM_RE.fullmatch(text) is None:
        raise InvalidIdentifier(kind, "contains characters other than letters A-Z and digits 0-9")


def _check_dated(kind: Kind, text: str, shape: re.Pattern[str], wrong_shape: str) -> None:
    """The checks of the old 12-character numbers (CNI to 2021, paper driving licence): their
    ``shape`` (``wrong_shape`` says it when it does not match), then the month of the issue
    date YYMM they start with."""
    if shape.fullmatch(text) is None:
        raise InvalidIdentifier(kind, wrong_shape)
    month = text[2:4]
    if month not in _MONTHS:
        raise InvalidIdentifier(kind, f"month {month} is not 01-12")


def canonical_nir(raw: str) -> str:
    """Canonical French NIR (social security number): 15 characters, 13 plus the 2-digit key.

    The key is 97 − (n mod 97) with Corsica 2A → 19 and 2B → 18 substituted before the mod; 2A and
    2B stay letters in the canonical form. A correct key is enough: numbers with unusual parts
    (months 20, 30–42, 50+; first digit 3, 4, 7 or 8 for temporary numbers) exist in real data and
    are accepted; :func:`nir_notes` says which parts are unusual.
    """
    text = _normalise(Kind.NIR, raw)
    if len(text) != 15:
        raise InvalidIdentifier(
            Kind.NIR, f"expected 15 characters (13 and a 2-digit key), got {len(text)}"
        )
    if _NIR_RE.fullmatch(text) is None:
        raise InvalidIdentifier(
            Kind.NIR, "expected digits only, with 2A or 2B allowed as the department"
        )
    expected = stdnum_nir.calc_check_digits(text)
    if text[13:] != expected:
        raise InvalidIdentifier(Kind.NIR, f"NIR key is {text[13:]}, expected {expected}")
    return text


def nir_notes(raw: str) -> tuple[str, ...]:
    """What is unusual about a valid NIR (empty when nothing is), for ingest reports.

    Raises ``InvalidIdentifier`` like :func:`canonical_nir` when the NIR is not valid.
    """
    text = canonical_nir(raw)
    notes: list[str] = []
    first, month = text[0], text[3:5]
    if first in "3478":
        notes.append(f"temporary number (first digit {first})")
    elif first not in "12":
        notes.append(f"unusual first digit {first}")
    if month not in _MONTHS:
        notes.append(f"month {month} is not a calendar month")
    return tuple(notes)


def canonical_cni(raw: str) -> str:
    """Canonical French national identity card number.

    Old card (to August 2021): 12 characters, issue year and month (YYMM, month checked), a
    3-character office code of letters or digits, a 5-digit serial, e.g. ``970675K00277``.
    CNIe (since August 2021): 9 letters or digits, e.g. ``X4RTBPFW4``. Neither carries a check digit
    outside the MRZ, so only the shape is checked.
    """
    text = _normalise(Kind.CNI, raw)
    length = len(text)
    if length == 9:
        _require_alnum(Kind.CNI, text)
        return text
    if length == 12:
        _check_dated(
            Kind.CNI,
            text,
            _CNI_OLD_RE,
            "a 12-character CNI is 4 digits, 3 letters or digits, then 5 digits",
        )
        return text
    raise InvalidIdentifier(Kind.CNI, f"expected 9 or 12 characters, got {length}")


def _canonical_booklet(kind: Kind, text: str) -> str:
    """Shared shape of passports and EU licence cards: 2 digits, 2 letters, 5 digits."""
    if _BOOK_RE.fullmatch(text) is None:
        raise InvalidIdentifier(kind, "expected 2 digits, 2 letters, then 5 digits")
    return text


def canonical_passport(raw: str) -> str:
    """Canonical French passport number: 2 digits, 2 letters, 5 digits (``18AB12345``)."""
    text = _normalise(Kind.PASSPORT, raw)
    if len(text) != 9:
        raise InvalidIdentifier(Kind.PASSPORT, f"expected 9 characters, got {len(text)}")
    return _canonical_booklet(Kind.PASSPORT, text)


def canonical_driving_licence(raw: str) -> str:
    """Canonical French driving licence number.

    EU card (since 2013): the passport shape, ``13AA00002``. Old paper licence: 12 characters,
    issue YYMM (month checked), a 2-character department (01–95, 2A, 2B, or 97 for the overseas
    departments) and 6 digits. The department set is deliberately conservative; see the module
    constants for why 00, 96, 98 and 99 are rejected.
    """
    text = _normalise(Kind.DRIVING_LICENCE, raw)
    length = len(text)
    if length == 9:
        return _canonical_booklet(Kind.DRIVING_LICENCE, text)
    if length == 12:
        _check_dated(
            Kind.DRIVING_LICENCE,
            text,
            _LICENCE_PAPER_RE,
            "a 12-character licence is 4 digits, a department (digits, 2A or 2B), 6 digits",
        )
        department = text[4:6]
        if department not in _LICENCE_DEPARTMENTS:
            raise InvalidIdentifier(
                Kind.DRIVING_LICENCE, f"department {department} did not issue licences"
            )
        return text
    raise InvalidIdentifier(Kind.DRIVING_LICENCE, f"expected 9 or 12 characters, got {length}")


def canonical_residence_permit(raw: str) -> str:
    """Canonical French residence permit number.

    The format is unconfirmed, so it is treated as opaque: 9 or 10 letters or digits, upper case.
    """
    text = _normalise(Kind.RESIDENCE_PERMIT, raw)
    if not 9 <= len(text) <= 10:
        raise InvalidIdentifier(
            Kind.RESIDENCE_PERMIT, f"expected 9 or 10 characters, got {len(text)}"
        )
    _require_alnum(Kind.RESIDENCE_PERMIT, text)
    return text


def _rib_key(bank: str, branch: str, account: str) -> int:
    # Inputs already match [0-9]{5}, [0-9]{5}, [A-Z0-9]{11}, so they are ASCII.
    digits = int(account) if account.isdigit() else int(account.encode().translate(_RIB_LETTERS))
    return 97 - ((89 * int(bank) + 15 * int(branch) + 3 * digits) % 97)


def rib_key(bank: str, branch: str, account: str) -> int:
    """French RIB key (1–97) of a bank code (5 digits), branch code (5 digits) and account number.

    Key = 97 − ((89·bank + 15·branch + 3·account) mod 97), letters of the account (11 letters or
    digits, upper case) mapped A/J→1, B/K/S→2, C/L/T→3, D/M/U→4, E/N/V→5, F/O/W→6, G/P/X→7,
    H/Q/Y→8, I/R/Z→9. Raises ``ValueError`` when a part does not have that shape.
    """
    if _RIB_CODE_RE.fullmatch(bank) is None or _RIB_CODE_RE.fullmatch(branch) is None:
        raise ValueError("bank and branch codes must be 5 digits each")
    if _RIB_ACCOUNT_RE.fullmatch(account) is None:
        raise ValueError("account number must be 11 upper-case letters or digits")
    return _rib_key(bank, branch, account)


def _iban_remainder(bban: str, country_digits: str, check: str) -> int:
    """ISO 13616 remainder: BBAN, then country and check digits, letters as 10–35, mod 97."""
    # Most BBANs are all digits (validated ASCII here, so isdigit is exact): skip the letter map.
    if not bban.isdigit():
        bban = "".join([_IBAN_DIGITS[c] for c in bban])
    return int(bban + country_digits + check) % 97


def canonical_iban(raw: str) -> str:
    """Canonical IBAN: compact, upper case, for any country of the SWIFT IBAN registry.

    Checks the country's length and BBAN layout (python-stdnum's copy of the registry) and the
    ISO 13616 check digits (mod 97, and within 02–98 so that each account has one canonical
    form); for FR and MC, whose BBAN is a French RIB, also the RIB key.
    Country-specific national checks other than the RIB key are not applied: python-stdnum's
    (for BE) rejects bank codes missing from a bundled list that ages.
    """
    text = _normalise(Kind.IBAN, raw)
    if _IBAN_HEAD_RE.match(text) is None:
        raise InvalidIdentifier(
            Kind.IBAN, "expected a 2-letter country code then 2 check digits at the start"
        )
    country = text[:2]
    layout = _iban_layout(country)
    if layout is None:
        hint = " (French territories use FR)" if country in _FRENCH_TERRITORIES else ""
        raise InvalidIdentifier(Kind.IBAN, f"country {country} has no IBAN format{hint}")
    if len(text) != layout.length:
        raise InvalidIdentifier(
            Kind.IBAN, f"IBAN length for {country} is {layout.length}, got {len(text)}"
        )
    if layout.bban.fullmatch(text, 4) is None:
        raise InvalidIdentifier(
            Kind.IBAN, f"account part does not match the {country} layout {layout.structure}"
        )
    bban, check = text[4:], text[2:4]
    # ISO 13616 check digits are 98 − r, so 02–98: 00, 01 and 99 also pass the mod-97 (they are
    # 97, 98 and 02 plus or minus 97) and would give one account two canonical forms.
    if not "02" <= check <= "98" or _iban_remainder(bban, layout.country_digits, check) != 1:
        expected = 98 - _iban_remainder(bban, layout.country_digits, "00")
        raise InvalidIdentifier(
            Kind.IBAN, f"IBAN check digits do not match: got {check}, expected {expected:02d}"
        )
    if country in _RIB_COUNTRIES:
        key = _rib_key(text[4:9], text[9:14], text[14:25])
        if int(text[25:27]) != key:
            raise InvalidIdentifier(Kind.IBAN, f"RIB key is {text[25:27]}, expected {key:02d}")
    return text


def mrz_check_digit(s: str) -> int:
    """ICAO 9303 check digit of an MRZ field: 0–9, A–Z = 10–35, ``<`` = 0, weights 7, 3, 1.

    Raises ``ValueError`` naming the position of a character that cannot appear in an MRZ.
    """
    total = 0
    for position, char in enumerate(s):
        value = _MRZ_VALUES.get(char)
        if value is None:
            raise ValueError(f"character {position + 1} is not allowed in an MRZ field")
        total += value * _MRZ_WEIGHTS[position % 3]
    return total % 10
