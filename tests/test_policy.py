"""The verdict policy: subject states, how keys combine, applicant attributes → identity keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verrou.fingerprints import Fingerprinter
from verrou.identifiers import Kind, PersonParts, canonical, canonical_postal_address, person_keys
from verrou.registry.policy import (
    Applicant,
    AttributeState,
    Decision,
    ExposureHit,
    Freeze,
    IdentityKey,
    InvalidApplicant,
    LeakedTogether,
    PostalAddress,
    Reason,
    SubjectState,
    Thaw,
    Verdict,
    applicant_keys,
    decide,
    state_verdict,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
SINCE = NOW - timedelta(days=30)
BANK = "bank-a"
OTHER_BANK = "bank-b"
DAY = timedelta(days=1)


def fp(n: int) -> bytes:
    return n.to_bytes(16, "big")


def key(n: int, attribute: str = "email", kind: Kind = Kind.EMAIL) -> IdentityKey:
    return IdentityKey(attribute, kind, fp(n))


def hit(
    n: int, breach: str = "ants-2026", run_id: int = 1, record: int = 7, kind: Kind = Kind.EMAIL
) -> ExposureHit:
    return ExposureHit(fp(n), kind, 1, breach, run_id, record)


def freeze(n: int, placed_by: str = "owner", canary: bool = False) -> Freeze:
    return Freeze(fp(n), placed_by, "owner_request", SINCE, canary=canary)  # type: ignore[arg-type]


def thaw(n: int, rp: str | None, starts: datetime, until: datetime) -> Thaw:
    return Thaw(fp(n), rp, starts, until)


def check(
    keys: list[IdentityKey],
    exposures: list[ExposureHit] = [],  # noqa: B006 - never mutated
    freezes: list[Freeze] = [],  # noqa: B006
    thaws: list[Thaw] = [],  # noqa: B006
) -> Decision:
    return decide(keys, exposures, freezes, thaws, relying_party_id=BANK, now=NOW)


# --- one key, every state ----------------------------------------------------------------------

ACTIVE = (NOW - DAY, NOW + DAY)


@dataclass(frozen=True)
class Case:
    exposures: tuple[ExposureHit, ...]
    freezes: tuple[Freeze, ...]
    thaws: tuple[Thaw, ...]
    verdict: Verdict
    state: SubjectState
    codes: tuple[str, ...]


CASES = {
    "unknown → clear": Case((), (), (), Verdict.CLEAR, SubjectState.UNKNOWN, ()),
    "exposed → step_up": Case(
        (hit(1),), (), (), Verdict.STEP_UP, SubjectState.EXPOSED, ("exposed",)
    ),
    "exposed in two breaches → one reason each": Case(
        (hit(1, "ants-2026"), hit(1, "caf-2024", run_id=2)),
        (),
        (),
        Verdict.STEP_UP,
        SubjectState.EXPOSED,
        ("exposed", "exposed"),
    ),
    "frozen by owner → deny": Case(
        (), (freeze(1),), (), Verdict.DENY, SubjectState.FROZEN, ("frozen",)
    ),
    "frozen by report → deny": Case(
        (), (freeze(1, "report"),), (), Verdict.DENY, SubjectState.FROZEN, ("frozen",)
    ),
    "exposed + frozen → deny with both reasons": Case(
        (hit(1),), (freeze(1),), (), Verdict.DENY, SubjectState.FROZEN, ("frozen", "exposed")
    ),
    "thawed for this relying party → clear": Case(
        (), (freeze(1),), (thaw(1, BANK, *ACTIVE),), Verdict.CLEAR, SubjectState.THAWED, ("thawed",)
    ),
    "thawed for all → clear with reason thawed": Case(
        (), (freeze(1),), (thaw(1, None, *ACTIVE),), Verdict.CLEAR, SubjectState.THAWED, ("thawed",)
    ),
    "thawed for another relying party → still deny": Case(
        (),
        (freeze(1),),
        (thaw(1, OTHER_BANK, *ACTIVE),),
        Verdict.DENY,
        SubjectState.FROZEN,
        ("frozen",),
    ),
    "thaw expired → deny": Case(
        (),
        (freeze(1),),
        (thaw(1, BANK, NOW - 3 * DAY, NOW - DAY),),
        Verdict.DENY,
        SubjectState.FROZEN,
        ("frozen",),
    ),
    "thaw ends exactly now → deny (until is exclusive)": Case(
        (),
        (freeze(1),),
        (thaw(1, None, NOW - DAY, NOW),),
        Verdict.DENY,
        SubjectState.FROZEN,
        ("frozen",),
    ),
    "thaw not started yet → deny": Case(
        (),
        (freeze(1),),
        (thaw(1, BANK, NOW + DAY, NOW + 2 * DAY),),
        Verdict.DENY,
        SubjectState.FROZEN,
        ("frozen",),
    ),
    "thaw starts exactly now → clear": Case(
        (),
        (freeze(1),),
        (thaw(1, BANK, NOW, NOW + DAY),),
        Verdict.CLEAR,
        SubjectState.THAWED,
        ("thawed",),
    ),
    "thaw for another key → deny": Case(
        (), (freeze(1),), (thaw(2, None, *ACTIVE),), Verdict.DENY, SubjectState.FROZEN, ("frozen",)
    ),
    "thawed + exposed → clear, exposure still listed": Case(
        (hit(1),),
        (freeze(1),),
        (thaw(1, BANK, *ACTIVE),),
        Verdict.CLEAR,
        SubjectState.THAWED,
        ("thawed", "exposed"),
    ),
    "canary → deny": Case(
        (),
        (freeze(1, "operator", canary=True),),
        (),
        Verdict.DENY,
        SubjectState.CANARY,
        ("canary",),
    ),
    "canary is not lifted by a thaw for all": Case(
        (),
        (freeze(1, "operator", canary=True),),
        (thaw(1, None, *ACTIVE),),
        Verdict.DENY,
        SubjectState.CANARY,
        ("canary",),
    ),
    "records of other fingerprints are ignored": Case(
        (hit(2),), (freeze(3),), (), Verdict.CLEAR, SubjectState.UNKNOWN, ()
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_one_key_every_state(case: Case) -> None:
    decision = check([key(1)], list(case.exposures), list(case.freezes), list(case.thaws))
    assert decision.verdict is case.verdict
    assert state_verdict(case.state) is case.verdict
    assert decision.states == (AttributeState("email", case.state),)
    assert [r.code for r in decision.reasons] == list(case.codes)
    assert all(r.attribute == "email" and r.kind == "email" for r in decision.reasons)
    assert decision.subject_fingerprints == (fp(1),)
    assert decision.canary_tripped is (case.state is SubjectState.CANARY)


def test_reasons_carry_breach_freeze_origin_and_thaw_end() -> None:
    decision = check(
        [key(1), key(2, "nir", Kind.NIR), key(3, "phone", Kind.PHONE)],
        [hit(1, "ants-2026"), hit(2, "caf-2024", run_id=2, kind=Kind.NIR)],
        [freeze(2, "report"), freeze(3, "owner")],
        [thaw(3, None, NOW - DAY, NOW + 5 * DAY)],
    )
    assert decision.verdict is Verdict.DENY
    assert decision.reasons == (
        Reason("exposed", "email", "email", breach="ants-2026"),
        Reason("frozen", "nir", "nir", freeze_placed_by="report", since=SINCE),
        Reason("exposed", "nir", "nir", breach="caf-2024"),
        Reason(
            "thawed", "phone", "phone", freeze_placed_by="owner", since=SINCE, until=NOW + 5 * DAY
        ),
    )
    assert decision.breaches == ("ants-2026", "caf-2024")


@pytest.mark.parametrize(
    ("situation", "verdict"),
    [
        # (email, nir): each "unknown", "exposed", "frozen", "thawed" or "canary"
        (("exposed", "unknown"), Verdict.STEP_UP),
        (("exposed", "frozen"), Verdict.DENY),
        (("thawed", "exposed"), Verdict.STEP_UP),
        (("thawed", "unknown"), Verdict.CLEAR),
        (("canary", "thawed"), Verdict.DENY),
        (("unknown", "unknown"), Verdict.CLEAR),
    ],
)
def test_several_attributes_strongest_wins_every_reason_listed(
    situation: tuple[str, str], verdict: Verdict
) -> None:
    keys = [key(1, "email", Kind.EMAIL), key(2, "nir", Kind.NIR)]
    exposures, freezes, thaws = [], [], []
    for n, state in enumerate(situation, start=1):
        if state == "exposed":
            exposures.append(hit(n, record=n))
        if state in ("frozen", "thawed", "canary"):
            freezes.append(freeze(n, canary=state == "canary"))
        if state == "thawed":
            thaws.append(thaw(n, BANK, *ACTIVE))
    decision = check(keys, exposures, freezes, thaws)
    assert decision.verdict is verdict
    expected = {(k.attribute, s) for k, s in zip(keys, situation, strict=True) if s != "unknown"}
    assert {(r.attribute, r.code) for r in decision.reasons} == expected


def test_co_leaked_attributes_are_linked() -> None:
    keys = [
        key(1, "email", Kind.EMAIL),
        key(2, "person", Kind.PERSON),
        key(3, "person", Kind.PERSON),
        key(4, "phone", Kind.PHONE),
    ]
    exposures = [
        # One ANTS record holds the email and both person keys of the applicant.
        hit(1, "ants-2026", run_id=1, record=7),
        hit(2, "ants-2026", run_id=1, record=7, kind=Kind.PERSON),
        hit(3, "ants-2026", run_id=1, record=7, kind=Kind.PERSON),
        # The phone leaked in the same breach but in another record: not linked.
        hit(4, "ants-2026", run_id=1, record=8, kind=Kind.PHONE),
        # Same record number, other run: another record.
        hit(4, "caf-2024", run_id=2, record=7, kind=Kind.PHONE),
        # Two person keys alone in one record: one attribute, no link.
        hit(2, "caf-2024", run_id=2, record=9, kind=Kind.PERSON),
        hit(3, "caf-2024", run_id=2, record=9, kind=Kind.PERSON),
    ]
    decision = check(keys, exposures)
    assert decision.verdict is Verdict.STEP_UP
    assert decision.linked_attributes == (LeakedTogether("ants-2026", ("email", "person")),)
    assert decision.breaches == ("ants-2026", "caf-2024")
    # The two person keys in one breach give one reason, not two.
    person_reasons = [r for r in decision.reasons if r.attribute == "person"]
    assert sorted(r.breach or "" for r in person_reasons) == ["ants-2026", "caf-2024"]


# --- fail closed ---------------------------------------------------------------------------------


def test_no_key_is_an_error_not_clear() -> None:
    with pytest.raises(InvalidApplicant) as info:
        check([])
    assert info.value.status == 422
    assert "applicant" in info.value.fields


def test_naive_clock_and_missing_relying_party_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide([key(1)], [], [], [], relying_party_id=BANK, now=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="relying_party_id"):
        decide([key(1)], [], [], [], relying_party_id="", now=NOW)


def test_records_are_validated() -> None:
    with pytest.raises(ValueError, match="end after"):
        Thaw(fp(1), None, NOW, NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        Thaw(fp(1), None, NOW.replace(tzinfo=None), NOW.replace(tzinfo=None) + DAY)
    with pytest.raises(ValueError, match="placed_by"):
        Freeze(fp(1), "bank", "owner_request", SINCE)  # type: ignore[arg-type]


def test_verdicts_order_by_strength_not_alphabet() -> None:
    assert max([Verdict.STEP_UP, Verdict.DENY, Verdict.CLEAR]) is Verdict.DENY
    assert max([Verdict.STEP_UP, Verdict.CLEAR]) is Verdict.STEP_UP
    assert sorted([Verdict.DENY, Verdict.CLEAR, Verdict.STEP_UP]) == [
        Verdict.CLEAR,
        Verdict.STEP_UP,
        Verdict.DENY,
    ]
    assert Verdict.CLEAR < Verdict.STEP_UP < Verdict.DENY
    assert Verdict.DENY >= Verdict.DENY > Verdict.STEP_UP


# --- strongest wins, over random combinations ---------------------------------------------------

THAW_KINDS = ("none", "this", "all", "other", "expired", "future")


@st.composite
def key_situations(draw: st.DrawFn) -> list[tuple[int, frozenset[str], str, str]]:
    """Per key: (number, breaches it leaked in, freeze: none/owner/report/canary, thaw kind)."""
    count = draw(st.integers(min_value=1, max_value=6))
    return [
        (
            n,
            draw(st.frozensets(st.sampled_from(["ants-2026", "caf-2024", "free-2024"]))),
            draw(st.sampled_from(["none", "owner", "report", "canary"])),
            draw(st.sampled_from(THAW_KINDS)),
        )
        for n in range(1, count + 1)
    ]


def records_for(
    situation: tuple[int, frozenset[str], str, str],
) -> tuple[list[ExposureHit], list[Freeze], list[Thaw]]:
    n, breaches, freeze_by, thaw_kind = situation
    exposures = [hit(n, breach, run_id=i, record=n) for i, breach in enumerate(sorted(breaches))]
    freezes: list[Freeze] = []
    if freeze_by == "canary":
        freezes.append(freeze(n, "operator", canary=True))
    elif freeze_by != "none":
        freezes.append(freeze(n, freeze_by))
    windows = {
        "this": (BANK, *ACTIVE),
        "all": (None, *ACTIVE),
        "other": (OTHER_BANK, *ACTIVE),
        "expired": (BANK, NOW - 2 * DAY, NOW - DAY),
        "future": (None, NOW + DAY, NOW + 2 * DAY),
    }
    thaws = [] if thaw_kind == "none" else [thaw(n, *windows[thaw_kind])]
    return exposures, freezes, thaws


def expected_verdict(situation: tuple[int, frozenset[str], str, str]) -> Verdict:
    _, breaches, freeze_by, thaw_kind = situation
    if freeze_by == "canary":
        return Verdict.DENY
    if freeze_by != "none":
        return Verdict.CLEAR if thaw_kind in ("this", "all") else Verdict.DENY
    return Verdict.STEP_UP if breaches else Verdict.CLEAR


@settings(max_examples=200, deadline=None)
@given(key_situations())
def test_strongest_verdict_wins_and_every_reason_is_kept(
    situations: list[tuple[int, frozenset[str], str, str]],
) -> None:
    keys = [key(n, f"attr{n}") for n, *_ in situations]
    exposures: list[ExposureHit] = []
    freezes: list[Freeze] = []
    thaws: list[Thaw] = []
    singles: list[Decision] = []
    for k, situation in zip(keys, situations, strict=True):
        records = records_for(situation)
        exposures += records[0]
        freezes += records[1]
        thaws += records[2]
        singles.append(check([k], *records))
        assert singles[-1].verdict is expected_verdict(situation)
    combined = check(keys, exposures, freezes, thaws)
    assert combined.verdict is max(single.verdict for single in singles)
    assert combined.verdict is max(expected_verdict(s) for s in situations)
    assert set(combined.reasons) == {r for single in singles for r in single.reasons}
    assert combined.breaches == tuple(sorted({b for _, bs, _, _ in situations for b in bs}))
    # A deny always comes with a reason that explains it.
    if combined.verdict is Verdict.DENY:
        assert any(r.code in ("frozen", "canary") for r in combined.reasons)
    if combined.verdict is Verdict.STEP_UP:
        assert any(r.code == "exposed" for r in combined.reasons)


# --- applicant attributes → identity keys -------------------------------------------------------


def leaked_person(
    fingerprinter: Fingerprinter, family: str, given_names: str, born: str, breach: str = "ants"
) -> list[ExposureHit]:
    """Exposure hits as the store returns them for a person spelled as in a dump."""
    texts = person_keys(PersonParts((family,), given_names, born), today=TODAY)
    return [
        ExposureHit(fingerprinter.fingerprint(Kind.PERSON, text), Kind.PERSON, 1, breach, 1, 42)
        for text in texts
    ]


@pytest.mark.parametrize(
    ("applicant", "dump"),
    [
        (("Lefèvre", "Hélène", "1980-05-17"), ("LEFEVRE", "HELENE", "17/05/1980")),
        (
            ("Le Goff-Cœur", "Jean-Pierre", "03/02/1975"),
            ("le goff coeur", "jean pierre", "1975-02-03"),
        ),
        (("Durand", "Marie Claire", "1990-03-04"), ("DURAND", "Claire-Marie", "04.03.1990")),
        (("d'Estaing", "Anne", "2001-12-31"), ("D’ESTAING", "anne", "20011231")),
    ],
    ids=["accents-case", "hyphens-ligature", "given-name-order", "apostrophe"],
)
def test_same_person_matches_across_spellings(
    fingerprinter: Fingerprinter, applicant: tuple[str, str, str], dump: tuple[str, str, str]
) -> None:
    family, given_names, born = applicant
    keys = applicant_keys(
        Applicant(family_name=family, given_names=given_names, birth_date=born),
        fingerprinter,
        today=TODAY,
    )
    exposures = leaked_person(fingerprinter, *dump)
    assert {k.fingerprint for k in keys} & {h.fingerprint for h in exposures}
    decision = check(keys, exposures)
    assert decision.verdict is Verdict.STEP_UP
    assert {(r.code, r.attribute, r.breach) for r in decision.reasons} == {
        ("exposed", "person", "ants")
    }


def test_birth_date_may_be_a_date(fingerprinter: Fingerprinter) -> None:
    as_text = Applicant(family_name="Martin", given_names="Luc", birth_date="1960-01-01")
    as_date = Applicant(family_name="Martin", given_names="Luc", birth_date=date(1960, 1, 1))
    assert applicant_keys(as_text, fingerprinter) == applicant_keys(as_date, fingerprinter)


@pytest.mark.parametrize(
    ("other_given", "other_born"),
    [("Zéphyrin", "01/01/1901"), ("Hélène", "18/05/1980"), ("Paul", "17/05/1980")],
    ids=["family-name-only", "birth-date-differs", "given-name-differs"],
)
def test_person_matches_only_on_family_given_and_birth_date(
    fingerprinter: Fingerprinter, other_given: str, other_born: str
) -> None:
    keys = applicant_keys(
        Applicant(family_name="Lefèvre", given_names="Hélène", birth_date="1980-05-17"),
        fingerprinter,
        today=TODAY,
    )
    exposures = leaked_person(fingerprinter, "LEFEVRE", other_given, other_born)
    assert not {k.fingerprint for k in keys} & {h.fingerprint for h in exposures}
    assert check(keys, exposures).verdict is Verdict.CLEAR


def test_every_attribute_gives_its_key(fingerprinter: Fingerprinter) -> None:
    applicant = Applicant(
        family_name="Dupont",
        usage_name="Martin",
        given_names="Julie",
        birth_date="1985-06-15",
        birth_place="Lyon (69)",
        document_type="passport",
        document_number="18 ab 12345",
        nir="2 95 10 99 126 111 93",
        email="Julie.Dupont@Example.FR",
        phone="06 12 34 56 78",
        iban="FR76 3000 4000 0312 3456 7890 143",
        postal_address=PostalAddress("4 R St Jean", "69005", "Lyon"),
    )
    keys = applicant_keys(applicant, fingerprinter, today=TODAY)
    by_attribute: dict[str, set[bytes]] = {}
    for k in keys:
        by_attribute.setdefault(k.attribute, set()).add(k.fingerprint)
        assert k.kind is (Kind.PASSPORT if k.attribute == "document" else Kind(k.attribute))
    singles = {
        "document": fingerprinter.fingerprint(Kind.PASSPORT, "18AB12345"),
        "nir": fingerprinter.fingerprint(Kind.NIR, "295109912611193"),
        "email": fingerprinter.fingerprint(
            Kind.EMAIL, canonical(Kind.EMAIL, applicant.email or "")
        ),
        "phone": fingerprinter.fingerprint(Kind.PHONE, canonical(Kind.PHONE, "0612345678")),
        "iban": fingerprinter.fingerprint(Kind.IBAN, "FR7630004000031234567890143"),
        "postal_address": fingerprinter.fingerprint(
            Kind.POSTAL_ADDRESS, canonical_postal_address("4 rue Saint-Jean", "69005", "LYON")
        ),
    }
    for attribute, fingerprint in singles.items():
        assert by_attribute[attribute] == {fingerprint}
    # Birth and usage names each give keys; with a birth place, three keys per family name.
    expected_person = person_keys(
        PersonParts(("Dupont", "Martin"), "Julie", "1985-06-15", "Lyon"), today=TODAY
    )
    assert len(expected_person) == 6
    assert by_attribute["person"] == {
        fingerprinter.fingerprint(Kind.PERSON, text) for text in expected_person
    }


def test_invalid_applicant_lists_every_bad_field_and_never_echoes_a_value(
    fingerprinter: Fingerprinter,
) -> None:
    values = {
        "family_name": "Zqxwdupont",
        "given_names": "  ",
        "birth_date": "1990-02-31",
        "birth_place": "1234",
        "document_type": "visa-zq",
        "document_number": "DOCZQ987",
        "nir": "NIRZQ1234567",
        "email": "mail@@zq.example",
        "phone": "call-me-zq",
        "iban": "IBANZQ42",
    }
    address = PostalAddress("99 rue Zqxw", "00042", "Zqville")
    applicant = Applicant(
        family_name=values["family_name"],
        given_names=values["given_names"],
        birth_date=values["birth_date"],
        birth_place=values["birth_place"],
        document_type=values["document_type"],
        document_number=values["document_number"],
        nir=values["nir"],
        email=values["email"],
        phone=values["phone"],
        iban=values["iban"],
        postal_address=address,
    )
    with pytest.raises(InvalidApplicant) as info:
        applicant_keys(applicant, fingerprinter, today=TODAY)
    error = info.value
    assert (error.status, error.code) == (422, "invalid_applicant")
    assert set(error.fields) == {
        "given_names",
        "birth_date",
        "birth_place",
        "document_type",
        "nir",
        "email",
        "phone",
        "iban",
        "postal_address",
    }
    assert error.fields["given_names"] == "missing"
    assert "February" in error.fields["birth_date"]
    shown = " ".join([str(error), repr(error.fields), *error.fields.values()])
    for value in [*values.values(), address.line, address.postcode, address.city]:
        assert value is not None
        if value.strip():
            assert value not in shown


@pytest.mark.parametrize(
    ("applicant", "fields"),
    [
        (Applicant(family_name="Dupont"), {"given_names", "birth_date"}),
        (Applicant(birth_place="Lyon"), {"family_name", "given_names", "birth_date"}),
        (Applicant(document_type="cni"), {"document_number"}),
        (Applicant(document_number="X4RTBPFW4"), {"document_type"}),
        (Applicant(document_type="passport", document_number="18A112345"), {"document_number"}),
        (Applicant(), {"applicant"}),
        (Applicant(email="  ", postal_address=PostalAddress("")), {"applicant"}),
    ],
    ids=[
        "family-alone",
        "place-alone",
        "type-without-number",
        "number-without-type",
        "bad-number",
        "nothing",
        "only-blanks",
    ],
)
def test_incomplete_attributes_are_refused(
    fingerprinter: Fingerprinter, applicant: Applicant, fields: set[str]
) -> None:
    with pytest.raises(InvalidApplicant) as info:
        applicant_keys(applicant, fingerprinter, today=TODAY)
    assert set(info.value.fields) == fields
