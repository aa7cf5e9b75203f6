"""The operator's domain functions on an identity, against both real backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from conftest import ingest_leak
from verrou.errors import Conflict, NotFound
from verrou.fingerprints import Fingerprinter
from verrou.registry import subjects
from verrou.registry.audit import verify_registry
from verrou.registry.checks import CheckRequest, CheckService
from verrou.registry.contacts import Contact, ContactKey, open_sealed
from verrou.registry.policy import (
    Applicant,
    IdentityKey,
    SubjectState,
    Verdict,
    applicant_keys,
    decide,
)
from verrou.signing import SigningKey
from verrou.store.protocols import RegistryStore

NOW = datetime(2026, 4, 20, 9, 30, tzinfo=UTC)
TODAY = date(2026, 4, 20)
EMAIL = "helene.lefevre@example.fr"


def keys_of(fingerprinter: Fingerprinter, **attributes: str) -> list[IdentityKey]:
    return applicant_keys(Applicant(**attributes), fingerprinter, today=TODAY)  # type: ignore[arg-type]


@pytest.fixture
def helene(fingerprinter: Fingerprinter) -> list[IdentityKey]:
    return keys_of(
        fingerprinter,
        family_name="Lefèvre",
        given_names="Hélène Marie",
        birth_date="1980-05-17",
        email=EMAIL,
    )


def audit_text(store: RegistryStore) -> bytes:
    return b"\n".join(entry.content for entry in store.audit_entries())


def test_freeze_place_freezes_every_key_once(
    store: RegistryStore, helene: list[IdentityKey]
) -> None:
    first = subjects.place_freeze(
        store, helene, placed_by="operator", reason="identity_theft", actor="operator", now=NOW
    )
    assert len(helene) >= 3  # a person yields several keys, plus the email
    assert [o.outcome for o in first] == ["placed"] * len(helene)
    later = NOW + timedelta(hours=1)
    again = subjects.place_freeze(
        store, helene, placed_by="owner", reason="owner_request", actor="operator", now=later
    )
    assert [o.outcome for o in again] == ["already_frozen"] * len(helene)
    # The freeze in force is the first one, untouched: an owner's does not outrank it.
    in_force = {(o.freeze.placed_by, o.freeze.since) for o in again if o.freeze}
    assert in_force == {("operator", NOW)}

    report = subjects.subject_report(store, helene, now=later)
    assert report.state is SubjectState.FROZEN
    for key in report.keys:
        assert key.state is SubjectState.FROZEN
        assert key.freeze is not None and key.freeze.reason == "identity_theft"
        assert [h.action for h in key.history] == ["freeze.place"]  # the repeat audits nothing
        assert len(key.short) == 12 and key.fingerprint.hex().startswith(key.short)
    # The audit log names keys by fingerprint and holds codes, never the identity.
    logged = audit_text(store)
    for text in ("Lef", "lef", "Hélène", "Helene", "helene", "1980", EMAIL):
        assert text.encode() not in logged


def test_lift_returns_the_identity_to_its_exposure(
    store: RegistryStore, fingerprinter: Fingerprinter, tmp_path: Path
) -> None:
    ingest_leak(store, fingerprinter, tmp_path)
    dupont = keys_of(
        fingerprinter,
        family_name="DUPONT",
        given_names="jean-pierre",
        birth_date="17/05/1980",
        email="jean.dupont@example.fr",
    )
    subjects.place_freeze(
        store, dupont, placed_by="operator", reason="fraud_suspected", actor="operator", now=NOW
    )
    assert subjects.subject_report(store, dupont, now=NOW).state is SubjectState.FROZEN

    lifted = subjects.lift_freeze(store, dupont, actor="operator", now=NOW)
    assert {o.outcome for o in lifted} == {"lifted"}
    report = subjects.subject_report(store, dupont, now=NOW)
    assert report.state is SubjectState.EXPOSED
    email = next(k for k in report.keys if k.attribute == "email")
    assert email.freeze is None
    assert [(e.breach, e.records) for e in email.exposures] == [("ants-2026", 1)]
    assert [h.action for h in email.history] == ["freeze.place", "freeze.lift"]

    again = subjects.lift_freeze(store, dupont, actor="operator", now=NOW)
    assert {o.outcome for o in again} == {"not_frozen"}


def test_unknown_identity_is_unknown_with_no_history(
    store: RegistryStore, helene: list[IdentityKey]
) -> None:
    report = subjects.subject_report(store, helene, now=NOW)
    assert report.state is SubjectState.UNKNOWN
    assert all(not k.history and not k.exposures and k.freeze is None for k in report.keys)


def test_thaw_for_one_relying_party_for_three_days(
    store: RegistryStore, helene: list[IdentityKey]
) -> None:
    bank, _ = store.create_relying_party("Banque Exemple", "bank")
    telco, _ = store.create_relying_party("Télécom Exemple", "telco")
    subjects.place_freeze(
        store, helene, placed_by="owner", reason="owner_request", actor="operator", now=NOW
    )
    outcomes = subjects.thaw(
        store,
        helene,
        relying_party_id=bank.id,
        starts=NOW,
        until=NOW + timedelta(days=3),
        actor="operator",
        now=NOW,
    )
    assert {o.outcome for o in outcomes} == {"thawed"}

    fingerprints = [k.fingerprint for k in helene]

    def verdict(party: str, at: datetime) -> Verdict:
        freezes, thaws = store.freezes_for(fingerprints, now=at)
        hits = store.lookup(fingerprints)
        return decide(helene, hits, freezes, thaws, relying_party_id=party, now=at).verdict

    assert verdict(bank.id, NOW + timedelta(days=1)) is Verdict.CLEAR
    assert verdict(telco.id, NOW + timedelta(days=1)) is Verdict.DENY
    assert verdict(bank.id, NOW + timedelta(days=3)) is Verdict.DENY  # closed again by itself

    report = subjects.subject_report(store, helene, now=NOW + timedelta(days=1))
    # The operator's view counts only a thaw for all: still frozen.
    assert report.state is SubjectState.FROZEN
    for key in report.keys:
        assert [(t.relying_party_id, t.until) for t in key.thaws] == [
            (bank.id, NOW + timedelta(days=3))
        ]
        assert [h.action for h in key.history] == ["freeze.place", "thaw.add"]


def test_thaw_reports_keys_that_are_not_frozen(
    store: RegistryStore, fingerprinter: Fingerprinter, helene: list[IdentityKey]
) -> None:
    email_only = [k for k in helene if k.attribute == "email"]
    subjects.place_freeze(
        store, email_only, placed_by="owner", reason="owner_request", actor="operator", now=NOW
    )
    outcomes = subjects.thaw(
        store,
        helene,
        relying_party_id=None,
        starts=NOW,
        until=NOW + timedelta(hours=2),
        actor="operator",
        now=NOW,
    )
    by_attribute = {(o.key.attribute, o.outcome) for o in outcomes}
    assert by_attribute == {("email", "thawed"), ("person", "not_frozen")}
    # A thaw for all opens the key in the operator's view too.
    report = subjects.subject_report(store, helene, now=NOW + timedelta(hours=1))
    assert {(k.attribute, k.state) for k in report.keys} == {
        ("email", SubjectState.THAWED),
        ("person", SubjectState.UNKNOWN),
    }


def test_thaw_refusals(store: RegistryStore, helene: list[IdentityKey]) -> None:
    window = {"starts": NOW, "until": NOW + timedelta(days=1), "actor": "operator", "now": NOW}
    with pytest.raises(Conflict, match="not frozen"):
        subjects.thaw(store, helene, relying_party_id=None, **window)  # type: ignore[arg-type]
    subjects.place_freeze(
        store, helene, placed_by="owner", reason="owner_request", actor="operator", now=NOW
    )
    with pytest.raises(NotFound, match="rp_0000"):
        subjects.thaw(store, helene, relying_party_id="rp_0000", **window)  # type: ignore[arg-type]
    party, _ = store.create_relying_party("Banque Exemple", "bank")
    store.revoke_relying_party(party.id)
    with pytest.raises(Conflict, match="revoked"):
        subjects.thaw(store, helene, relying_party_id=party.id, **window)  # type: ignore[arg-type]
    with pytest.raises(subjects.InvalidThaw, match="already"):
        subjects.thaw(
            store,
            helene,
            relying_party_id=None,
            starts=NOW - timedelta(days=2),
            until=NOW - timedelta(days=1),
            actor="operator",
            now=NOW,
        )
    # Nothing of this was recorded: only the freezes are in the log.
    assert {
        h.action for k in subjects.subject_report(store, helene, now=NOW).keys for h in k.history
    } == {"freeze.place"}


def test_same_person_spelled_differently_hits_the_same_keys(
    store: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    placed = keys_of(
        fingerprinter, family_name="Lefèvre", given_names="Hélène Marie", birth_date="1980-05-17"
    )
    subjects.place_freeze(
        store, placed, placed_by="owner", reason="owner_request", actor="operator", now=NOW
    )
    shouted = keys_of(
        fingerprinter, family_name="LEFEVRE", given_names="HELENE MARIE", birth_date="17/05/1980"
    )
    assert {k.fingerprint for k in shouted} == {k.fingerprint for k in placed}
    swapped = keys_of(
        fingerprinter, family_name="lefevre", given_names="Marie Hélène", birth_date="19800517"
    )
    # Given names in another order still share the full-name key: frozen.
    assert {k.fingerprint for k in swapped} & {k.fingerprint for k in placed}
    assert subjects.subject_report(store, swapped, now=NOW).state is SubjectState.FROZEN


def test_canary_freeze_is_canary(store: RegistryStore, fingerprinter: Fingerprinter) -> None:
    planted = keys_of(fingerprinter, email="canari.0042@example.org")
    subjects.place_freeze(
        store,
        planted,
        placed_by="operator",
        reason="canary",
        actor="operator",
        now=NOW,
        canary=True,
    )
    report = subjects.subject_report(store, planted, now=NOW)
    assert report.state is SubjectState.CANARY
    assert report.keys[0].freeze is not None and report.keys[0].freeze.canary


def test_contact_is_sealed_per_key_and_checks_join_the_history(
    store: RegistryStore, helene: list[IdentityKey]
) -> None:
    contact_key = ContactKey.generate()
    owner_ref = subjects.register_contact(
        store, helene, Contact("email", EMAIL), contact_key, now=NOW
    )
    assert owner_ref.startswith("ow-")
    sealed = store.contacts_for([k.fingerprint for k in helene])
    for key in helene:
        (one,) = sealed[key.fingerprint]
        assert one.owner_ref == owner_ref
        # Each seal opens only for its own key.
        opened = open_sealed(one.sealed, contact_key, subject_fingerprint=key.fingerprint)
        assert opened.address == EMAIL
    assert EMAIL.encode() not in audit_text(store)

    subjects.place_freeze(
        store, helene, placed_by="owner", reason="owner_request", actor="operator", now=NOW
    )
    party, _ = store.create_relying_party("Banque Exemple", "bank")
    service = CheckService(store, SigningKey.generate(), clock=lambda: NOW + timedelta(minutes=5))
    outcome = service.check(CheckRequest(tuple(helene), party))
    assert outcome.decision.verdict is Verdict.DENY
    # One registration, several keys touched: one alert.
    due = store.due(NOW + timedelta(minutes=6), 10)
    assert [item.alert.kind for item in due] == ["attempt_on_frozen"]

    report = subjects.subject_report(store, helene, now=NOW + timedelta(minutes=6))
    for key in report.keys:
        assert key.contacts == 1
        assert [(h.action, h.actor) for h in key.history] == [
            ("contact.add", "operator"),
            ("freeze.place", "operator"),
            ("check", party.id),
        ]


def test_a_stronger_freeze_replaces_a_weaker_one_and_its_thaws(
    store: RegistryStore, helene: list[IdentityKey]
) -> None:
    """An owner's freeze, thawed for all, then a report's freeze: the report's replaces it and
    the thaw goes with it, so what an account (perhaps hijacked) opened cannot keep a report's
    freeze open; the audit log still explains the freeze state."""
    subjects.place_freeze(
        store, helene, placed_by="owner", reason="owner_request", actor="citizen", now=NOW
    )
    subjects.thaw(
        store,
        helene,
        relying_party_id=None,
        starts=NOW,
        until=NOW + timedelta(days=3),
        actor="citizen",
        now=NOW,
    )
    later = NOW + timedelta(hours=1)
    assert subjects.subject_report(store, helene, now=later).state is SubjectState.THAWED
    placed = subjects.place_freeze(
        store, helene, placed_by="report", reason="identity_theft", actor="report", now=later
    )
    assert [o.outcome for o in placed] == ["placed"] * len(helene)
    report = subjects.subject_report(store, helene, now=later)
    assert report.state is SubjectState.FROZEN
    assert {key.freeze.placed_by for key in report.keys if key.freeze} == {"report"}
    assert verify_registry(store.audit_entries(), store.audit_snapshot()).ok
