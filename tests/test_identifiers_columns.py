"""Column canonicalisation: the vectorised fast paths must equal the per-value canonicalisers."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_identifiers_contact import ACCOUNT_IDS, EMAILS, PHONES, padded, phones, realistic_emails
from test_identifiers_lookalikes import spoofed
from verrou.errors import InvalidIdentifier
from verrou.identifiers import columns, documents
from verrou.identifiers.columns import ColumnResult, canonicalise_column
from verrou.identifiers.contact import canonical_account_id, canonical_email, canonical_phone
from verrou.identifiers.kinds import Kind

PER_VALUE: dict[Kind, Callable[[str], str]] = {
    Kind.EMAIL: canonical_email,
    Kind.PHONE: canonical_phone,
    Kind.ACCOUNT_ID: lambda raw: canonical_account_id("ants", raw),
}


def reference(
    kind: Kind, values: Sequence[str | None]
) -> tuple[list[str | None], list[tuple[int, str]]]:
    """What canonicalise_column must return, computed value by value."""
    canonical: list[str | None] = []
    errors: list[tuple[int, str]] = []
    for index, raw in enumerate(values):
        if raw is None or not raw.strip():
            canonical.append(None)
            continue
        try:
            canonical.append(PER_VALUE[kind](raw))
        except InvalidIdentifier as exc:
            canonical.append(None)
            errors.append((index, exc.reason))
    return canonical, errors


def run(kind: Kind, values: Sequence[str | None]) -> ColumnResult:
    namespace = "ants" if kind is Kind.ACCOUNT_ID else None
    result = canonicalise_column(kind, pa.array(values, pa.string()), namespace=namespace)
    assert result.canonical.type == pa.string()
    assert len(result.canonical) == len(values)
    return result


def assert_matches_reference(kind: Kind, values: Sequence[str | None]) -> None:
    result = run(kind, values)
    expected_canonical, expected_errors = reference(kind, values)
    got = result.canonical.to_pylist()
    for index, (raw, want, have) in enumerate(zip(values, expected_canonical, got, strict=True)):
        assert have == want, (index, raw)
    assert result.errors == expected_errors


# --------------------------------------------------------------------------------------------
# Fast path == per-value, on generated data
# --------------------------------------------------------------------------------------------

_BLANKS = st.sampled_from([None, "", " ", "\t\n", "\u00a0", "\u3000 "])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(EMAILS | spoofed(realistic_emails()) | _BLANKS, max_size=40))
def test_email_column_equals_per_value(values: list[str | None]) -> None:
    assert_matches_reference(Kind.EMAIL, values)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PHONES | spoofed(phones()) | _BLANKS, max_size=40))
def test_phone_column_equals_per_value(values: list[str | None]) -> None:
    assert_matches_reference(Kind.PHONE, values)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ACCOUNT_IDS | spoofed(ACCOUNT_IDS) | _BLANKS, max_size=40))
def test_account_id_column_equals_per_value(values: list[str | None]) -> None:
    assert_matches_reference(Kind.ACCOUNT_ID, values)


def test_phone_column_equals_per_value_on_every_national_prefix() -> None:
    """Every 3-digit prefix, and every 4-digit one where overseas and mainland ranges meet."""
    rng = random.Random(1789)

    def digits(count: int) -> str:
        return "".join(rng.choice("0123456789") for _ in range(count))

    values: list[str | None] = []
    for prefix in range(100, 1000):
        values += ["0" + str(prefix) + digits(6) for _ in range(2)]
    for head in ("26", "59", "63", "69", "70", "80", "81", "82", "88", "89", "93", "94", "97"):
        values += ["0" + head + f"{p:02d}" + digits(5) for p in range(100)]
    assert_matches_reference(Kind.PHONE, values)


def test_phone_column_equals_per_value_on_every_fast_country_code() -> None:
    rng = random.Random(1848)
    values: list[str | None] = []
    for cc in columns._INTERNATIONAL_FAST_CCS:
        for prefix in range(10, 100):
            for length in (6, 8, 9, 10):
                rest = "".join(rng.choice("0123456789") for _ in range(length - 2))
                values.append(rng.choice(["+", "00"]) + str(cc) + str(prefix) + rest)
    assert_matches_reference(Kind.PHONE, values)


# --------------------------------------------------------------------------------------------
# The fast paths are taken for ordinary data (what makes the throughput)
# --------------------------------------------------------------------------------------------


def test_fast_paths_take_ordinary_french_values() -> None:
    emails = pa.array(["Jean.Dupont@Orange.fr", " marie.martin75@gmail.com ", "l.petit@free.fr"])
    phone_values = pa.array(
        ["06 12 34 56 78", "01.23.45.67.89", "+33 7 81 23 45 67", "0692 12 34 56", "0033612345678"]
    )
    accounts = pa.array(["JDupont", "  user_42 ", "Marie  Martin"])
    assert columns._email_fast(emails).accepted.to_pylist() == [True] * 3
    assert columns._phone_fast(phone_values).accepted.to_pylist() == [True] * 5
    assert columns._account_fast(accounts, "ants").accepted.to_pylist() == [True] * 3


@settings(max_examples=100, deadline=None)
@given(st.lists(padded(realistic_emails()), min_size=1, max_size=20))
def test_email_fast_path_never_accepts_what_email_validator_changes(values: list[str]) -> None:
    fast = columns._email_fast(pa.array(values))
    for raw, accepted, value in zip(
        values, fast.accepted.to_pylist(), fast.canonical.to_pylist(), strict=True
    ):
        if accepted:
            assert canonical_email(raw) == value


@settings(max_examples=100, deadline=None)
@given(st.lists(phones(), min_size=1, max_size=20))
def test_phone_fast_path_accepts_only_valid_numbers(values: list[str]) -> None:
    fast = columns._phone_fast(pa.array(values))
    for raw, accepted, value in zip(
        values, fast.accepted.to_pylist(), fast.canonical.to_pylist(), strict=True
    ):
        if accepted:
            assert canonical_phone(raw) == value


# --------------------------------------------------------------------------------------------
# Shapes of input and output
# --------------------------------------------------------------------------------------------


def test_blank_values_are_null_without_error() -> None:
    for kind in (Kind.EMAIL, Kind.PHONE, Kind.ACCOUNT_ID):
        # \x1c-\x1f are whitespace to str.strip() but not to Arrow's ascii trim (a regression).
        result = run(kind, [None, "", "   ", "\u00a0\t", "\u3000", "\x1f", " \x1c\t"])
        assert result.canonical.to_pylist() == [None] * 7
        assert result.errors == []


def test_errors_are_ascending_and_carry_no_value() -> None:
    values = ["pas un email", "jean@orange.fr", None, "jean@box.local", "x@y", "ok@free.fr"]
    result = run(Kind.EMAIL, values)
    assert result.canonical.to_pylist() == [
        None,
        "jean@orange.fr",
        None,
        None,
        None,
        "ok@free.fr",
    ]
    assert result.errors == [
        (0, "no @ in the address"),
        (3, "domain is a special-use or reserved name"),
        (4, "domain has no dot"),
    ]


def test_phone_column_vectors() -> None:
    values = [
        "0262 12 34 56",
        "0692 12 34 56",
        "0590 12 34 56",
        "+590 590 12 34 56",
        "0696123456",
        "+687 75 12 34",
        "0269 61 23 45",
        "0596 61 23 45",
        "612345678",
    ]
    result = run(Kind.PHONE, values)
    assert result.canonical.to_pylist() == [
        "+262262123456",
        "+262692123456",
        "+590590123456",
        "+590590123456",
        "+596696123456",
        "+687751234",
        "+262269612345",
        "+596596612345",
        None,
    ]
    assert result.errors == [(8, "no country code and no leading 0")]


def test_input_types_and_slices() -> None:
    values = ["06 12 34 56 78", None, "+33 1 23 45 67 89", "07 81 23 45 67"]
    expected = ["+33612345678", None, "+33123456789", "+33781234567"]
    for array in (
        pa.array(values, pa.large_string()),
        pa.array(values).dictionary_encode(),
        pa.chunked_array([values[:2], values[2:]]),
    ):
        assert canonicalise_column(Kind.PHONE, array).canonical.to_pylist() == expected
    sliced = pa.array(["x", *values, "y"])[1:-1]
    assert canonicalise_column(Kind.PHONE, sliced).canonical.to_pylist() == expected
    assert canonicalise_column(Kind.EMAIL, pa.nulls(3)).canonical.to_pylist() == [None] * 3
    # Numbers inferred by a CSV reader lost their leading 0: reported, not guessed.
    inferred = canonicalise_column(Kind.PHONE, pa.array([612345678, None]))
    assert inferred.canonical.to_pylist() == [None, None]
    assert inferred.errors == [(0, "no country code and no leading 0")]
    empty = canonicalise_column(Kind.EMAIL, pa.array([], pa.string()))
    assert len(empty.canonical) == 0 and empty.errors == []


def test_account_id_namespace() -> None:
    values = pa.array(["JDupont", " jdupont "])
    result = canonicalise_column(Kind.ACCOUNT_ID, values, namespace="france-titres")
    assert result.canonical.to_pylist() == ["france-titres:jdupont"] * 2
    with pytest.raises(ValueError, match="namespace"):
        canonicalise_column(Kind.ACCOUNT_ID, values)
    with pytest.raises(InvalidIdentifier):
        canonicalise_column(Kind.ACCOUNT_ID, values, namespace="France Titres")
    with pytest.raises(ValueError, match="namespace"):
        canonicalise_column(Kind.EMAIL, values, namespace="ants")
    with pytest.raises(ValueError, match="single-field"):
        canonicalise_column(Kind.PERSON, values)


_DOCUMENT_SAMPLES: dict[Kind, str] = {
    Kind.NIR: "1 85 05 78 006 084 91",
    Kind.CNI: "X4RTBPFW4",
    Kind.PASSPORT: "18AB12345",
    Kind.DRIVING_LICENCE: "13AA00002",
    Kind.RESIDENCE_PERMIT: "1234567890",
    Kind.IBAN: "FR14 2004 1010 0505 0001 3M02 606",
}


@pytest.mark.parametrize("kind", list(_DOCUMENT_SAMPLES))
def test_document_kinds_go_value_by_value(kind: Kind) -> None:
    per_value: Callable[[str], str] = getattr(documents, columns._DOCUMENT_KINDS[kind])
    sample = _DOCUMENT_SAMPLES[kind]
    try:
        per_value(sample)
    except NotImplementedError:
        pytest.skip(f"verrou.identifiers.documents.{per_value.__name__} is still a stub")
    except InvalidIdentifier:
        pass
    values = [sample, None, " ", "???", sample.lower()]
    result = canonicalise_column(kind, pa.array(values))
    expected: list[str | None] = []
    errors: list[tuple[int, str]] = []
    for index, raw in enumerate(values):
        if raw is None or not raw.strip():
            expected.append(None)
            continue
        try:
            expected.append(per_value(raw))
        except InvalidIdentifier as exc:
            expected.append(None)
            errors.append((index, exc.reason))
    assert result.canonical.to_pylist() == expected
    assert result.errors == errors
