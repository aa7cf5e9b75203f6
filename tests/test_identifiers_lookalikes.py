"""Look-alike characters and invisible code points: a frozen identity spelled with them must keep
its canonical form (or be refused with our own error), never get other keys.

Hostile inputs live in ``tests/data/hostile/lookalikes/`` (one file per bug). Look-alikes used by
the properties are drawn from the same confusables data the canonicalisers use, and invisible
code points from the same Unicode property.
"""

from __future__ import annotations

import json
import string
import unicodedata
from collections.abc import Callable
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_identifiers_contact import phones
from test_identifiers_documents import nirs, old_cnis
from verrou.errors import InvalidIdentifier
from verrou.fingerprints import Fingerprinter
from verrou.identifiers import SINGLE_FIELD, Kind, PersonParts, person_key_readings, person_keys
from verrou.identifiers.address import canonical_postal_address, postal_address_readings
from verrou.identifiers.contact import canonical_account_id, canonical_email, canonical_phone
from verrou.identifiers.lookalikes import INVISIBLE, lookalike_sources, prototype
from verrou.identifiers.names import fold_name
from verrou.registry.policy import Applicant, applicant_keys

TODAY = date(2026, 5, 1)
HOSTILE_DIR = Path(__file__).parent / "data" / "hostile" / "lookalikes"
AMBIGUOUS_REASON = "look-alike character that could be read as a letter or as a digit"


# --- what the confusables data says a character imitates ---------------------------------------


def _base(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def _imitates(char: str) -> frozenset[str]:
    """Lower-case ASCII letters or digits that TR39 says ``char`` or its case forms imitate.

    TR39 draws capital I as small l: a capital whose prototype is ``l`` imitates ``i``.
    """
    found = set()
    for form in {char, char.upper(), char.lower()}:
        if len(form) != 1 or form.isascii():
            continue
        proto = _base(prototype(form))
        if proto == form or len(proto) != 1 or proto not in string.ascii_letters + string.digits:
            continue
        found.add("i" if proto == "l" and form.isupper() else proto.lower())
    return frozenset(found)


@cache
def lookalikes_of() -> dict[str, list[str]]:
    """ASCII letter or digit (lower case) → the non-ASCII characters that imitate only it.

    Left out: what NFKC already folds (tested elsewhere), combining marks, and characters whose
    case forms imitate different letters (Greek η draws n but its capital Η draws H: a name is
    folded to upper case first, so η reads H; see lookalikes' module docstring).
    """
    pools: dict[str, list[str]] = {}
    for char in sorted(lookalike_sources()):
        if char.isascii() or unicodedata.normalize("NFKC", char) != char:
            continue
        if unicodedata.category(char)[0] not in "LN" or unicodedata.category(char) == "Nd":
            continue
        imitated = _imitates(char)
        if len(imitated) == 1:
            pools.setdefault(next(iter(imitated)), []).append(char)
    return pools


INVISIBLES = sorted(chr(code) for code in INVISIBLE)
#: TR39 draws 0 as O and 1 as l: their look-alikes are in the pools of o and l (or i).
MISSING = {"0", "1"}


def test_the_data_covers_the_letters_of_the_bug_reports() -> None:
    pools = lookalikes_of()
    assert "\u043e" in pools["o"]  # Cyrillic о
    assert "\u0435" in pools["e"]  # Cyrillic е
    assert "\u0399" in pools["i"]  # Greek Ι
    assert set(string.ascii_lowercase + string.digits) - set(pools) == MISSING
    fillers_and_joiners = "\u3164\u115f\u1160\uffa0\u200b\u00ad\u034f"
    selectors_tags_bidi = "\ufe0f\U000e0041\u202e\u2060\ufeff\U000e0100"
    assert set(map(ord, fillers_and_joiners + selectors_tags_bidi)) <= INVISIBLE
    assert not any(c.isspace() for c in INVISIBLES)


@st.composite
def spoof(draw: st.DrawFn, text: str, *, keep_case: bool = False) -> str:
    """``text`` with some ASCII letters or digits swapped for look-alikes and invisible code
    points inserted anywhere. With ``keep_case`` only letters of the look-alike's case are
    swapped (for case-sensitive values)."""
    pools = lookalikes_of()
    out = []
    for char in text:
        pool = pools.get(char.lower(), [])
        if keep_case:
            pool = [
                c
                for c in pool
                if c.isupper() == char.isupper() or not c.isalpha() or not char.isalpha()
            ]
        if pool and draw(st.booleans()):
            char = draw(st.sampled_from(pool))
        if draw(st.integers(0, 4)) == 0:
            char = draw(st.sampled_from(INVISIBLES)) + char
        out.append(char)
    return "".join(out)


def spoofed(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Values of ``strategy`` with look-alikes and invisible characters (for other tests)."""
    return strategy.flatmap(lambda text: spoof(text))


# --- hostile inputs, one file per bug ---------------------------------------------------------


def _canonical_of(kind: str, value: Any) -> object:
    if kind == "person":
        parts = PersonParts(tuple(value["family_names"]), value["given_names"], value["birth_date"])
        return person_keys(parts, today=TODAY)
    if kind == "postal_address":
        return canonical_postal_address(*value)
    if kind == "account_id":
        return canonical_account_id("ants", value)
    return SINGLE_FIELD[Kind(kind)](value)


def _case(name: str) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((HOSTILE_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return case


def _assert_case(name: str) -> None:
    case = _case(name)
    frozen = _canonical_of(case["kind"], case["frozen"])
    if case["same"] == "within_readings":
        # A check keys the applicant under every reading of its blank-drawn letters: all the
        # frozen person's keys are among them.
        raw = case["raw"]
        parts = PersonParts(tuple(raw["family_names"]), raw["given_names"], raw["birth_date"])
        assert isinstance(frozen, list)
        assert set(frozen) <= set(person_key_readings(parts, today=TODAY))
    elif case["same"]:
        assert _canonical_of(case["kind"], case["raw"]) == frozen
    else:
        with pytest.raises(InvalidIdentifier) as caught:
            _canonical_of(case["kind"], case["raw"])
        assert caught.value.reason == case["reason"]


def _hostile_cases() -> list[str]:
    return sorted(path.stem for path in HOSTILE_DIR.glob("*.json"))


def test_hostile_cases_are_present() -> None:
    assert len(_hostile_cases()) >= 15


@pytest.mark.parametrize("name", _hostile_cases())
def test_hostile_lookalike_input(name: str) -> None:
    _assert_case(name)


def test_cyrillic_o_in_family_name_keeps_person_keys() -> None:
    _assert_case("person_cyrillic_o_in_family_name")


def test_hangul_filler_in_given_names_keeps_person_keys() -> None:
    _assert_case("person_hangul_filler_in_given_names")


def test_hangul_filler_as_the_blank_between_given_names_keeps_the_full_key() -> None:
    _assert_case("person_hangul_filler_as_the_blank_between_given_names")


def test_greek_capital_iota_reads_i_in_an_upper_case_name() -> None:
    _assert_case("person_greek_capital_iota_for_i")


def test_cyrillic_e_in_email_local_part_keeps_the_address() -> None:
    _assert_case("email_cyrillic_e_in_local_part")


def test_punycode_homograph_domain_folds_to_the_real_domain() -> None:
    _assert_case("email_punycode_homograph_domain")


def test_gmail_dots_tag_and_googlemail_are_one_mailbox() -> None:
    _assert_case("email_gmail_dots_tag_and_googlemail")


def test_letter_or_digit_lookalike_in_a_document_is_refused() -> None:
    _assert_case("cni_cyrillic_o_letter_or_digit_refused")


def test_family_name_that_is_only_a_marriage_marker_gets_keys() -> None:
    _assert_case("person_family_name_only_a_marriage_marker")
    for marker in ("Ep", "Épouse", "Née", "Veuve", "Vve", "EPSE", "Ep. Vve"):
        assert person_keys(PersonParts((marker,), "Marc", "1970-01-01"), today=TODAY)


def test_spoofed_applicant_gets_the_frozen_applicant_fingerprints(
    fingerprinter: Fingerprinter,
) -> None:
    """The bug as the check API saw it: the applicant's fingerprints, spoofed or not."""
    frozen = Applicant(
        family_name="Dupont",
        given_names="Jean Pierre",
        birth_date="1980-05-17",
        email="jean.dupont@orange.fr",
        phone="06 12 34 56 78",
    )
    spoofed_applicant = Applicant(
        family_name="Dup\u043ent",
        given_names="Jean\u3164 Pierre",
        birth_date="1980-05-17",
        email="j\u0435an.dupont@orange.fr",
        phone="06 12 \u04174 56 78",
    )
    assert applicant_keys(spoofed_applicant, fingerprinter, today=TODAY) == applicant_keys(
        frozen, fingerprinter, today=TODAY
    )


def test_real_addresses_in_other_scripts_stay_valid() -> None:
    """Folding a real Arabic or Hebrew domain label in part would mix writing directions,
    which IDNA refuses: such labels are kept, only homographs of Latin labels are folded."""
    for address, domain in (
        ("محمد@مثال.مصر", "xn--mgbh0fb.xn--wgbh1c"),
        ("user@דוגמה.ישראל", "xn--6dbbec0c.xn--4dbrk0ce"),
        ("ivan@почта.рф", "xn--80a1acny.xn--p1ai"),
    ):
        assert canonical_email(address).endswith("@" + domain)
    assert canonical_email("jean@\u05e1range.fr") == "jean@orange.fr"


def test_names_written_wholly_in_another_script_still_get_keys() -> None:
    for family, given_names in (("Иванов", "Сергей"), ("Παπαδόπουλος", "Νίκος"), ("حداد", "محمد")):
        upper = person_keys(PersonParts((family.upper(),), given_names.upper(), "1980-05-17"))
        assert upper == person_keys(PersonParts((family,), given_names, "1980-05-17"))


# --- properties -------------------------------------------------------------------------------

_WORDS = st.text(alphabet=string.ascii_letters, min_size=1, max_size=8)
_LOOSE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_LOOSE
@given(
    st.data(), st.lists(_WORDS, min_size=1, max_size=3), st.lists(_WORDS, min_size=1, max_size=3)
)
def test_lookalikes_and_invisibles_never_change_person_keys(
    data: st.DataObject, family: list[str], given_names: list[str]
) -> None:
    plain = PersonParts((" ".join(family),), " ".join(given_names), "1980-05-17")
    tricked = PersonParts(
        (data.draw(spoof(" ".join(family))),), data.draw(spoof(" ".join(given_names))), "17/05/1980"
    )
    assert person_keys(tricked, today=TODAY) == person_keys(plain, today=TODAY)


@_LOOSE
@given(st.data(), st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=12))
def test_lookalikes_and_invisibles_never_change_an_email(data: st.DataObject, local: str) -> None:
    address = f"{local}@orange.fr"
    assert canonical_email(data.draw(spoof(address))) == canonical_email(address)


@_LOOSE
@given(st.data(), st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=12))
def test_lookalikes_and_invisibles_never_change_an_account_id(
    data: st.DataObject, login: str
) -> None:
    tricked = data.draw(spoof(login))
    assert canonical_account_id("ants", tricked) == canonical_account_id("ants", login)


@_LOOSE
@given(st.data())
def test_lookalikes_and_invisibles_never_change_a_phone_number(data: st.DataObject) -> None:
    number = data.draw(phones())
    try:
        canonical = canonical_phone(number)
    except InvalidIdentifier:
        return
    assert canonical_phone(data.draw(spoof(number))) == canonical


def _document_values() -> st.SearchStrategy[tuple[Kind, str]]:
    passports = st.tuples(
        st.text(alphabet=string.digits, min_size=2, max_size=2),
        st.text(alphabet=string.ascii_uppercase, min_size=2, max_size=2),
        st.text(alphabet=string.digits, min_size=5, max_size=5),
    ).map("".join)
    return st.one_of(
        nirs().map(lambda v: (Kind.NIR, v)),
        old_cnis().map(lambda v: (Kind.CNI, v)),
        st.text(alphabet=string.ascii_uppercase + string.digits, min_size=9, max_size=9).map(
            lambda v: (Kind.CNI, v)
        ),
        passports.map(lambda v: (Kind.PASSPORT, v)),
        st.text(alphabet=string.ascii_uppercase + string.digits, min_size=10, max_size=10).map(
            lambda v: (Kind.RESIDENCE_PERMIT, v)
        ),
    )


@_LOOSE
@given(st.data(), _document_values())
def test_lookalikes_in_documents_keep_the_number_or_are_refused(
    data: st.DataObject, document: tuple[Kind, str]
) -> None:
    kind, number = document
    canonical = SINGLE_FIELD[kind](number)
    tricked = data.draw(spoof(number, keep_case=True))
    try:
        assert SINGLE_FIELD[kind](tricked) == canonical
    except InvalidIdentifier as refused:
        assert refused.reason == AMBIGUOUS_REASON


_ANY_TEXT = st.text(
    alphabet=st.characters() | st.sampled_from(INVISIBLES[:400]) | st.sampled_from("оеаΙІ\u3164"),
    max_size=30,
)

_TEXT_CANONICALISERS: dict[str, Callable[[str], object]] = {
    **{kind.value: function for kind, function in SINGLE_FIELD.items()},
    "account_id": lambda raw: canonical_account_id("ants", raw),
    "postal_address": canonical_postal_address,
    "person_family": lambda raw: person_keys(PersonParts((raw,), "Jean", "1980-05-17")),
}


@settings(deadline=None)
@pytest.mark.parametrize("name", sorted(_TEXT_CANONICALISERS))
@given(raw=_ANY_TEXT)
def test_canonicalisers_raise_only_our_error_on_any_text(name: str, raw: str) -> None:
    function = _TEXT_CANONICALISERS[name]
    try:
        first = function(raw)
    except InvalidIdentifier:
        return
    if name in {kind.value for kind in SINGLE_FIELD}:
        assert function(str(first)) == first  # idempotent


@given(st.text(max_size=20))
def test_name_folding_output_has_no_invisible_or_lookalike_left(raw: str) -> None:
    folded = fold_name(raw)
    assert not any(ord(c) in INVISIBLE for c in folded)
    assert not any(_imitates(c) and c in lookalike_sources() for c in folded if not c.isascii())


#: Characters drawn as a blank: a real separator, or a Hangul filler standing for one.
_BLANK_DRAWN = ["\u0020", "-", "\u00a0", "\u3000", "\u3164", "\uffa0", "\u115f", "\u1160"]


@_LOOSE
@given(
    st.lists(_WORDS, min_size=1, max_size=3),
    st.lists(_WORDS, min_size=2, max_size=4),
    st.data(),
)
def test_a_hangul_filler_standing_for_the_blank_between_names_keeps_every_key(
    family: list[str], given_names: list[str], data: st.DataObject
) -> None:
    def cut(words: list[str]) -> str:
        return words[0] + "".join(data.draw(st.sampled_from(_BLANK_DRAWN)) + w for w in words[1:])

    plain = PersonParts((" ".join(family),), " ".join(given_names), "1980-05-17")
    tricked = PersonParts((cut(family),), cut(given_names), "1980-05-17")
    assert set(person_keys(plain, today=TODAY)) <= set(person_key_readings(tricked, today=TODAY))


@_LOOSE
@given(st.lists(_WORDS, min_size=1, max_size=3), st.data())
def test_a_hangul_filler_hidden_inside_a_name_keeps_every_key(
    given_names: list[str], data: st.DataObject
) -> None:
    filler = data.draw(st.sampled_from(["\u3164", "\uffa0", "\u115f", "\u1160"]))
    text = " ".join(given_names)
    at = data.draw(st.integers(0, len(text)))
    plain = PersonParts(("Dupont",), text, "1980-05-17")
    tricked = PersonParts(("Du" + filler + "pont",), text[:at] + filler + text[at:], "1980-05-17")
    assert set(person_keys(plain, today=TODAY)) <= set(person_key_readings(tricked, today=TODAY))


def test_a_name_without_blank_drawn_letters_has_one_reading() -> None:
    parts = PersonParts(("Dupont",), "Jean\u200bPierre", "1980-05-17")
    assert person_key_readings(parts, today=TODAY) == person_keys(parts, today=TODAY)


def test_a_hangul_filler_standing_for_the_blanks_of_an_address_keeps_its_key() -> None:
    frozen = canonical_postal_address("12 av Foch", "75016", "Paris")
    tricked = postal_address_readings("12\u3164av\u3164Foch", "75016", "Paris")
    assert frozen in tricked
    hidden = postal_address_readings("12 av Fo\uffa0ch", "75016", "Paris")
    assert frozen in hidden
    assert postal_address_readings("12 av Foch", "75016", "Paris") == [frozen]
