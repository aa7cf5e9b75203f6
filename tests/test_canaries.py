"""Canary identities in the domain, on both stores: generated valid, planted as fingerprints
only, never colliding with what the registry holds, never thawed, found in a dump that holds
them (and only then), and listed with their incidents."""

from __future__ import annotations

import io
import itertools
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from stdnum import iban as stdnum_iban
from stdnum.fr import nir as stdnum_nir

from verrou.errors import Conflict, InvalidCanary
from verrou.fingerprints import Fingerprinter
from verrou.ingest.pipeline import IngestOptions, ingest_dump
from verrou.registry import canaries, subjects
from verrou.registry.audit import AuditDraft, verify_registry
from verrou.registry.canary_records import CanaryIdentity, CanaryPlanting, CanaryRef
from verrou.registry.checks import CheckRequest, CheckService
from verrou.registry.contacts import Contact, ContactKey, open_sealed
from verrou.registry.policy import Applicant, Freeze, Verdict, applicant_keys
from verrou.signing import SigningKey
from verrou.store import RegistryStore
from verrou.synth.canaries import CANARY_COLUMNS, canary_identities, write_canary_rows

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DOMAIN = "canary.example.gouv.fr"
OPERATORS = (
    Contact("email", "cert@operateur.example.fr"),
    Contact("webhook", "https://soc.operateur.example.fr/hooks/canaries"),
)


def _draw(seed: int, count: int) -> list[CanaryIdentity]:
    return list(itertools.islice(canary_identities(seed, DOMAIN), count))


def _plant(
    store: RegistryStore,
    fingerprinter: Fingerprinter,
    candidates: list[CanaryIdentity],
    count: int,
    contact_key: ContactKey | None = None,
    source: str = "partenaire-x",
) -> canaries.Planting:
    return canaries.plant_canaries(
        store,
        fingerprinter,
        candidates,
        count=count,
        source=source,
        contacts=OPERATORS,
        contact_key=contact_key or ContactKey.generate(),
        keep=lambda planted: None,
        now=NOW,
    )


def _rib_key_ok(iban: str) -> bool:
    """The RIB key of a French IBAN (REFERENCE: letters A/J→1 ... I/R/Z→9), by hand."""
    bban = iban.replace(" ", "")[4:]
    values = {**{str(d): d for d in range(10)}}
    for i, letter in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
        values[letter] = i + 1 if i < 9 else (i - 8 if i < 18 else i - 16)
    account = int("".join(str(values[c]) for c in bban[10:21]))
    bank, branch, key = int(bban[:5]), int(bban[5:10]), int(bban[21:])
    return key == 97 - (89 * bank + 15 * branch + 3 * account) % 97


def test_generated_canaries_pass_every_validator(fingerprinter: Fingerprinter) -> None:
    drawn = _draw(2026, 300)
    for identity in drawn:
        kinds = {key.kind.value for key in canaries.identity_keys(identity, fingerprinter)}
        assert kinds == {"person", "cni", "passport", "nir", "iban", "email", "phone"}
        nir = identity.nir.replace(" ", "")
        stdnum_nir.validate(nir)
        born = identity.birth_date
        assert nir[0] == ("2" if identity.civility == "Mme" else "1")
        assert nir[1:5] == f"{born.year % 100:02d}{born.month:02d}"
        stdnum_iban.validate(identity.iban)
        assert identity.iban.startswith("FR") and _rib_key_ok(identity.iban)
        assert re.fullmatch(r"[A-Z0-9]{9}", identity.cni)  # a CNIe
        assert re.fullmatch(r"\d{2}[A-Z]{2}\d{5}", identity.passport)
        assert re.fullmatch(r"0[67]( \d\d){4}", identity.phone)
        assert identity.email.endswith("@" + DOMAIN)
        assert date(1930, 1, 1) <= born <= date(2008, 12, 31)
        assert identity.family_name and identity.given_names
    assert len({i.email for i in drawn}) > 290  # mostly distinct: refusals take the rest
    assert "FR76" not in repr(drawn[0]) and drawn[0].email not in repr(drawn[0])


def test_a_seed_draws_the_same_canaries_and_another_seed_others() -> None:
    assert _draw(7, 20) == _draw(7, 20)
    assert not {i.nir for i in _draw(7, 20)} & {i.nir for i in _draw(8, 20)}


def test_the_planting_csv_has_the_dump_columns() -> None:
    handle = io.StringIO()
    assert write_canary_rows(handle, _draw(3, 2)) == 2
    header, *rows = handle.getvalue().splitlines()
    assert header.split(";") == list(CANARY_COLUMNS)
    assert all(len(row.split(";")) == len(CANARY_COLUMNS) for row in rows)


def test_a_planting_keeps_fingerprints_and_freezes_every_key(
    store: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    contact_key = ContactKey.generate()
    kept: list[CanaryIdentity] = []
    planting = canaries.plant_canaries(
        store,
        fingerprinter,
        canary_identities(11, DOMAIN),
        count=3,
        source="  partenaire-x ",
        contacts=OPERATORS,
        contact_key=contact_key,
        keep=kept.extend,
        now=NOW,
    )
    assert list(planting.identities) == kept and len(kept) == 3
    listed = store.canaries()
    assert [c.id for c in listed] == sorted(c.id for c in listed)  # one planting time: by id
    assert {c.id for c in listed} == {c.id for c in planting.canaries}
    assert all(c.source == "partenaire-x" and c.planted_at == NOW for c in listed)
    every_kind = {"cni", "email", "iban", "nir", "passport", "person", "phone"}
    assert all(set(c.kinds) == every_kind for c in listed)
    for planted, identity in zip(planting.canaries, planting.identities, strict=True):
        keys = canaries.identity_keys(identity, fingerprinter)
        freezes, _ = store.freezes_for([k.fingerprint for k in keys], now=NOW)
        assert len(freezes) == len(keys) and all(f.canary and f.rank == 3 for f in freezes)
        sealed = store.contacts_for([k.fingerprint for k in keys])
        for key in keys:
            opened = [
                open_sealed(c.sealed, contact_key, subject_fingerprint=key.fingerprint)
                for c in sealed[key.fingerprint]
            ]
            named = CanaryRef(planted.id, "partenaire-x")
            assert {(c.channel, c.canary) for c in opened} == {
                ("email", named),
                ("webhook", named),
            }
            assert {c.owner_ref for c in sealed[key.fingerprint]} == {
                f"{planted.id}.email",
                f"{planted.id}.webhook",
            }
    # Every canary freeze is in the log, so `audit verify` replays the freeze state exactly.
    report = verify_registry(store.audit_entries(), store.audit_snapshot())
    assert report.ok, report.problem


def test_candidates_whose_keys_the_registry_holds_are_refused(
    store: RegistryStore, fingerprinter: Fingerprinter, tmp_path: Path
) -> None:
    drawn = _draw(5, 12)
    # The first candidate leaked (its row is in a dump), the second's email is frozen.
    dump = tmp_path / "leak.csv"
    with dump.open("w", encoding="utf-8") as handle:
        write_canary_rows(handle, drawn[:1])
    ingest_dump(
        store,
        fingerprinter,
        dump,
        IngestOptions(breach="fuite", workers=0, report_dir=tmp_path / "reports"),
    )
    email = applicant_keys(Applicant(email=drawn[1].email), fingerprinter)
    subjects.place_freeze(
        store, email, placed_by="owner", reason="owner_request", actor="owner", now=NOW
    )
    first = _plant(store, fingerprinter, drawn, 2)
    assert list(first.identities) == drawn[2:4] and first.refused == 2
    # The same draw again: its canaries are the registry's now, so the next ones are taken.
    second = _plant(store, fingerprinter, drawn, 2)
    assert list(second.identities) == drawn[4:6] and second.refused == 4
    with pytest.raises(Conflict, match="ran out"):
        _plant(store, fingerprinter, drawn[:4], 1)
    assert len(store.canaries()) == 4


def test_a_planting_is_all_or_nothing(store: RegistryStore, fingerprinter: Fingerprinter) -> None:
    drawn = _draw(9, 2)

    def lose(planted: object) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError):
        canaries.plant_canaries(
            store,
            fingerprinter,
            drawn,
            count=2,
            source="partenaire-x",
            contacts=OPERATORS,
            contact_key=ContactKey.generate(),
            keep=lose,
            now=NOW,
        )
    assert store.canaries() == []
    keys = [k.fingerprint for i in drawn for k in canaries.identity_keys(i, fingerprinter)]
    assert store.freezes_for(keys, now=NOW) == ([], [])
    # The store refuses a planting racing a freeze on one of its keys, and writes nothing.
    key = canaries.identity_keys(drawn[0], fingerprinter)[0]
    subjects.place_freeze(
        store, [key], placed_by="operator", reason="fraud_suspected", actor="op", now=NOW
    )
    before = len(list(store.audit_entries()))
    freeze = Freeze(key.fingerprint, "operator", "canary", NOW, canary=True)
    draft = AuditDraft("freeze.place", "op", key.fingerprint.hex(), {}, NOW)
    with pytest.raises(Conflict, match="nothing was planted"):
        store.plant_canaries(CanaryPlanting([], [], [(freeze, draft)]))
    assert len(list(store.audit_entries())) == before


@pytest.mark.parametrize(
    ("count", "source", "contacts", "refused"),
    [
        (0, "x", OPERATORS, "1 to 10,000 canaries"),
        (1, "two\nlines", OPERATORS, "one printable line"),
        (1, "x" * 121, OPERATORS, "one printable line"),
        (1, "x", (), "operators' email or webhook"),
    ],
)
def test_a_planting_refuses_what_cannot_be(
    store: RegistryStore,
    fingerprinter: Fingerprinter,
    count: int,
    source: str,
    contacts: tuple[Contact, ...],
    refused: str,
) -> None:
    with pytest.raises(InvalidCanary, match=refused):
        canaries.plant_canaries(
            store,
            fingerprinter,
            _draw(1, 1),
            count=count,
            source=source,
            contacts=contacts,
            contact_key=ContactKey.generate(),
            keep=lambda planted: None,
            now=NOW,
        )
    assert store.canaries() == []


def test_domains_are_checked_and_canonical() -> None:
    assert canaries.checked_domain(" Canary.Example.GOUV.fr") == DOMAIN
    with pytest.raises(InvalidCanary, match="email domain"):
        canaries.checked_domain("not a domain")


def test_no_thaw_ever_opens_a_canary(store: RegistryStore, fingerprinter: Fingerprinter) -> None:
    planting = _plant(store, fingerprinter, _draw(13, 1), 1)
    (identity,) = planting.identities
    keys = canaries.identity_keys(identity, fingerprinter)
    party, _ = store.create_relying_party("Banque Exemple", "bank")
    end = NOW + timedelta(days=30)
    for whom in (None, party.id):  # for every relying party, then for this one
        subjects.thaw(
            store, keys, relying_party_id=whom, starts=NOW, until=end, actor="op", now=NOW
        )
    service = CheckService(store, SigningKey.generate(), clock=lambda: NOW + timedelta(hours=1))
    by_email = applicant_keys(Applicant(email=identity.email), fingerprinter)
    outcome = service.check(CheckRequest(tuple(by_email), party))
    assert outcome.decision.verdict is Verdict.DENY and outcome.decision.canary_tripped
    assert {r.code for r in outcome.decision.reasons} == {"canary"}


def test_each_attribute_of_a_canary_alone_is_denied(
    store: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    """However the fraudster fills in the form, with the values as the leaked row spells them."""
    (identity,) = _plant(store, fingerprinter, _draw(29, 1), 1).identities
    born = identity.birth_date
    forms: list[dict[str, object]] = [
        {
            "family_name": identity.family_name.upper(),
            "given_names": ", ".join(identity.given_names),
            "birth_date": f"{born.day:02d}/{born.month:02d}/{born.year}",
        },
        {"document_type": "cni", "document_number": identity.cni},
        {"document_type": "passport", "document_number": identity.passport},
        {"nir": identity.nir},
        {"iban": identity.iban},
        {"phone": identity.phone},
        {"email": identity.email},
    ]
    party, _ = store.create_relying_party("Banque Exemple", "bank")
    service = CheckService(store, SigningKey.generate(), clock=lambda: NOW + timedelta(hours=1))
    for form in forms:
        keys = applicant_keys(Applicant(**form), fingerprinter)  # type: ignore[arg-type]
        decision = service.check(CheckRequest(tuple(keys), party)).decision
        assert decision.verdict is Verdict.DENY and decision.canary_tripped, sorted(form)


def test_a_dump_holding_canaries_is_attributed_to_their_source(
    store: RegistryStore, fingerprinter: Fingerprinter, tmp_path: Path
) -> None:
    later = NOW + timedelta(days=20)
    first = _plant(store, fingerprinter, _draw(17, 10), 3)
    second = canaries.plant_canaries(
        store,
        fingerprinter,
        _draw(18, 10),
        count=2,
        source="service-y",
        contacts=OPERATORS[:1],
        contact_key=ContactKey.generate(),
        keep=lambda planted: None,
        now=later,
    )
    dump = tmp_path / "dump.csv"
    leaked = [*first.identities[:2], second.identities[0]]
    with dump.open("w", encoding="utf-8") as handle:
        write_canary_rows(handle, leaked)
    options = IngestOptions(breach="fuite-2027", workers=0, report_dir=tmp_path / "reports")
    report = ingest_dump(store, fingerprinter, dump, options)
    assert [(e.source, e.canaries, e.planted_at) for e in report.canaries] == [
        ("partenaire-x", 2, NOW),
        ("service-y", 1, later),
    ]
    assert report.to_json()["canaries"][0]["planted_at"] == NOW.isoformat()
    breach = store.get_breach("fuite-2027")
    assert breach is not None
    assert store.breach_evidence(breach.id) == report.canaries
    assert all(e.kind == "canary" and e.run_id == report.run_id for e in report.canaries)
    # The same file again: nothing ingested, the same evidence told, recorded once.
    again = ingest_dump(store, fingerprinter, dump, options)
    assert again.status == "already_ingested" and again.canaries == report.canaries
    assert store.breach_evidence(breach.id) == report.canaries


def test_a_namesake_is_not_a_canary(
    store: RegistryStore, fingerprinter: Fingerprinter, tmp_path: Path
) -> None:
    """A dump holding only a canary's name and birth date (a real namesake's, perhaps) does not
    name the canary's source; one holding its NIR does."""
    (identity,) = _plant(store, fingerprinter, _draw(19, 5), 1).identities
    born = identity.birth_date.isoformat()
    person = f"{identity.family_name};{' '.join(identity.given_names)};{born}"
    namesake = tmp_path / "namesake.csv"
    namesake.write_text(f"nom;prenoms;date_naissance\n{person}\n", encoding="utf-8")
    options = IngestOptions(breach="autre", workers=0, report_dir=tmp_path / "reports")
    assert ingest_dump(store, fingerprinter, namesake, options).canaries == []
    with_nir = tmp_path / "nir.csv"
    with_nir.write_text(f"nom;prenoms;date_naissance;nir\n{person};{identity.nir}\n", "utf-8")
    found = ingest_dump(store, fingerprinter, with_nir, options).canaries
    assert [(e.source, e.canaries) for e in found] == [("partenaire-x", 1)]


def test_incidents_are_the_checks_on_canaries(
    store: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    planting = _plant(store, fingerprinter, _draw(23, 5), 2)
    party, _ = store.create_relying_party("Banque Exemple", "bank")
    telco, _ = store.create_relying_party("Télécom Exemple", "telco")
    one, two = planting.identities
    clock = [NOW + timedelta(hours=1)]
    service = CheckService(store, SigningKey.generate(), clock=lambda: clock[0])

    def check(party_id: object, **attributes: object) -> str:
        keys = applicant_keys(Applicant(**attributes), fingerprinter)  # type: ignore[arg-type]
        clock[0] += timedelta(minutes=1)
        return service.check(CheckRequest(tuple(keys), party_id)).check_id  # type: ignore[arg-type]

    by_person = check(
        party,
        family_name=one.family_name,
        given_names=" ".join(one.given_names),
        birth_date=one.birth_date,
        phone=one.phone,
    )
    by_iban = check(telco, iban=two.iban)
    check(party, email="quelqu.un@example.fr")  # no canary: no incident
    found = canaries.incidents(store)
    told = [
        (i.check.check_id, i.canary.id, i.check.relying_party_name, i.check.sector, i.check.verdict)
        for i in found
    ]
    assert told == [
        (by_iban, planting.canaries[1].id, "Télécom Exemple", "telco", "deny"),
        (by_person, planting.canaries[0].id, "Banque Exemple", "bank", "deny"),
    ]
    assert all(i.canary.source == "partenaire-x" for i in found)
    assert canaries.incidents(store, limit=1) == found[:1]
    assert [(s.canary.id, s.incidents) for s in canaries.summaries(store)] == [
        (c.id, 1) for c in sorted(planting.canaries, key=lambda c: c.id)
    ]
    # The check queued one incident alert per channel, for the canary it hit.
    due = store.due(NOW + timedelta(days=1), 10)
    assert sorted(item.alert.kind for item in due) == ["canary_tripped"] * 4
