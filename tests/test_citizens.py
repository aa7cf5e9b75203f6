"""Citizens' own keys: sign-in binds the verified person keys; freeze, thaw for one bank, lift,
each by the rule that stops a fraudster from opening a victim's identity; who checked me."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from verrou.errors import Conflict, InvalidApplicant, InvalidCode, InvalidThaw
from verrou.fingerprints import Fingerprinter
from verrou.registry import citizens, subjects
from verrou.registry.audit import verify_registry
from verrou.registry.checks import CheckRequest, CheckService
from verrou.registry.contacts import ContactKey, open_sealed
from verrou.registry.policy import Applicant, Verdict, applicant_keys
from verrou.signing import SigningKey
from verrou.store.protocols import RegistryStore

NOW = datetime(2026, 5, 3, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Claims:
    """FranceConnect-shaped claims, as :mod:`verrou.oidc` verifies them."""

    subject: str
    given_name: str
    family_name: str
    birthdate: str
    issuer: str = "https://fc.example"
    preferred_username: str | None = None
    birthplace: str = ""


#: Jean Pierre Dupont is in the synthetic leak (conftest.LEAKED_PEOPLE).
JEAN = Claims("sub-jean", "Jean Pierre", "Dupont", "1980-05-17")
ELODIE = Claims("sub-elodie", "Élodie", "de La Fontaine", "1975-11-02")


def applicant_jean() -> Applicant:
    return Applicant(family_name="Dupont", given_names="Jean Pierre", birth_date="1980-05-17")


def check(
    store: RegistryStore, party_name: str, applicant: Applicant, fp: Fingerprinter, at: datetime
) -> Verdict:
    party = next(p for p in store.list_relying_parties() if p.name == party_name)
    service = CheckService(store, SigningKey.generate(), clock=lambda: at)
    keys = applicant_keys(applicant, fp, today=at.date())
    return service.check(CheckRequest(tuple(keys), party)).decision.verdict


@pytest.fixture
def banks(leaked_store: RegistryStore) -> RegistryStore:
    leaked_store.create_relying_party("Banque Exemple", "bank", at=NOW)
    leaked_store.create_relying_party("Crédit Autre", "bank", at=NOW)
    return leaked_store


def party_id(store: RegistryStore, name: str) -> str:
    return next(p.id for p in store.list_relying_parties() if p.name == name)


def test_sign_in_binds_the_verified_person_keys_once(
    banks: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    first = citizens.sign_in(banks, fingerprinter, JEAN, now=NOW)
    again = citizens.sign_in(banks, fingerprinter, JEAN, now=NOW + timedelta(days=1))
    assert again.id == first.id and again.created_at == first.created_at
    keys = citizens.my_keys(banks, first.id)
    assert {k.attribute for k in keys} == {"person"} and all(k.proven for k in keys)
    assert len(keys) == len(citizens.identity_keys(JEAN, fingerprinter, today=NOW.date()))
    other = citizens.sign_in(banks, fingerprinter, ELODIE, now=NOW)
    assert other.id != first.id
    exposures = citizens.my_exposures(banks, first.id)
    assert [e.breach for e in exposures] == ["ants-2026"]
    assert exposures[0].data_classes == ("names", "birth_dates", "emails", "phones")


def test_freeze_thaw_for_one_bank_then_lift(
    banks: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    jean = citizens.sign_in(banks, fingerprinter, JEAN, now=NOW)
    assert check(banks, "Banque Exemple", applicant_jean(), fingerprinter, NOW) is Verdict.STEP_UP

    frozen = citizens.freeze_mine(banks, jean.id, now=NOW)
    assert {o.outcome for o in frozen} == {"placed"}
    later = NOW + timedelta(minutes=1)
    assert check(banks, "Banque Exemple", applicant_jean(), fingerprinter, later) is Verdict.DENY

    bank = party_id(banks, "Banque Exemple")
    thawed = citizens.thaw_mine(
        banks, jean.id, relying_party_id=bank, until=later + timedelta(days=3), now=later
    )
    assert {o.outcome for o in thawed} == {"thawed"}
    soon = later + timedelta(minutes=1)
    assert check(banks, "Banque Exemple", applicant_jean(), fingerprinter, soon) is Verdict.CLEAR
    assert check(banks, "Crédit Autre", applicant_jean(), fingerprinter, soon) is Verdict.DENY

    lifted = citizens.lift_mine(banks, jean.id, now=soon)
    assert {o.outcome for o in lifted} == {"lifted"}
    last = soon + timedelta(minutes=1)
    assert check(banks, "Crédit Autre", applicant_jean(), fingerprinter, last) is Verdict.STEP_UP

    seen = citizens.who_checked(banks, jean.id)
    assert [(c.relying_party_name, c.verdict) for c in seen] == [
        ("Crédit Autre", "step_up"),
        ("Crédit Autre", "deny"),
        ("Banque Exemple", "clear"),
        ("Banque Exemple", "deny"),
        ("Banque Exemple", "step_up"),
    ]
    assert all(c.sector == "bank" and c.attributes == ("person",) for c in seen)
    assert verify_registry(banks.audit_entries(), banks.audit_snapshot()).ok


def test_a_thaw_lasts_at_most_thirty_days(
    banks: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    jean = citizens.sign_in(banks, fingerprinter, JEAN, now=NOW)
    citizens.freeze_mine(banks, jean.id, now=NOW)
    with pytest.raises(InvalidThaw, match="30 days"):
        citizens.thaw_mine(
            banks, jean.id, relying_party_id=None, until=NOW + timedelta(days=31), now=NOW
        )


def test_no_citizen_opens_a_freeze_that_is_not_their_own(
    banks: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    """An operator's freeze, a report's, a canary's and another citizen's stay closed."""
    jean = citizens.sign_in(banks, fingerprinter, JEAN, now=NOW)
    keys = [k.identity_key() for k in citizens.my_keys(banks, jean.id)]
    subjects.place_freeze(
        banks, keys, placed_by="operator", reason="fraud_suspected", actor="operator", now=NOW
    )
    with pytest.raises(Conflict, match="not_your_freeze"):
        citizens.thaw_mine(
            banks, jean.id, relying_party_id=None, until=NOW + timedelta(days=1), now=NOW
        )
    with pytest.raises(Conflict, match="not_your_freeze"):
        citizens.lift_mine(banks, jean.id, now=NOW)
    # The citizen's own freeze does not outrank the operator's.
    assert {o.outcome for o in citizens.freeze_mine(banks, jean.id, now=NOW)} == {"already_frozen"}
    later = NOW + timedelta(minutes=1)
    assert check(banks, "Banque Exemple", applicant_jean(), fingerprinter, later) is Verdict.DENY


def test_a_key_two_citizens_claim_stays_frozen_and_is_listed(
    banks: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    """A fraudster binds the victim's IBAN to their own account: neither account may open it,
    and the operators see the conflict."""
    victim = citizens.sign_in(banks, fingerprinter, JEAN, now=NOW)
    fraudster = citizens.sign_in(banks, fingerprinter, ELODIE, now=NOW)
    iban = Applicant(iban="FR76 3000 6000 0112 3456 7890 189")
    citizens.bind_identifiers(banks, fingerprinter, victim.id, iban, now=NOW)
    citizens.freeze_mine(banks, victim.id, now=NOW)
    citizens.bind_identifiers(banks, fingerprinter, fraudster.id, iban, now=NOW)

    outcomes = citizens.thaw_mine(
        banks, victim.id, relying_party_id=None, until=NOW + timedelta(days=1), now=NOW
    )
    by_attribute = {o.key.attribute: (o.outcome, o.refusal) for o in outcomes}
    assert by_attribute["iban"] == ("refused", "contested")
    assert by_attribute["person"] == ("thawed", None)
    with pytest.raises(Conflict):
        citizens.lift_mine(banks, fraudster.id, now=NOW)  # the victim's freeze, not theirs

    contested = banks.contested_keys()
    assert len(contested) == 1
    assert contested[0].frozen and set(contested[0].citizens) == {victim.id, fraudster.id}


def test_an_unproven_identifier_that_leaked_is_never_thawed(
    banks: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    """Freeze-then-thaw of a bound phone that a breach holds would turn the bank's step_up into
    clear for whoever bound it: it stays frozen, and a lift gives step_up back."""
    jean = citizens.sign_in(banks, fingerprinter, JEAN, now=NOW)
    citizens.bind_identifiers(
        banks, fingerprinter, jean.id, Applicant(phone="06 12 34 56 78"), now=NOW
    )
    citizens.freeze_mine(banks, jean.id, now=NOW)
    outcomes = citizens.thaw_mine(
        banks, jean.id, relying_party_id=None, until=NOW + timedelta(days=1), now=NOW
    )
    by_attribute = {o.key.attribute: (o.outcome, o.refusal) for o in outcomes}
    assert by_attribute["phone"] == ("refused", "unproven_exposed")
    later = NOW + timedelta(minutes=1)
    phone = Applicant(phone="06 12 34 56 78")
    assert check(banks, "Banque Exemple", phone, fingerprinter, later) is Verdict.DENY
    citizens.lift_mine(banks, jean.id, now=later)
    assert check(banks, "Banque Exemple", phone, fingerprinter, later) is Verdict.STEP_UP


def test_person_and_email_are_not_bound_without_proof(
    banks: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    jean = citizens.sign_in(banks, fingerprinter, JEAN, now=NOW)
    with pytest.raises(InvalidApplicant) as caught:
        citizens.bind_identifiers(
            banks, fingerprinter, jean.id, Applicant(email="jean.dupont@example.fr"), now=NOW
        )
    assert "jean" not in str(caught.value).lower()


def test_an_email_proven_by_code_becomes_the_alert_contact(
    banks: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    contact_key = ContactKey.generate()
    jean = citizens.sign_in(banks, fingerprinter, JEAN, now=NOW, contact_key=contact_key)
    code_id, code, contact = citizens.start_email_proof(
        banks, fingerprinter, contact_key, jean.id, "Jean.Dupont+verrou@example.fr", now=NOW
    )
    assert contact.address == "jean.dupont@example.fr"
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(InvalidCode, match="not the one"):
        citizens.prove_email(banks, contact_key, jean.id, code_id, wrong, now=NOW)
    with pytest.raises(InvalidCode):  # another citizen cannot use it
        other = citizens.sign_in(banks, fingerprinter, ELODIE, now=NOW)
        citizens.prove_email(banks, contact_key, other.id, code_id, code, now=NOW)
    proven = citizens.prove_email(banks, contact_key, jean.id, code_id, code, now=NOW)
    assert proven.attribute == "email" and proven.source == "email"
    with pytest.raises(InvalidCode, match="used"):
        citizens.prove_email(banks, contact_key, jean.id, code_id, code, now=NOW)

    # The email is a contact of every key of Jean, and his account changes alert it.
    citizens.freeze_mine(banks, jean.id, now=NOW)
    later = NOW + timedelta(minutes=1)
    bank = party_id(banks, "Banque Exemple")
    citizens.thaw_mine(
        banks,
        jean.id,
        relying_party_id=bank,
        relying_party_name="Banque Exemple",
        until=later + timedelta(days=3),
        now=later,
    )
    assert check(banks, "Crédit Autre", applicant_jean(), fingerprinter, later) is Verdict.DENY
    due = banks.due(later + timedelta(hours=1), 20)
    kinds = sorted(item.alert.kind for item in due)
    assert kinds == ["attempt_on_frozen", "identity_frozen", "identity_thawed"]
    thawed = next(item for item in due if item.alert.kind == "identity_thawed")
    assert thawed.alert.until == later + timedelta(days=3)
    assert thawed.alert.relying_party == "Banque Exemple"
    opened = open_sealed(
        thawed.sealed_contact, contact_key, subject_fingerprint=thawed.alert.subject_fingerprint
    )
    assert opened.address == "jean.dupont@example.fr"


def test_an_email_code_expires_and_takes_few_tries(
    banks: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    contact_key = ContactKey.generate()
    jean = citizens.sign_in(banks, fingerprinter, JEAN, now=NOW)
    code_id, code, _ = citizens.start_email_proof(
        banks, fingerprinter, contact_key, jean.id, "jean@example.fr", now=NOW
    )
    late = NOW + citizens.EMAIL_CODE_TTL + timedelta(seconds=1)
    with pytest.raises(InvalidCode, match="expired"):
        citizens.prove_email(banks, contact_key, jean.id, code_id, code, now=late)
    code_id, code, _ = citizens.start_email_proof(
        banks, fingerprinter, contact_key, jean.id, "jean@example.fr", now=NOW
    )
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(citizens.EMAIL_CODE_ATTEMPTS):
        with pytest.raises(InvalidCode, match="not the one"):
            citizens.prove_email(banks, contact_key, jean.id, code_id, wrong, now=NOW)
    with pytest.raises(InvalidCode, match="too many"):
        citizens.prove_email(banks, contact_key, jean.id, code_id, code, now=NOW)


def test_a_later_breach_alerts_its_citizens_once(
    banks: RegistryStore, fingerprinter: Fingerprinter, tmp_path: object
) -> None:
    from pathlib import Path

    from conftest import write_leak
    from verrou.ingest.pipeline import IngestOptions, ingest_dump
    from verrou.registry.records import BreachInfo

    contact_key = ContactKey.generate()
    jean = citizens.sign_in(banks, fingerprinter, JEAN, now=NOW, contact_key=contact_key)
    code_id, code, _ = citizens.start_email_proof(
        banks, fingerprinter, contact_key, jean.id, "jean@example.fr", now=NOW
    )
    citizens.prove_email(banks, contact_key, jean.id, code_id, code, now=NOW)
    banks.ensure_breach(BreachInfo(name="telco-2026", data_classes=("names", "phones")))
    folder = Path(str(tmp_path)) / "second"
    folder.mkdir()
    result = ingest_dump(
        banks,
        fingerprinter,
        write_leak(folder / "leak.csv"),
        IngestOptions(breach="telco-2026", workers=0, report_dir=folder / "reports"),
    )
    assert citizens.alert_new_exposures(banks, result.run_id, now=NOW) == 1
    due = [i for i in banks.due(NOW + timedelta(hours=1), 20) if i.alert.kind == "new_breach"]
    assert len(due) == 1
    assert due[0].alert.breach == "telco-2026"
    assert due[0].alert.data_classes == ("names", "phones")


def test_nothing_personal_is_stored(
    banks: RegistryStore, fingerprinter: Fingerprinter, database_url: str
) -> None:
    jean = citizens.sign_in(banks, fingerprinter, JEAN, now=NOW)
    citizens.freeze_mine(banks, jean.id, now=NOW)
    logged = b"\n".join(entry.content for entry in banks.audit_entries())
    # Whole values only: the log holds random hex (ids, fingerprints) that any digits can match.
    for text in (b"Dupont", b"dupont", b"Jean", b"1980-05-17", b"sub-jean", b"fc.example"):
        assert text not in logged
    if database_url.startswith("sqlite"):
        from pathlib import Path

        raw = Path(database_url.removeprefix("sqlite:///")).read_bytes()
        for text in (b"Dupont", b"DUPONT", b"sub-jean", b"fc.example"):
            assert text not in raw


def test_an_account_cannot_mail_strangers_without_end(
    banks: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    from verrou.errors import RateLimited

    contact_key = ContactKey.generate()
    jean = citizens.sign_in(banks, fingerprinter, JEAN, now=NOW)
    for number in range(citizens.EMAIL_CODES_PER_HOUR):
        citizens.start_email_proof(
            banks, fingerprinter, contact_key, jean.id, f"x{number}@example.fr", now=NOW
        )
    with pytest.raises(RateLimited) as refused:
        citizens.start_email_proof(
            banks, fingerprinter, contact_key, jean.id, "y@example.fr", now=NOW
        )
    assert refused.value.retry_after == 3600
    later = NOW + timedelta(hours=1, seconds=1)
    citizens.start_email_proof(
        banks, fingerprinter, contact_key, jean.id, "y@example.fr", now=later
    )
