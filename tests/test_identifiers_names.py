"""Name folding, birth dates, person matching keys, and their column-level twin."""

from __future__ import annotations

import unicodedata
from datetime import date

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_identifiers_lookalikes import spoofed
from verrou.errors import InvalidIdentifier
from verrou.identifiers.names import (
    PERSON_KEY_NAMES,
    PersonParts,
    _birth_place_result,
    _fold_once,
    canonical_birth_date,
    family_keys,
    fold_name,
    person_key_columns,
    person_key_slots,
    person_keys,
)

TODAY = date(2026, 5, 1)


def keys(
    family: str | tuple[str, ...], given: str, born: str, place: str | None = None
) -> set[str]:
    families = (family,) if isinstance(family, str) else family
    return set(person_keys(PersonParts(families, given, born, place), today=TODAY))


# --- folding ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Lætitia", "LAETITIA"),
        ("Cœur", "COEUR"),
        ("ŒUVRE", "OEUVRE"),
        ("Jean-François d'Estaing", "JEAN FRANCOIS D ESTAING"),
        ("d’Estaing", "D ESTAING"),
        ("dʼEstaing", "D ESTAING"),
        ("Straße", "STRASSE"),
        ("Søren Łukasz Đorđe Þór", "SOREN LUKASZ DORDE THOR"),
        ("Jean\u00a0Pierre", "JEAN PIERRE"),
        ("ＭＡＲＴＩＮ", "MARTIN"),  # full-width
        ("  o'neil,  j.-p. ", "O NEIL J P"),
        ("Hélène", "HELENE"),
        ("He\u0301le\u0300ne", "HELENE"),  # decomposed accents
        ("", ""),
        ("-- ’ .", ""),
    ],
)
def test_fold_name_vectors(raw: str, folded: str) -> None:
    assert fold_name(raw) == folded


@given(st.text())
def test_folding_is_idempotent(raw: str) -> None:
    once = fold_name(raw)
    assert fold_name(once) == once
    assert once == " ".join(once.split())


@given(st.text(alphabet=st.characters(max_codepoint=0x24F)))
def test_latin_fast_path_equals_full_pipeline(raw: str) -> None:
    assert fold_name(raw) == _fold_once(raw)


# --- family names -------------------------------------------------------------------------------


def test_separators_and_case_do_not_matter_in_family_names() -> None:
    assert family_keys("Le-Goff") == family_keys("Le Goff") == family_keys("LE GOFF")
    assert family_keys("d'Estaing") == family_keys("D’ESTAING") == family_keys("d Estaing")


def test_leading_particles_matching() -> None:
    spaced = {"de La Fontaine", "DE LA FONTAINE", "De la Fontaine", "de-la-Fontaine"}
    assert {family_keys(name) for name in spaced} == {("FONTAINE", "DELAFONTAINE")}
    assert family_keys("La Fontaine") == ("FONTAINE", "LAFONTAINE")
    assert family_keys("Fontaine") == ("FONTAINE",)
    assert family_keys("Delafontaine") == ("DELAFONTAINE",)
    assert family_keys("Legoff") == ("LEGOFF",)
    assert family_keys("Le Goff") == ("GOFF", "LEGOFF")
    # particles inside a name stay
    assert family_keys("Giscard d'Estaing") == ("GISCARDDESTAING",)
    # a name made only of particles keeps its last token
    assert family_keys("De La") == ("LA", "DELA")
    assert family_keys("  ") == ()


def test_marriage_marker_splits_one_field_into_two_names() -> None:
    assert family_keys("DUPONT épouse MARTIN") == ("DUPONT", "MARTIN")
    assert family_keys("Martin née Dupont") == ("MARTIN", "DUPONT")
    assert family_keys("Dupont ep. Le Goff") == ("DUPONT", "GOFF", "LEGOFF")
    assert family_keys("Épouse Martin") == ("MARTIN",)


def test_spellings_of_one_person_share_a_key() -> None:
    born = "08/07/1951"
    reference = keys("de La Fontaine", "Jean", born)
    for family in ("DE LA FONTAINE", "La Fontaine", "Fontaine", "Delafontaine", "de-la-fontaine"):
        assert reference & keys(family, "JEAN", "1951-07-08"), family
    assert not reference & keys("Lafontaine", "Jean", born)


def test_maiden_and_usage_names_both_match() -> None:
    both = keys(("Dupont", "Martin"), "Claire", "01/02/1980")
    assert both & keys("DUPONT", "Claire", "1980-02-01")
    assert both & keys("Martin", "claire", "1980-02-01")
    assert both & keys(("", "Martin"), "Claire", "1980-02-01")
    assert both & keys("Martin épouse Dupont", "Claire", "1980-02-01")


def test_given_name_order_and_first_given_name() -> None:
    a = person_keys(PersonParts(("Durand",), "Marie Claire", "1990-03-04"), today=TODAY)
    b = person_keys(PersonParts(("Durand",), "Claire-Marie", "1990-03-04"), today=TODAY)
    assert a[0] == b[0] == "full|DURAND|CLAIREMARIE|1990-03-04"
    assert a[1] == "first|DURAND|MARIE|1990-03-04"
    assert b[1] == "first|DURAND|CLAIRE|1990-03-04"
    assert keys("Durand", "Jean-Pierre", "1990-03-04") & keys("Durand", "Jean", "1990-03-04")


def test_accents_ligatures_apostrophes_nbsp_and_full_width() -> None:
    assert keys("Cœur", "Lætitia", "1985-06-07") == keys("COEUR", "LAETITIA", "07.06.1985")
    assert keys("O’Neil", "Zoé", "1985-06-07") == keys("o'neil", "zoe", "7/6/1985")
    assert keys("Le\u00a0Goff", "Anaïs", "1985-06-07") == keys("LE-GOFF", "ANAIS", "19850607")
    assert keys("ＤＵＰＯＮＴ", "Ｊｅａｎ", "1985-06-07") == keys("Dupont", "Jean", "1985-06-07")


def test_different_person_sharing_the_family_name_shares_no_key() -> None:
    jean = keys(("de La Fontaine", "Martin"), "Jean Paul", "12/03/1975", "Paris")
    other = keys(("DE LA FONTAINE", "Martin"), "Pierre", "12/03/1975", "Paris")
    older = keys(("de La Fontaine", "Martin"), "Jean Paul", "12/03/1945", "Paris")
    assert jean and other and older
    assert not jean & other
    assert not jean & older


def test_person_keys_layout_and_order() -> None:
    assert PERSON_KEY_NAMES == ("full", "first", "place")
    result = person_keys(
        PersonParts(("Le Goff", "LE GOFF"), "Yann Erwan", "1970-01-31", "St-Brieuc (22)"),
        today=TODAY,
    )
    assert result == [
        "full|GOFF|ERWANYANN|1970-01-31",
        "first|GOFF|YANN|1970-01-31",
        "place|GOFF|YANN|1970-01-31|SAINTBRIEUC",
        "full|LEGOFF|ERWANYANN|1970-01-31",
        "first|LEGOFF|YANN|1970-01-31",
        "place|LEGOFF|YANN|1970-01-31|SAINTBRIEUC",
    ]


@pytest.mark.parametrize(
    ("place", "key"),
    [
        ("Paris 15e Arrondissement", "PARIS"),
        ("PARIS", "PARIS"),
        ("Saint-Étienne", "SAINTETIENNE"),
        ("St Etienne", "SAINTETIENNE"),
        ("Lyon (69)", "LYON"),
        ("75115", "#75115"),
        ("2A004", "#2A004"),
        ("inconnu", None),
        ("", None),
    ],
)
def test_birth_place_key(place: str, key: str | None) -> None:
    result = person_keys(PersonParts(("Martin",), "Luc", "1960-01-01", place), today=TODAY)
    places = [k.rsplit("|", 1)[1] for k in result if k.startswith("place|")]
    assert places == ([key] if key else [])


# --- birth dates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "07/03/1980",
        "7/3/1980",
        "1980-03-07",
        "07-03-1980",
        "07.03.1980",
        "19800307",
        "1980-03-07T00:00:00",
        "1980-03-07 00:00:00",
        "1980-03-07 00:00:00.000000000",
        "1980-03-07T00:00:00Z",
        " 1980/03/07 ",
        "１９８０-０３-０７",
    ],
)
def test_birth_date_formats(raw: str) -> None:
    assert canonical_birth_date(raw, TODAY) == "1980-03-07"


def test_february_29() -> None:
    assert canonical_birth_date("29/02/2000", TODAY) == "2000-02-29"
    assert canonical_birth_date("29/02/1984", TODAY) == "1984-02-29"
    for non_leap in ("29/02/1900", "29/02/2001", "2023-02-29"):
        with pytest.raises(InvalidIdentifier, match="February of a non-leap year"):
            canonical_birth_date(non_leap, TODAY)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("31/04/1990", "birth date: day 31 is not valid in April"),
        ("30/02/1990", "birth date: day 30 is not valid in February"),
        ("01/13/1990", "birth date: month 13 does not exist"),
        ("00/00/0000", "birth date: month 0 does not exist"),
        ("01/01/1879", "birth date: year is before 1880"),
        ("02/05/2026", "birth date: is in the future"),
        ("1990-01-01T23:00:00Z", "birth date: has a time of day other than midnight"),
        ("01/02/80", "birth date: format not recognised"),
        ("", "birth date: missing"),
    ],
)
def test_birth_date_refusals(raw: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        canonical_birth_date(raw, TODAY)
    assert caught.value.reason.startswith(reason)
    assert caught.value.kind == "person"


def test_today_defaults_to_the_current_date() -> None:
    with pytest.raises(InvalidIdentifier, match="future"):
        canonical_birth_date(date.today().replace(year=date.today().year + 1).isoformat())


# --- refusals of a person -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        (PersonParts(("", " - "), "Jean", "1980-01-01"), "no family name"),
        (PersonParts((), "Jean", "1980-01-01"), "no family name"),
        (PersonParts(("Zorglubien",), "  ", "1980-01-01"), "no given name"),
        (PersonParts(("Zorglubien",), "Jean", "31/04/1990"), "birth date: day 31"),
        (PersonParts(("Zorglubien",), "Jean", "1980-01-01", "123"), "birth place: a numeric"),
    ],
)
def test_person_refusals_name_the_part_not_the_value(parts: PersonParts, reason: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        person_keys(parts, today=TODAY)
    assert caught.value.reason.startswith(reason)
    assert "ZORGLUB" not in str(caught.value).upper()
    assert "JEAN" not in str(caught.value).upper()


# --- properties ---------------------------------------------------------------------------------

latin_words = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzéèêëàâçîïôöûüœæ"), min_size=1, max_size=8
)
dates = st.dates(min_value=date(1880, 1, 1), max_value=TODAY)


def respell(words: list[str], draw_sep: st.DrawFn) -> str:
    """Same name, other spelling: case, accents, separators and spacing changed."""
    out = []
    for word in words:
        word = draw_sep(st.sampled_from([word, word.upper(), word.title()]))
        if draw_sep(st.booleans()):
            word = unicodedata.normalize("NFKD", word)  # decomposed accents
            word = "".join(c for c in word if not unicodedata.combining(c))
        out.append(word)
    seps = [
        draw_sep(st.sampled_from([" ", "-", "  ", "’", "'", "\u00a0", ". ", ", "])) for _ in out
    ]
    return "".join(w + s for w, s in zip(out, seps, strict=True)).strip(" ’'.,-\u00a0")


@given(
    st.data(),
    st.lists(latin_words, min_size=1, max_size=3),
    st.lists(latin_words, min_size=1, max_size=3),
    dates,
)
def test_keys_invariant_to_case_spacing_separators_accents(
    data: st.DataObject, family: list[str], given_names: list[str], born: date
) -> None:
    first = PersonParts(
        (respell(family, data.draw),), respell(given_names, data.draw), born.isoformat()
    )
    second = PersonParts(
        (respell(family, data.draw),), respell(given_names, data.draw), born.strftime("%d/%m/%Y")
    )
    assert person_keys(first, today=TODAY) == person_keys(second, today=TODAY)


@settings(max_examples=300)
@given(st.tuples(st.text(), st.text()), st.text(), st.text(), st.none() | st.text())
def test_only_invalid_identifier_escapes(
    family: tuple[str, str], given_names: str, born: str, place: str | None
) -> None:
    try:
        result = person_keys(PersonParts(family, given_names, born, place), today=TODAY)
    except InvalidIdentifier as error:
        assert error.kind == "person"
    else:
        assert result and all(k.split("|", 1)[0] in PERSON_KEY_NAMES for k in result)


marked_names = st.text(min_size=1, max_size=12).map(lambda s: "Qzx" + s)


@given(marked_names, marked_names, dates, st.booleans())
def test_reasons_never_contain_the_input(
    family: str, given_names: str, born: date, bad: bool
) -> None:
    written = born.strftime("%d/%m/%Y")
    if bad:
        written = "31/04/" + written[-4:]
    cases = [
        PersonParts(("",), given_names, written),
        PersonParts((family,), "", written),
        PersonParts((family,), given_names, "32/" + written[3:]),
        PersonParts((family,), given_names, written, "1" + written[:2]),
    ]
    for parts in cases:
        with pytest.raises(InvalidIdentifier) as caught:
            person_keys(parts, today=TODAY)
        message = str(caught.value)
        for value in (family, given_names, written, born.isoformat(), fold_name(family)):
            assert value not in message
        assert "QZX" not in message.upper()


# --- column level -------------------------------------------------------------------------------

pool_names = st.sampled_from(
    [
        "de La Fontaine",
        "Fontaine",
        "LE GOFF",
        "Le-Goff",
        "Dupont épouse Martin",
        "Martin",
        "",
        "-",
        "Œdipe",
        "van der Berg",
        "x",
    ]
)
pool_given = st.sampled_from(["Jean", "Marie Claire", "Claire-Marie", "Lætitia", "", "  ", "Zoé"])
pool_dates = st.sampled_from(
    [
        "1980-01-02",
        "02/01/1980",
        "2/1/1980",
        "31/04/1990",
        "29/02/2000",
        "29/02/2001",
        "",
        "2099-01-01",
        "1850-01-01",
        "19800102",
        "1980-01-02T00:00:00",
        "01/13/1990",
        "n/a",
        "-",
    ]
)
pool_places = st.sampled_from(["Paris", "Paris 15e", "75115", "123", "", "inconnu", "St-Malo"])


PART_OF_REASON = {
    "no family name": "family_name",
    "no given name": "given_names",
    "birth date": "birth_date",
    "birth place": "birth_place",
}


def _row_keys(columns: list[pa.Array], row: int) -> list[str]:
    return [column[row].as_py() for column in columns if column[row].is_valid]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.none() | pool_names | st.text(max_size=6) | spoofed(pool_names),
            st.none() | pool_names,
            st.none() | pool_given | st.text(max_size=6) | spoofed(pool_given),
            st.none() | pool_dates | st.text(max_size=10),
            st.none() | pool_places,
        ),
        min_size=1,
        max_size=40,
    ),
    st.booleans(),
)
def test_columns_equal_person_keys_row_by_row(
    rows: list[tuple[str | None, str | None, str | None, str | None, str | None]],
    with_place: bool,
) -> None:
    column = [pa.array([row[i] for row in rows], pa.string()) for i in range(5)]
    result = person_key_columns(
        column[:2], column[2], column[3], column[4] if with_place else None, today=TODAY
    )
    assert len(result.keys) == person_key_slots(2)
    assert all(len(array) == len(rows) for array in result.keys)
    errors = {row: (part, reason) for row, part, reason in result.errors}
    assert len(errors) == len(result.errors)
    for at, (family, usage, given_names, born, place) in enumerate(rows):
        parts = PersonParts(
            (family or "", usage or ""),
            given_names or "",
            born or "",
            place if with_place else None,
        )
        try:
            expected = person_keys(parts, today=TODAY)
        except InvalidIdentifier as error:
            assert _row_keys(result.keys, at) == []
            blank = not any(fold_name(v or "") for v in (family, usage, given_names, born))
            if with_place:
                blank = blank and _birth_place_result(place or "") == ""
            if blank:
                assert at not in errors
            else:
                assert errors[at] == (PART_OF_REASON[error.reason.split(":")[0]], error.reason)
        else:
            assert _row_keys(result.keys, at) == expected
            assert at not in errors


def test_columns_accept_dictionary_date_and_chunked_inputs() -> None:
    family = pa.array(["Dupont", "Dupont", None]).dictionary_encode()
    given_names = pa.chunked_array([["Jean"], ["Marie", "Luc"]])
    born = pa.array([date(1980, 1, 2), date(2000, 2, 29), date(1990, 5, 6)], pa.date32())
    result = person_key_columns([family], given_names, born, today=TODAY)
    assert _row_keys(result.keys, 0) == [
        "full|DUPONT|JEAN|1980-01-02",
        "first|DUPONT|JEAN|1980-01-02",
    ]
    assert _row_keys(result.keys, 1)[0] == "full|DUPONT|MARIE|2000-02-29"
    assert result.errors == [(2, "family_name", "no family name")]


def test_all_blank_row_yields_nothing_and_no_error() -> None:
    blank = pa.array([None, " ", "-"], pa.string())
    result = person_key_columns([blank, blank], blank, blank, blank, today=TODAY)
    assert result.errors == []
    assert all(array.null_count == 3 for array in result.keys)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.from_regex(r"\d\d/\d\d/\d{4}|\d{4}-\d\d-\d\d|\d\d/\d\d/\d\d\d\d ", fullmatch=True)
        | st.dates(min_value=date(1870, 1, 1)).map(lambda d: d.strftime("%d/%m/%Y")),
        min_size=1,
        max_size=30,
    )
)
def test_vectorised_dates_equal_the_scalar_parser(written: list[str]) -> None:
    count = len(written)
    result = person_key_columns(
        [pa.array(["Martin"] * count)], pa.array(["Luc"] * count), pa.array(written), today=TODAY
    )
    errors = {row: reason for row, _, reason in result.errors}
    for at, raw in enumerate(written):
        try:
            expected = f"first|MARTIN|LUC|{canonical_birth_date(raw, TODAY)}"
        except InvalidIdentifier as error:
            assert errors[at] == error.reason
        else:
            assert result.keys[1][at].as_py() == expected
