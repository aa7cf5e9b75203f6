"""Filing identity-theft reports and issuing attestations against the real store: the report
freezes the identity as ``report`` (no citizen opens it), a relying party verifies it and learns
only which of its own checks it disputes, an operator withdraws it; attestations expire."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime, timedelta

import pytest

from test_citizens import ELODIE, JEAN, applicant_jean, check, party_id
from verrou.errors import Conflict, InvalidReport, NotFound, SignatureError
from verrou.fingerprints import Fingerprinter
from verrou.pdf import attestation_pdf, report_pdf
from verrou.registry import citizens, filing
from verrou.registry.audit import verify_registry
from verrou.registry.contacts import ContactKey
from verrou.registry.policy import Verdict
from verrou.registry.reports import verify_report_token
from verrou.signing import SigningKey, public_jwks
from verrou.store.protocols import RegistryStore

NOW = datetime(2026, 5, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def banks(leaked_store: RegistryStore) -> RegistryStore:
    leaked_store.create_relying_party("Banque Exemple", "bank", at=NOW)
    leaked_store.create_relying_party("Crédit Autre", "bank", at=NOW)
    return leaked_store


def _jean_checked(store: RegistryStore, fingerprinter: Fingerprinter) -> str:
    jean = citizens.sign_in(store, fingerprinter, JEAN, now=NOW)
    check(store, "Banque Exemple", applicant_jean(), fingerprinter, NOW)
    check(store, "Crédit Autre", applicant_jean(), fingerprinter, NOW + timedelta(minutes=1))
    return jean.id


def test_a_report_freezes_and_a_bank_verifies_its_own_disputed_check(
    banks: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    key = SigningKey.generate()
    jwks = public_jwks([key])
    jean = _jean_checked(banks, fingerprinter)
    seen = citizens.who_checked(banks, jean)
    bank_check = next(c for c in seen if c.relying_party_name == "Banque Exemple")
    other = party_id(banks, "Crédit Autre")
    later = NOW + timedelta(hours=1)
    stored, report = filing.file_report(
        banks,
        key,
        jean,
        disputed_check_ids=[bank_check.check_id],
        declared=[filing.FraudDeclared("account_opened", date(2026, 5, 2), relying_party_id=other)],
        now=later,
        note="Le conseiller m'a dit que le dossier venait d'une agence de Lyon.",
        contact_key=ContactKey.generate(),
    )
    assert report.freeze.keys >= 2
    # Frozen by the report: every bank is denied, and the citizen cannot open it.
    assert check(banks, "Banque Exemple", applicant_jean(), fingerprinter, later) is Verdict.DENY
    with pytest.raises(Conflict, match="not_your_freeze"):
        citizens.thaw_mine(
            banks, jean, relying_party_id=None, until=later + timedelta(days=1), now=later
        )

    claims = verify_report_token(stored.token, jwks)
    assert claims["jti"] == stored.id
    bank = party_id(banks, "Banque Exemple")
    mine = filing.verify_for(banks, stored.token, jwks, relying_party_id=bank, now=later)
    assert mine.valid and mine.kind == "report" and mine.disputed_checks == (bank_check.check_id,)
    theirs = filing.verify_for(banks, stored.token, jwks, relying_party_id=other, now=later)
    assert theirs.valid and theirs.disputed_checks == ()  # never another party's checks

    # The note is sealed: not in the claims, the token or the log.
    logged = b"\n".join(entry.content for entry in banks.audit_entries())
    for blob in (stored.claims.encode(), stored.token.encode(), logged):
        assert b"Lyon" not in blob
    assert stored.sealed_note is not None and b"Lyon" not in stored.sealed_note

    withdrawn = filing.withdraw(banks, stored.id, actor="operator", now=later)
    assert withdrawn.status == "withdrawn"
    after = filing.verify_for(banks, stored.token, jwks, relying_party_id=bank, now=later)
    assert not after.valid and after.status == "withdrawn"
    with pytest.raises(Conflict):
        filing.withdraw(banks, stored.id, actor="operator", now=later)
    # Withdrawing keeps the freeze: lifting it is an operator's decision.
    assert check(banks, "Banque Exemple", applicant_jean(), fingerprinter, later) is Verdict.DENY
    assert verify_registry(banks.audit_entries(), banks.audit_snapshot()).ok


def test_a_report_disputes_only_checks_of_the_citizens_own_keys(
    banks: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    key = SigningKey.generate()
    jean = _jean_checked(banks, fingerprinter)
    elodie = citizens.sign_in(banks, fingerprinter, ELODIE, now=NOW)
    someone_elses = citizens.who_checked(banks, jean)[0].check_id
    with pytest.raises(NotFound, match="no check"):
        filing.file_report(
            banks, key, elodie.id, disputed_check_ids=[someone_elses], declared=[], now=NOW
        )
    with pytest.raises(InvalidReport):
        filing.file_report(banks, key, elodie.id, disputed_check_ids=[], declared=[], now=NOW)
    with pytest.raises(InvalidReport):
        filing.file_report(
            banks,
            key,
            elodie.id,
            disputed_check_ids=[],
            declared=[filing.FraudDeclared("credit_taken", date(2026, 5, 2), date(2026, 5, 1))],
            now=NOW,
        )


def test_the_report_pdf_says_what_was_declared(
    banks: RegistryStore, fingerprinter: Fingerprinter, tmp_path: object
) -> None:
    from pathlib import Path

    key = SigningKey.generate()
    jean = _jean_checked(banks, fingerprinter)
    disputed = citizens.who_checked(banks, jean)[0]
    stored, _ = filing.file_report(
        banks, key, jean, disputed_check_ids=[disputed.check_id], declared=[], now=NOW
    )
    rebuilt = filing.report_of(banks, stored)
    pdf = report_pdf(
        rebuilt,
        token=stored.token,
        citizen_name="Jean Pierre Dupont",
        verify_url=f"http://127.0.0.1:8000/v1/reports/{stored.id}",
    )
    assert pdf == report_pdf(  # the same report renders to the same bytes
        filing.report_of(banks, stored),
        token=stored.token,
        citizen_name="Jean Pierre Dupont",
        verify_url=f"http://127.0.0.1:8000/v1/reports/{stored.id}",
    )
    path = Path(str(tmp_path)) / "report.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout
    assert stored.id in text and "Jean Pierre Dupont" in text
    assert disputed.relying_party_name in text


def test_an_attestation_lists_the_breaches_and_expires(
    banks: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    key = SigningKey.generate()
    jwks = public_jwks([key])
    jean = citizens.sign_in(banks, fingerprinter, JEAN, now=NOW)
    citizens.freeze_mine(banks, jean.id, now=NOW)
    stored, attestation = filing.issue_attestation(
        banks, key, jean.id, now=NOW, validity=timedelta(days=90)
    )
    assert [b.name for b in attestation.breaches] == ["ants-2026"] and attestation.frozen
    bank = party_id(banks, "Banque Exemple")
    found = filing.verify_for(banks, stored.token, jwks, relying_party_id=bank, now=NOW)
    assert found.valid and found.kind == "attestation"
    with pytest.raises(SignatureError):
        filing.verify_for(
            banks, stored.token, jwks, relying_party_id=bank, now=NOW + timedelta(days=91)
        )
    pdf = attestation_pdf(
        filing.attestation_of(stored),
        token=stored.token,
        citizen_name="Jean Pierre Dupont",
        verify_url="http://127.0.0.1:8000/v1/reports/verify",
    )
    assert pdf.startswith(b"%PDF")


def test_a_token_this_registry_did_not_issue_is_refused(
    banks: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    ours, theirs = SigningKey.generate(), SigningKey.generate()
    jean = _jean_checked(banks, fingerprinter)
    stored, report = filing.file_report(
        banks,
        ours,
        jean,
        disputed_check_ids=[],
        declared=[filing.FraudDeclared("other", date(2026, 5, 1))],
        now=NOW,
    )
    bank = party_id(banks, "Banque Exemple")
    with pytest.raises(SignatureError):  # signed by a key the JWKS does not hold
        filing.verify_for(
            banks, stored.token, public_jwks([theirs]), relying_party_id=bank, now=NOW
        )
    from verrou.registry.reports import sign_report

    forged = sign_report(report, theirs)  # a valid signature, but not this registry's token
    with pytest.raises(NotFound):
        filing.verify_for(
            banks, forged, public_jwks([ours, theirs]), relying_party_id=bank, now=NOW
        )
