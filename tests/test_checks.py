"""The check service: decide, record (audit + alerts in one transaction), sign."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from joserfc import jws
from joserfc.jwk import KeySet

from conftest import LEAKED_PEOPLE
from verrou.errors import StoreError
from verrou.fingerprints import Fingerprinter
from verrou.registry.audit import entry_from_content, verify_stored
from verrou.registry.checks import CheckRequest, CheckService
from verrou.registry.contacts import Contact, ContactKey, open_sealed, seal
from verrou.registry.policy import Applicant, Freeze, IdentityKey, Thaw, Verdict, applicant_keys
from verrou.signing import SigningKey, public_jwks
from verrou.store import RegistryStore, open_store
from verrou.store.base import AuditDraft

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _keys(fingerprinter: Fingerprinter, **attributes: str) -> tuple[IdentityKey, ...]:
    return tuple(applicant_keys(Applicant(**attributes), fingerprinter))  # type: ignore[arg-type]


def _leaked(fingerprinter: Fingerprinter, n: int = 0, **more: str) -> tuple[IdentityKey, ...]:
    family, given, birth, _, _ = LEAKED_PEOPLE[n]
    return _keys(fingerprinter, family_name=family, given_names=given, birth_date=birth, **more)


@pytest.fixture
def signing_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def service(leaked_store: RegistryStore, signing_key: SigningKey) -> CheckService:
    return CheckService(leaked_store, signing_key, clock=lambda: NOW)


def _freeze(store: RegistryStore, key: IdentityKey, *, canary: bool = False) -> None:
    store.place_freeze(
        Freeze(key.fingerprint, "owner", "canary" if canary else "owner_request", NOW, canary),
        audit=AuditDraft("freeze.place", "owner", key.fingerprint.hex(), {}, NOW),
    )


def test_leaked_person_spelled_differently_is_step_up(
    service: CheckService, fingerprinter: Fingerprinter
) -> None:
    party, _ = service.store.create_relying_party("Banque Exemple", "bank")
    # Case, accents, hyphen, given-name order and particle all differ from the dump.
    keys = _keys(
        fingerprinter,
        family_name="DE LA FONTAINE",
        given_names="elodie",
        birth_date="02/11/1975",
    )
    outcome = service.check(CheckRequest(keys, party))
    assert outcome.decision.verdict is Verdict.STEP_UP
    assert outcome.payload["reasons"][0]["code"] == "exposed"
    assert outcome.payload["reasons"][0]["since"] == "2026-04-08T00:00:00.000000Z"
    assert outcome.payload["breaches"][0]["data_classes"] == [
        "names",
        "birth_dates",
        "emails",
        "phones",
    ]

    reordered = _keys(
        fingerprinter, family_name="DUPONT", given_names="Pierre Jean", birth_date="1980-05-17"
    )
    assert service.check(CheckRequest(reordered, party)).decision.verdict is Verdict.STEP_UP


def test_a_different_person_sharing_only_the_family_name_is_clear(
    service: CheckService, fingerprinter: Fingerprinter
) -> None:
    party, _ = service.store.create_relying_party("Banque Exemple", "bank")
    keys = _keys(fingerprinter, family_name="Dupont", given_names="Marie", birth_date="1980-05-17")
    outcome = service.check(CheckRequest(keys, party))
    assert outcome.decision.verdict is Verdict.CLEAR
    assert outcome.payload["reasons"] == []


def test_frozen_wins_and_every_reason_is_listed(
    service: CheckService, fingerprinter: Fingerprinter
) -> None:
    party, _ = service.store.create_relying_party("Télé Com", "telco")
    email = LEAKED_PEOPLE[0][3]
    keys = _leaked(fingerprinter, 0, email=email)
    _freeze(service.store, keys[0])
    outcome = service.check(CheckRequest(keys, party))
    assert outcome.decision.verdict is Verdict.DENY
    codes = Counter((r["code"], r["attribute"]) for r in outcome.payload["reasons"])
    assert codes[("frozen", "person")] == 1
    assert codes[("exposed", "email")] == 1
    assert outcome.payload["leaked_together"] == [
        {"breach": "ants-2026", "attributes": ["email", "person"]}
    ]


def test_thaw_for_one_party_clears_only_that_party(
    service: CheckService, fingerprinter: Fingerprinter
) -> None:
    bank, _ = service.store.create_relying_party("Banque Exemple", "bank")
    other, _ = service.store.create_relying_party("Autre Banque", "bank")
    keys = _leaked(fingerprinter, 1)
    for key in keys:
        _freeze(service.store, key)
        service.store.add_thaw(
            Thaw(key.fingerprint, bank.id, NOW - timedelta(hours=1), NOW + timedelta(days=3)),
            audit=AuditDraft("thaw.add", "owner", key.fingerprint.hex(), {}, NOW),
        )
    assert service.check(CheckRequest(keys, bank)).decision.verdict is Verdict.CLEAR
    assert service.check(CheckRequest(keys, other)).decision.verdict is Verdict.DENY
    later = CheckService(service.store, service.signing_key, clock=lambda: NOW + timedelta(days=4))
    assert later.check(CheckRequest(keys, bank)).decision.verdict is Verdict.DENY


def test_every_check_is_audited_in_order_with_fingerprints_only(
    service: CheckService, fingerprinter: Fingerprinter
) -> None:
    party, _ = service.store.create_relying_party("Banque Exemple", "bank")
    requests = [
        CheckRequest(_leaked(fingerprinter, 0), party),
        CheckRequest(_keys(fingerprinter, email="nobody@example.net"), party),
    ]
    outcomes = service.run(requests)
    assert [o.decision.verdict for o in outcomes] == [Verdict.STEP_UP, Verdict.CLEAR]
    stored = list(service.store.audit_entries())
    assert verify_stored(stored).ok
    entries = [
        entry_from_content(s.content, prev_hash=s.prev_hash, entry_hash=s.entry_hash)
        for s in stored
    ]
    checks = [e for e in entries if e.action == "check"]
    assert [e.details["check_id"] for e in checks] == [r.check_id for r in requests]
    assert [o.audit_seq for o in outcomes] == [e.seq for e in checks]
    assert checks[0].actor == party.id
    assert checks[0].details["fingerprints"] == [k.fingerprint.hex() for k in requests[0].keys]
    raw = b"".join(s.content for s in stored)
    for value in (b"Dupont", b"dupont", b"jean", b"nobody@example.net", b"1980-05-17"):
        assert value not in raw


def test_the_verdict_verifies_with_a_standard_jose_library(
    service: CheckService, fingerprinter: Fingerprinter, signing_key: SigningKey
) -> None:
    party, _ = service.store.create_relying_party("Banque Exemple", "bank")
    outcome = service.check(CheckRequest(_leaked(fingerprinter, 2), party))
    key_set = KeySet.import_key_set(public_jwks([signing_key]))  # type: ignore[arg-type]
    verified = jws.deserialize_compact(outcome.token, key_set, algorithms=["EdDSA"])
    assert json.loads(verified.payload) == outcome.payload
    assert outcome.payload["aud"] == party.id
    assert outcome.payload["exp"] - outcome.payload["iat"] == 900


def test_alerts_go_to_each_owner_once_with_the_audit_entry(
    service: CheckService, fingerprinter: Fingerprinter
) -> None:
    party, _ = service.store.create_relying_party("Banque Exemple", "bank")
    contact_key = ContactKey.generate()
    keys = _leaked(fingerprinter, 0)
    contact = Contact("email", "owner@example.fr")
    for key in keys:  # one registration on every key of the person
        service.store.add_contact(
            key.fingerprint,
            seal(contact, contact_key, subject_fingerprint=key.fingerprint),
            owner_ref="ow-1",
        )
    _freeze(service.store, keys[0])
    outcome = service.check(CheckRequest(keys, party))
    due = service.store.due(NOW + timedelta(seconds=1), 10)
    assert len(due) == 1
    item = due[0]
    assert item.alert.kind == "attempt_on_frozen"
    assert item.alert.check_id == outcome.check_id
    assert item.alert.relying_party == "Banque Exemple"
    opened = open_sealed(
        item.sealed_contact, contact_key, subject_fingerprint=item.alert.subject_fingerprint
    )
    assert opened.address == "owner@example.fr"

    # An unknown applicant alerts nobody.
    service.check(CheckRequest(_keys(fingerprinter, email="nobody@example.net"), party))
    assert service.store.due(NOW + timedelta(seconds=2), 10) == []  # the first is leased


def test_a_canary_check_is_denied_and_raises_its_alert(
    service: CheckService, fingerprinter: Fingerprinter
) -> None:
    party, _ = service.store.create_relying_party("Banque Exemple", "bank")
    canary = _keys(fingerprinter, email="canary-7@example.org")
    _freeze(service.store, canary[0], canary=True)
    service.store.add_contact(
        canary[0].fingerprint,
        seal(
            Contact("email", "soc@example.fr"),
            ContactKey.generate(),
            subject_fingerprint=canary[0].fingerprint,
        ),
        owner_ref="ow-operator",
    )
    outcome = service.check(CheckRequest(canary, party))
    assert outcome.decision.verdict is Verdict.DENY and outcome.decision.canary_tripped
    assert [i.alert.kind for i in service.store.due(NOW, 10)] == ["canary_tripped"]


def test_a_check_and_concurrent_freezes_never_lose_an_update(
    service: CheckService, fingerprinter: Fingerprinter, database_url: str
) -> None:
    party, _ = service.store.create_relying_party("Banque Exemple", "bank")
    keys = _leaked(fingerprinter, 0)
    errors: list[BaseException] = []

    def freezer() -> None:
        own = open_store(database_url, migrate=False)
        try:
            for i in range(20):
                key = keys[i % len(keys)]
                _freeze(own, key)
                own.lift_freeze(
                    key.fingerprint,
                    audit=AuditDraft("freeze.lift", "owner", key.fingerprint.hex(), {}, NOW),
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            own.close()

    def checker() -> None:
        own = open_store(database_url, migrate=False)
        try:
            checks = CheckService(own, service.signing_key, clock=lambda: NOW)
            for _ in range(20):
                assert checks.check(CheckRequest(keys, party)).decision.verdict in (
                    Verdict.STEP_UP,
                    Verdict.DENY,
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=t) for t in (freezer, checker, checker)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    stored = list(service.store.audit_entries())
    assert verify_stored(stored).ok
    # Replaying the log: each check's verdict is what the freezes before it imply.
    frozen: set[str] = set()
    checked = 0
    for s in stored:
        entry = entry_from_content(s.content, prev_hash=s.prev_hash, entry_hash=s.entry_hash)
        if entry.action == "freeze.place":
            frozen.add(str(entry.subject))
        elif entry.action == "freeze.lift":
            frozen.discard(str(entry.subject))
        elif entry.action == "check":
            checked += 1
            touched = frozen & set(entry.details["fingerprints"])
            assert entry.details["verdict"] == ("deny" if touched else "step_up")
    assert checked == 40


def test_a_store_failure_gives_no_verdict_and_records_nothing(
    service: CheckService, fingerprinter: Fingerprinter, database_url: str
) -> None:
    party, _ = service.store.create_relying_party("Banque Exemple", "bank")
    before = len(list(service.store.audit_entries()))

    closed = open_store(database_url, migrate=False)
    closed.close()
    with pytest.raises(StoreError):
        CheckService(closed, service.signing_key).check(
            CheckRequest(_leaked(fingerprinter, 0), party)
        )
    assert len(list(service.store.audit_entries())) == before
