"""French postal addresses: canonical form, refusals, and the column-level twin."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_identifiers_lookalikes import spoofed
from verrou.errors import InvalidIdentifier
from verrou.identifiers.address import address_column, canonical_postal_address
from verrou.identifiers.names import fold_name


@pytest.mark.parametrize(
    ("line", "postcode", "city", "canonical"),
    [
        ("12 rue de la Paix", "75002", "Paris", "12|RUEDELAPAIX|75002|PARIS"),
        ("12, R. de la Paix", "75002", "PARIS 2E", "12|RUEDELAPAIX|75002|PARIS"),
        ("12 rue de la Paix 75002 Paris", None, None, "12|RUEDELAPAIX|75002|PARIS"),
        ("12 rue de la Paix, 75002 PARIS CEDEX 02", None, None, "12|RUEDELAPAIX|75002|PARIS"),
        ("12 bis av. du Gal de Gaulle", "1000", "Bourg-en-Bresse", None),
        ("12B AVENUE DU GENERAL DE GAULLE", "01000", "BOURG EN BRESSE", None),
        ("3 T bd St-Michel", "75005", "Paris", "3TER|BOULEVARDSAINTMICHEL|75005|PARIS"),
        (
            "3ter boulevard Saint Michel",
            "75005",
            "Paris 5e",
            "3TER|BOULEVARDSAINTMICHEL|75005|PARIS",
        ),
        ("N° 007 imp. des Lilas", "20000", "Ajaccio", "7|IMPASSEDESLILAS|20000|AJACCIO"),
        ("12-14 chem. de l’Église", "97400", "Saint-Denis", "12|CHEMINDELEGLISE|97400|SAINTDENIS"),
        ("Lieu-dit Le Bourg", "29200", "Brest", "|LIEUDITLEBOURG|29200|BREST"),
        ("LD le bourg", "29200", None, "|LIEUDITLEBOURG|29200|"),
        ("5 place de l'Église", "98000", "Monaco", "5|PLACEDELEGLISE|98000|MONACO"),
        ("5 quai Saint-Cœur", "13002", "Marseille", "5|QUAISAINTCOEUR|13002|MARSEILLE"),
    ],
)
def test_canonical_vectors(
    line: str, postcode: str | None, city: str | None, canonical: str | None
) -> None:
    expected = canonical or "12BIS|AVENUEDUGENERALDEGAULLE|01000|BOURGENBRESSE"
    assert canonical_postal_address(line, postcode, city) == expected


def test_type_abbreviation_only_expands_as_the_first_street_word() -> None:
    assert canonical_postal_address("4 rue R", "69001", "Lyon") == "4|RUER|69001|LYON"
    assert canonical_postal_address("4 R St Jean", "69005", "Lyon") == "4|RUESAINTJEAN|69005|LYON"


@pytest.mark.parametrize(
    ("line", "postcode", "reason"),
    [
        ("12 rue de la Paix", "2A004", "postcode: 2A/2B"),
        ("12 rue de la Paix", "7500", None),
        ("12 rue de la Paix", "750021", "postcode: must be 5 digits"),
        ("12 rue de la Paix", "00100", "postcode: no such department range"),
        ("12 rue de la Paix", "96000", "postcode: no such department range"),
        ("12 rue de la Paix", "97900", "postcode: no such overseas range"),
        ("12 rue de la Paix", "98500", "postcode: no such overseas range"),
        ("12 rue de la Paix Paris", None, "no postcode"),
        ("12 rue de la Paix 96000 Nulle-part", None, "postcode: no such department range"),
        ("12", "75002", "no street"),
    ],
)
def test_refusals_say_why_without_the_address(
    line: str, postcode: str | None, reason: str | None
) -> None:
    if reason is None:  # a 4-digit field is an Excel export that lost the leading zero
        assert canonical_postal_address(line, postcode).endswith("|07500|")
        return
    with pytest.raises(InvalidIdentifier) as caught:
        canonical_postal_address(line, postcode)
    assert caught.value.kind == "postal_address"
    assert caught.value.reason.startswith(reason)
    assert "PAIX" not in str(caught.value).upper()


words = st.text(alphabet=st.sampled_from("abcdeéèçœ"), min_size=2, max_size=8)


@given(
    st.integers(1, 999),
    st.sampled_from(["rue", "RUE", "R.", "r"]),
    st.lists(words, min_size=1, max_size=3),
    st.sampled_from(["75011", "01000", "20090", "97400"]),
    st.sampled_from([" ", "  ", "-", ", ", "\u00a0"]),
)
def test_invariant_to_case_spacing_separators(
    number: int, kind: str, name: list[str], postcode: str, sep: str
) -> None:
    plain = f"{number} rue {' '.join(name)}"
    noisy = f"{number:03d}{sep}{kind}{sep}{sep.join(w.upper() for w in name)}"
    assert canonical_postal_address(plain, postcode, "Ville") == canonical_postal_address(
        noisy, f" {postcode} ", "VILLE"
    )
    one_field = canonical_postal_address(f"{plain} {postcode} Ville")
    assert one_field == canonical_postal_address(plain, postcode, "Ville")


@given(st.text(), st.none() | st.text(), st.none() | st.text())
def test_idempotent_and_only_invalid_identifier_escapes(
    line: str, postcode: str | None, city: str | None
) -> None:
    try:
        canonical = canonical_postal_address(line, postcode, city)
    except InvalidIdentifier as error:
        assert error.kind == "postal_address"
        return
    number, street, code, town = canonical.split("|")
    again = canonical_postal_address(f"{number} {street}", code, town)
    assert again == canonical


@given(st.integers(1, 99), st.text(min_size=1, max_size=10), st.sampled_from(["96000", "2B123"]))
def test_reasons_never_contain_the_input(number: int, name: str, postcode: str) -> None:
    line = f"{number} rue Qzx{name}"
    for args in (
        (line, postcode, "Ville"),
        (f"{line} Paris", None, None),
        (str(number), "75001", None),
    ):
        with pytest.raises(InvalidIdentifier) as caught:
            canonical_postal_address(*args)
        assert "QZX" not in str(caught.value).upper()
        assert postcode not in str(caught.value)


pool_lines = st.sampled_from(
    ["12 rue de la Paix", "3 bis av Foch 75016 Paris", "", " - ", "Le Bourg", "7 R X 96000 Y"]
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.none() | pool_lines | st.text(max_size=12) | spoofed(pool_lines),
            st.none() | st.sampled_from(["75002", "1000", "2A004", "", "96000"]),
            st.none()
            | st.sampled_from(["Paris", "", "Lyon 3e"])
            | st.text(max_size=5)
            | spoofed(st.sampled_from(["Paris", "Lyon 3e"])),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_column_equals_per_value_function(
    rows: list[tuple[str | None, str | None, str | None]],
) -> None:
    lines, codes, cities = (pa.array([row[i] for row in rows], pa.string()) for i in range(3))
    canonical, errors = address_column(lines, codes, cities)
    assert len(canonical) == len(rows)
    reasons = dict(errors)
    for at, (line, code, city) in enumerate(rows):
        try:
            expected = canonical_postal_address(line or "", code, city)
        except InvalidIdentifier as error:
            assert canonical[at].as_py() is None
            if at in reasons:
                assert reasons[at] == error.reason
            else:  # only an all-blank row is skipped silently
                assert not any(fold_name(value or "") for value in (line, code, city))
        else:
            assert canonical[at].as_py() == expected
            assert at not in reasons


def test_column_without_postcode_or_city_columns() -> None:
    canonical, errors = address_column(
        pa.array(["12 rue X 75011 Paris", None, "rue Y"]), None, None
    )
    assert canonical.to_pylist() == ["12|RUEX|75011|PARIS", None, None]
    assert errors == [(2, "no postcode")]


#: Pinned from the implementation before the column fast path: canonical output must not move
#: (it feeds fingerprints). "!" marks a refusal reason.
TRICKY = [
    ("73 all. Caroline du Lelièvre", "69003", "Lyon", "73|ALLEECAROLINEDULELIEVRE|69003|LYON"),
    ("N° 12 B rue St-Éloi", "1000", None, "12BIS|RUESAINTELOI|01000|"),
    (
        "no 5 ter Chem. du Dr Roux",
        " 13 002 ",
        "Marseille CEDEX 02",
        "5TER|CHEMINDUDOCTEURROUX|13002|MARSEILLE",
    ),
    ("12-14-16 bd de l’Hôpital 75013 Paris 13e", None, None, "12|BOULEVARDDELHOPITAL|75013|PARIS"),
    ("12 14 R Pasteur", "75015", "PARIS 15E ARR", "12|RUEPASTEUR|75015|PARIS"),
    ("0012Q imp. Gal Leclerc", "06000", "Nice", "12QUATER|IMPASSEGENERALLECLERC|06000|NICE"),
    ("Lieu-dit Kerœuf", "29200", "Brest", "|LIEUDITKEROEUF|29200|BREST"),
    ("R", "75001", "Paris", "|RUE|75001|PARIS"),
    ("4 R", "75001", "Paris", "4|RUE|75001|PARIS"),
    ("BP 12 75001 Paris", None, None, "|BP12|75001|PARIS"),
    ("5 rue X 96000 Y 75011 Paris", None, None, "5|RUEX96000Y|75011|PARIS"),
    ("5 rue X 75011 Paris", "75011", None, "5|RUEX|75011|PARIS"),
    ("5 rue X 75011 Paris", "75011", "Lyon", "5|RUEX|75011|LYON"),
    ("5 rue X 75011", "75011", "", "5|RUEX|75011|"),
    ("5 rue Łódź ß Ægir", "97400", "Saint-Denis", "5|RUELODZSSAEGIR|97400|SAINTDENIS"),
    ("５ rue Ｘ", "７５０１１", "ｐａｒｉｓ", "5|RUEX|75011|PARIS"),
    ("ﬁ 12 rue ǅ", "98000", "Monaco", "|FI12RUEDZ|98000|MONACO"),
    (
        "12 rue de la Paix",
        "2A004",
        "Ajaccio",
        "!postcode: 2A/2B are department codes, Corsican postcodes are 20xxx",
    ),
    ("12 rue de la Paix", "97900", None, "!postcode: no such overseas range"),
    ("12 rue de la Paix Paris", None, None, "!no postcode"),
    ("12", "75002", "Paris", "!no street"),
    ("", "75002", "Paris", "!no street"),
    (" - ", None, "Paris", "!no postcode"),
    ("12 rue de la Paix", "", "", "!no postcode"),
    ("123456 rue X", "75001", "Paris", "|123456RUEX|75001|PARIS"),
    ("12 A", "75001", "Paris", "12|A|75001|PARIS"),
    ("12 A B", "75001", "Paris CEDEX", "12A|B|75001|PARIS"),
    ("12 QUINQUIES rue Y", "75001", "CEDEX", "12QUINQUIES|RUEY|75001|"),
]


def test_tricky_addresses_are_pinned() -> None:
    got: list[str] = []
    for line, code, city, _ in TRICKY:
        try:
            got.append(canonical_postal_address(line, code, city))
        except InvalidIdentifier as error:
            got.append("!" + error.reason)
    assert got == [expected for *_, expected in TRICKY]
    # The column path, twice (the second batch runs on warm caches), blank rows interleaved.
    padded = [row for case in TRICKY for row in (case, (None, None, None, None))]
    columns = [pa.array([row[i] for row in padded], pa.string()) for i in range(3)]
    for _ in range(2):
        canonical, errors = address_column(*columns)
        reasons = dict(errors)
        column_got = [
            value if value is not None else "!" + reasons[at]
            for at, value in enumerate(canonical.to_pylist())
            if at % 2 == 0
        ]
        assert column_got == got
        assert all(at % 2 == 0 for at in reasons)
        assert canonical.to_pylist()[1::2] == [None] * len(TRICKY)
