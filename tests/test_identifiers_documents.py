"""Canonicalisers of French documents, NIR and IBAN: vectors, hostile inputs and properties.

Check digits in generated values are computed here by independent formulas (or by python-stdnum
as an oracle), never by the functions under test.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from stdnum import iban as stdnum_iban
from stdnum.fr import nir as stdnum_nir

from verrou.errors import InvalidIdentifier
from verrou.identifiers.documents import (
    MAX_RAW_LENGTH,
    canonical_cni,
    canonical_driving_licence,
    canonical_iban,
    canonical_nir,
    canonical_passport,
    canonical_residence_permit,
    mrz_check_digit,
    nir_notes,
    rib_key,
)
from verrou.identifiers.kinds import Kind

Canonicaliser = Callable[[str], str]

CANONICALISERS: dict[Kind, Canonicaliser] = {
    Kind.NIR: canonical_nir,
    Kind.CNI: canonical_cni,
    Kind.PASSPORT: canonical_passport,
    Kind.DRIVING_LICENCE: canonical_driving_licence,
    Kind.RESIDENCE_PERMIT: canonical_residence_permit,
    Kind.IBAN: canonical_iban,
}

HOSTILE_DIR = Path(__file__).parent / "data" / "hostile" / "documents"


# --- independent oracles ---------------------------------------------------------------------


def nir_key(first13: str) -> str:
    """NIR key by the published rule, Corsica substituted before the mod."""
    digits = first13[:5] + {"2A": "19", "2B": "18"}.get(first13[5:7], first13[5:7]) + first13[7:]
    return f"{97 - int(digits) % 97:02d}"


_RIB_MAP = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "12345678912345678923456789", strict=True))


def rib_key_by_concatenation(bank: str, branch: str, account: str) -> int:
    """RIB key as the mod-97 complement of bank ‖ branch ‖ account ‖ 00 (same rule, other form)."""
    mapped = "".join(_RIB_MAP.get(c, c) for c in account)
    return 97 - (int(bank + branch + mapped) * 100) % 97


def with_iso_check_digits(country: str, bban: str) -> str:
    return country + stdnum_iban.calc_check_digits(country + "00" + bban) + bban


def normalised(raw: str) -> str:
    """The brief's normalisation, written independently: NFKC, no whitespace/separators, upper."""
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(c for c in text if not c.isspace() and c not in "-./_")
    return text.upper()


def assert_private_rejection(err: InvalidIdentifier, kind: Kind, raw: str) -> None:
    """The error names its kind and echoes no 6-character run of the normalised input.

    The raw input itself is not searched: lower-case text such as "acters" occurs in any sentence
    about characters, while the normalised (upper-case, unspaced) form cannot occur by accident.
    """
    assert err.kind == kind
    message = str(err)
    assert err.reason in message
    text = normalised(raw)
    for start in range(len(text) - 5):
        assert text[start : start + 6] not in message


# --- vectors: NIR ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("2 95 10 99 126 111 93", "295109912611193"),  # REFERENCE / python-stdnum example
        ("2-95-10-99-126-111-93", "295109912611193"),  # stdnum's compact keeps "-"; ours does not
        ("2.95.10.99.126.111.93", "295109912611193"),
        ("253072B07300470", "253072B07300470"),  # Haute-Corse
        ("253072a07300443", "253072A07300443"),  # Corse-du-Sud, lower case
        ("185062A00412372", "185062A00412372"),
        ("285062B00532115", "285062B00532115"),
        ("785079912345630", "785079912345630"),  # temporary number, first digit 7
        ("801019900100659", "801019900100659"),  # temporary number, first digit 8
        ("392054212345636", "392054212345636"),  # first digit 3
        ("402022012300657", "402022012300657"),  # first digit 4, department 20 (pre-1976 Corsica)
        ("402207512300624", "402207512300624"),  # first digit 4, month 20
        ("185207512345622", "185207512345622"),  # month 20
        ("280359912311652", "280359912311652"),  # month 35
        ("185581305512618", "185581305512618"),  # month 58
    ],
)
def test_nir_accepts(raw: str, canonical: str) -> None:
    assert canonical_nir(raw) == canonical


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("295109912611199", "NIR key is 99, expected 93"),
        ("185062A00412320", "NIR key is 20, expected 72"),
        # Same digits with 2B instead of 2A: the key must follow the department substitution.
        ("185062B00412372", "NIR key is 72, expected 02"),
        ("2951099126111", "expected 15 characters (13 and a 2-digit key), got 13"),
        ("29510991261119300", "expected 15 characters (13 and a 2-digit key), got 17"),
        ("253072C07300443", "expected digits only, with 2A or 2B allowed as the department"),
        ("2A3072007300443", "expected digits only, with 2A or 2B allowed as the department"),
        ("", "empty"),
        (" \u00a0-./_\u202f\t", "empty"),
    ],
)
def test_nir_rejects(raw: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        canonical_nir(raw)
    assert info.value.kind == Kind.NIR
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("raw", "notes"),
    [
        ("295109912611193", ()),
        ("785079912345630", ("temporary number (first digit 7)",)),
        (
            "402207512300624",
            ("temporary number (first digit 4)", "month 20 is not a calendar month"),
        ),
        ("280359912311652", ("month 35 is not a calendar month",)),
    ],
)
def test_nir_notes_say_what_is_unusual(raw: str, notes: tuple[str, ...]) -> None:
    assert nir_notes(raw) == notes


def test_nir_notes_reject_like_the_canonicaliser() -> None:
    with pytest.raises(InvalidIdentifier, match="NIR key is 99, expected 93"):
        nir_notes("295109912611199")


# --- vectors: documents ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "raw", "canonical"),
    [
        (canonical_cni, "970675K00277", "970675K00277"),  # REFERENCE old CNI
        (canonical_cni, "97 06 75k 00277", "970675K00277"),
        (canonical_cni, "X4RTBPFW4", "X4RTBPFW4"),  # ANTS CNIe specimen
        (canonical_cni, "x4rt-bpfw4", "X4RTBPFW4"),
        (canonical_passport, "18AB12345", "18AB12345"),
        (canonical_passport, "18 ab 12345", "18AB12345"),
        (canonical_driving_licence, "13AA00002", "13AA00002"),  # EU card
        (canonical_driving_licence, "850775123456", "850775123456"),  # paper, Paris
        (canonical_driving_licence, "85072a123456", "85072A123456"),  # paper, Corse-du-Sud
        (canonical_driving_licence, "85072B123456", "85072B123456"),
        (canonical_driving_licence, "851220123456", "851220123456"),  # pre-1976 Corsica
        (canonical_driving_licence, "851297123456", "851297123456"),  # overseas department
        (canonical_residence_permit, "AB12345678", "AB12345678"),
        (canonical_residence_permit, "ab 123 456 7", "AB1234567"),
    ],
)
def test_documents_accept(function: Canonicaliser, raw: str, canonical: str) -> None:
    assert function(raw) == canonical


@pytest.mark.parametrize(
    ("function", "raw", "reason"),
    [
        (canonical_cni, "971375K00277", "month 13 is not 01-12"),
        (canonical_cni, "970075K00277", "month 00 is not 01-12"),
        (canonical_cni, "97067500277", "expected 9 or 12 characters, got 11"),
        (
            canonical_cni,
            "9706752K0277",
            "a 12-character CNI is 4 digits, 3 letters or digits, then 5 digits",
        ),
        (canonical_cni, "X4RTBPFW*", "contains characters other than letters A-Z and digits 0-9"),
        (canonical_passport, "18A112345", "expected 2 digits, 2 letters, then 5 digits"),
        (canonical_passport, "ABAB12345", "expected 2 digits, 2 letters, then 5 digits"),
        (canonical_passport, "18AB1234", "expected 9 characters, got 8"),
        (canonical_driving_licence, "13AA0000", "expected 9 or 12 characters, got 8"),
        (canonical_driving_licence, "1AAA00002", "expected 2 digits, 2 letters, then 5 digits"),
        (canonical_driving_licence, "851399123456", "month 13 is not 01-12"),
        (canonical_driving_licence, "850799123456", "department 99 did not issue licences"),
        (canonical_driving_licence, "850700123456", "department 00 did not issue licences"),
        (canonical_driving_licence, "850796123456", "department 96 did not issue licences"),
        (canonical_driving_licence, "850798123456", "department 98 did not issue licences"),
        (
            canonical_driving_licence,
            "85072C123456",
            "a 12-character licence is 4 digits, a department (digits, 2A or 2B), 6 digits",
        ),
        (canonical_residence_permit, "AB123456", "expected 9 or 10 characters, got 8"),
        (canonical_residence_permit, "AB123456789", "expected 9 or 10 characters, got 11"),
        (
            canonical_residence_permit,
            "AB1234567É",
            "contains characters other than letters A-Z and digits 0-9",
        ),
    ],
)
def test_documents_reject(function: Canonicaliser, raw: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        function(raw)
    assert info.value.reason == reason


# --- vectors: IBAN ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("FR14 2004 1010 0505 0001 3M02 606", "FR1420041010050500013M02606"),  # REFERENCE
        ("fr14-2004-1010-0505-0001-3m02-606", "FR1420041010050500013M02606"),
        ("FR76 3000 4000 0312 3456 7890 143", "FR7630004000031234567890143"),
        ("MC58 1122 2000 0101 2345 6789 030", "MC5811222000010123456789030"),  # registry example
        ("DE89370400440532013000", "DE89370400440532013000"),
        ("GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432"),
        ("GB97AAAA94364110751374", "GB97AAAA94364110751374"),
    ],
)
def test_iban_accepts(raw: str, canonical: str) -> None:
    assert canonical_iban(raw) == canonical


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        # RIB key changed 06 → 07, ISO check digits recomputed: mod-97 passes, the RIB key does not.
        ("FR8420041010050500013M02607", "RIB key is 07, expected 06"),
        ("FR1520041010050500013M02606", "IBAN check digits do not match: got 15, expected 14"),
        ("FR1420041010050500013M02607", "IBAN check digits do not match: got 14, expected 84"),
        ("DE88370400440532013000", "IBAN check digits do not match: got 88, expected 89"),
        # 00 passes the bare mod-97 where 97 is right (found by hypothesis); ISO allows 02-98 only.
        ("GB00AAAA94364110751374", "IBAN check digits do not match: got 00, expected 97"),
        ("GB99WEST12345698760082", "IBAN check digits do not match: got 99, expected 02"),
        ("GB01WEST12345698760003", "IBAN check digits do not match: got 01, expected 98"),
        ("FR1420041010050500013M0260", "IBAN length for FR is 27, got 26"),
        ("DE893704004405320130001", "IBAN length for DE is 22, got 23"),
        ("FR14A0041010050500013M02606", "account part does not match the FR layout 5!n5!n11!c2!n"),
        ("GB82WE5T12345698765432", "account part does not match the GB layout 4!a6!n8!n"),
        (
            "GP1420041010050500013M02606",
            "country GP has no IBAN format (French territories use FR)",
        ),
        ("ZZ1420041010050500013M02606", "country ZZ has no IBAN format"),
        (
            "1420041010050500013M02606",
            "expected a 2-letter country code then 2 check digits at the start",
        ),
        (
            "FRXX20041010050500013M02606",
            "expected a 2-letter country code then 2 check digits at the start",
        ),
        ("F", "expected a 2-letter country code then 2 check digits at the start"),
    ],
)
def test_iban_rejects(raw: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        canonical_iban(raw)
    assert info.value.kind == Kind.IBAN
    assert info.value.reason == reason


def test_iban_with_wrong_rib_key_passes_mod_97_but_is_rejected() -> None:
    bban = "20041010050500013M026" + "07"
    constructed = with_iso_check_digits("FR", bban)
    assert stdnum_iban.is_valid(constructed, check_country=False)  # ISO layer is satisfied
    with pytest.raises(InvalidIdentifier) as info:
        canonical_iban(constructed)
    assert info.value.reason == "RIB key is 07, expected 06"


# --- vectors: check digit helpers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "digit"),
    [
        # ICAO 9303 part 4 specimen passport (TD3), Utopia.
        ("L898902C3", 6),
        ("740812", 2),
        ("120415", 9),
        ("ZE184226B<<<<<", 1),
        ("L898902C36" + "7408122" + "1204159" + "ZE184226B<<<<<1", 0),  # composite
        # ICAO 9303 part 5 specimen TD1 card: document number and composite.
        ("D23145890", 7),
        ("D231458907<<<<<<<<<<<<<<<" + "7408122" + "1204159" + "<<<<<<<<<<<", 6),
        ("", 0),
        ("<<<", 0),
    ],
)
def test_mrz_check_digit(field: str, digit: int) -> None:
    assert mrz_check_digit(field) == digit


@pytest.mark.parametrize("field", ["l898902C3", "L898 902", "L898-902", "É"])
def test_mrz_check_digit_refuses_characters_outside_the_mrz(field: str) -> None:
    with pytest.raises(ValueError, match="not allowed in an MRZ field"):
        mrz_check_digit(field)


@pytest.mark.parametrize(
    ("bank", "branch", "account", "key"),
    [
        ("20041", "01005", "0500013M026", 6),
        ("30004", "00003", "12345678901", 43),
        ("11222", "00001", "01234567890", 30),
    ],
)
def test_rib_key_vectors(bank: str, branch: str, account: str, key: int) -> None:
    assert rib_key(bank, branch, account) == key
    assert rib_key_by_concatenation(bank, branch, account) == key


@pytest.mark.parametrize(
    ("bank", "branch", "account"),
    [
        ("2004", "01005", "0500013M026"),
        ("20041", "0100A", "0500013M026"),
        ("20041", "01005", "0500013m026"),
    ],
)
def test_rib_key_refuses_malformed_parts(bank: str, branch: str, account: str) -> None:
    with pytest.raises(ValueError):
        rib_key(bank, branch, account)


# --- common normalisation ---------------------------------------------------------------------


def test_every_unicode_whitespace_is_removed() -> None:
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    assert "\u00a0" in spaces and "\u202f" in spaces
    for space in spaces:
        assert canonical_passport(f"{space}18AB{space}12345{space}") == "18AB12345"


def test_length_cap_applies_to_the_raw_input() -> None:
    padded = "18AB12345".center(MAX_RAW_LENGTH)
    assert canonical_passport(padded) == "18AB12345"
    with pytest.raises(InvalidIdentifier) as info:
        canonical_passport(padded + " ")
    assert info.value.reason == f"longer than {MAX_RAW_LENGTH} characters"


@pytest.mark.parametrize("kind", list(CANONICALISERS))
def test_non_text_is_an_invalid_identifier(kind: Kind) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        CANONICALISERS[kind](None)  # type: ignore[arg-type]
    assert info.value.reason == "not text"


def _hostile_cases() -> list[Path]:
    return sorted(HOSTILE_DIR.glob("*.json"))


def test_hostile_cases_are_present() -> None:
    assert len(_hostile_cases()) >= 10


@pytest.mark.parametrize("path", _hostile_cases(), ids=lambda p: p.stem)
def test_hostile_input(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    kind = Kind(case["kind"])
    function = CANONICALISERS[kind]
    if case["canonical"] is not None:
        assert function(case["raw"]) == case["canonical"]
    else:
        with pytest.raises(InvalidIdentifier) as info:
            function(case["raw"])
        assert case["reason"] in info.value.reason
        assert_private_rejection(info.value, kind, case["raw"])


# --- strategies -------------------------------------------------------------------------------

DIGITS = "0123456789"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def chars(alphabet: str, n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=n, max_size=n)


@st.composite
def nirs(draw: st.DrawFn) -> str:
    department = draw(st.one_of(chars(DIGITS, 2), st.sampled_from(["2A", "2B"])))
    first13 = draw(chars(DIGITS, 5)) + department + draw(chars(DIGITS, 6))
    return first13 + nir_key(first13)


@st.composite
def old_cnis(draw: st.DrawFn) -> str:
    month = draw(st.integers(1, 12))
    office = draw(chars(DIGITS + LETTERS, 3))
    return f"{draw(chars(DIGITS, 2))}{month:02d}{office}{draw(chars(DIGITS, 5))}"


def booklets() -> st.SearchStrategy[str]:
    return st.builds(
        lambda a, b, c: a + b + c, chars(DIGITS, 2), chars(LETTERS, 2), chars(DIGITS, 5)
    )


@st.composite
def paper_licences(draw: st.DrawFn) -> str:
    month = draw(st.integers(1, 12))
    department = draw(
        st.one_of(st.integers(1, 95).map(lambda d: f"{d:02d}"), st.sampled_from(["2A", "2B", "97"]))
    )
    return f"{draw(chars(DIGITS, 2))}{month:02d}{department}{draw(chars(DIGITS, 6))}"


@st.composite
def rib_ibans(draw: st.DrawFn) -> str:
    bank, branch = draw(chars(DIGITS, 5)), draw(chars(DIGITS, 5))
    account = draw(chars(DIGITS + LETTERS, 11))
    key = rib_key_by_concatenation(bank, branch, account)
    country = draw(st.sampled_from(["FR", "MC"]))
    return with_iso_check_digits(country, f"{bank}{branch}{account}{key:02d}")


# A few registry layouts, written out here rather than read from the code under test.
OTHER_LAYOUTS = {
    "DE": [(DIGITS, 18)],
    "GB": [(LETTERS, 4), (DIGITS, 14)],
    "NL": [(LETTERS, 4), (DIGITS, 10)],
    "IT": [(LETTERS, 1), (DIGITS, 10), (DIGITS + LETTERS, 12)],
    "ES": [(DIGITS, 20)],
}


@st.composite
def other_ibans(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(sorted(OTHER_LAYOUTS)))
    bban = "".join(draw(chars(alphabet, n)) for alphabet, n in OTHER_LAYOUTS[country])
    return with_iso_check_digits(country, bban)


VALID: dict[Kind, st.SearchStrategy[str]] = {
    Kind.NIR: nirs(),
    Kind.CNI: st.one_of(old_cnis(), chars(DIGITS + LETTERS, 9)),
    Kind.PASSPORT: booklets(),
    Kind.DRIVING_LICENCE: st.one_of(booklets(), paper_licences()),
    Kind.RESIDENCE_PERMIT: st.one_of(chars(DIGITS + LETTERS, 9), chars(DIGITS + LETTERS, 10)),
    Kind.IBAN: st.one_of(rib_ibans(), other_ibans()),
}

SEPARATORS = ["", "", "", " ", "\u00a0", "\u202f", "-", ".", "/", "_", "\t", "\u3000"]


def full_width(char: str) -> str:
    return chr(ord(char) + 0xFEE0)


@st.composite
def perturbed(draw: st.DrawFn, value: str) -> str:
    """The same identifier as a dump might hold it: spacing, case and full-width forms."""
    parts = [draw(st.sampled_from(SEPARATORS))]
    for char in value:
        variants = [char, char.lower(), full_width(char), full_width(char.lower())]
        parts.append(draw(st.sampled_from(variants)))
        parts.append(draw(st.sampled_from(SEPARATORS)))
    return "".join(parts)


# Near misses reach the deep checks (keys, months, departments) far more often than random text.
NEAR_MISS_ALPHABET = DIGITS + "ABFRKMXZ" + "ab -./_\u00a0\u202f\uff11\uff21\u0662\u00c9\u200b<*"
ARBITRARY = st.one_of(
    st.text(max_size=MAX_RAW_LENGTH + 20),
    st.text(alphabet=NEAR_MISS_ALPHABET, max_size=40),
    # Surrogates, format characters, spaces, digits of other scripts, number forms, dashes.
    st.text(alphabet=st.characters(categories=["Cs", "Cf", "Zs", "Nd", "No", "Pd"]), max_size=30),
)

ALL_KINDS = list(CANONICALISERS)


# --- properties -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
@given(data=st.data())
def test_valid_values_are_canonical_and_idempotent(kind: Kind, data: st.DataObject) -> None:
    value = data.draw(VALID[kind])
    function = CANONICALISERS[kind]
    canonical = function(value)
    assert canonical == value
    assert function(canonical) == canonical


@pytest.mark.parametrize("kind", ALL_KINDS)
@given(data=st.data())
def test_canonical_form_ignores_spacing_case_and_width(kind: Kind, data: st.DataObject) -> None:
    value = data.draw(VALID[kind])
    raw = data.draw(perturbed(value))
    assume(len(raw) <= MAX_RAW_LENGTH)
    assert CANONICALISERS[kind](raw) == value


@pytest.mark.parametrize("kind", ALL_KINDS)
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(raw=ARBITRARY)
def test_arbitrary_text_raises_only_invalid_identifier(kind: Kind, raw: str) -> None:
    function = CANONICALISERS[kind]
    try:
        canonical = function(raw)
    except InvalidIdentifier as err:
        assert_private_rejection(err, kind, raw)
    else:
        assert re.fullmatch(r"[A-Z0-9]+", canonical) is not None
        assert function(canonical) == canonical


@given(
    first13=st.builds(lambda a, b: a + b, chars(DIGITS, 7), chars(DIGITS, 6)), bad=chars(DIGITS, 2)
)
def test_nir_wrong_key_reason_gives_both_keys(first13: str, bad: str) -> None:
    good = nir_key(first13)
    assume(bad != good)
    with pytest.raises(InvalidIdentifier) as info:
        canonical_nir(first13 + bad)
    assert info.value.reason == f"NIR key is {bad}, expected {good}"


@given(raw=st.text(alphabet=DIGITS + "AB", min_size=15, max_size=15))
def test_nir_agrees_with_python_stdnum(raw: str) -> None:
    try:
        canonical_nir(raw)
        ours = True
    except InvalidIdentifier:
        ours = False
    assert ours == stdnum_nir.is_valid(raw)


@given(iban=rib_ibans(), new_key=st.integers(0, 99))
def test_rib_key_is_checked_beyond_mod_97(iban: str, new_key: int) -> None:
    key = int(iban[25:27])
    assume(new_key != key)
    tampered = with_iso_check_digits(iban[:2], f"{iban[4:25]}{new_key:02d}")
    with pytest.raises(InvalidIdentifier) as info:
        canonical_iban(tampered)
    assert info.value.reason == f"RIB key is {new_key:02d}, expected {key:02d}"


@given(iban=st.one_of(rib_ibans(), other_ibans()), check=chars(DIGITS, 2))
def test_iban_wrong_check_digits_are_named(iban: str, check: str) -> None:
    assume(check != iban[2:4])
    with pytest.raises(InvalidIdentifier) as info:
        canonical_iban(iban[:2] + check + iban[4:])
    assert info.value.reason == f"IBAN check digits do not match: got {check}, expected {iban[2:4]}"


@given(
    raw=st.one_of(st.text(alphabet=DIGITS + "FRDEGBMC", min_size=20, max_size=30), other_ibans())
)
def test_iban_accepts_only_what_python_stdnum_accepts(raw: str) -> None:
    try:
        canonical = canonical_iban(raw)
    except InvalidIdentifier:
        # Outside FR/MC our only extra strictness is the ISO range of check digits (02-98).
        if raw[:2] not in {"FR", "MC"} and "02" <= normalised(raw)[2:4] <= "98":
            assert not stdnum_iban.is_valid(raw, check_country=False)
    else:
        assert stdnum_iban.is_valid(canonical, check_country=False)
