"""One relying party cannot flood a citizen with alerts.

Regression: a batch of 100 checks of the same frozen person queued 100 alerts, and at the
default rate limit one API key could send a citizen hundreds of alerts a minute. The outbox now
holds at most one alert per owner, relying party and window, counting the checks it tells of.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from conftest import LEAKED_PEOPLE
from verrou.fingerprints import Fingerprinter
from verrou.registry.alerts import (
    DEFAULT_ALERT_WINDOW,
    Alert,
    OutboxItem,
    SmtpTransport,
    alert_message,
    deliver_due,
    webhook_payload,
)
from verrou.registry.checks import CheckRequest, CheckService, alert_window
from verrou.registry.contacts import Contact, ContactKey, seal
from verrou.registry.policy import Applicant, Freeze, IdentityKey, applicant_keys
from verrou.registry.records import RelyingParty
from verrou.signing import SigningKey
from verrou.store import RegistryStore, open_store
from verrou.store.base import AuditDraft

#: The start of an alert window (09:00 UTC is a multiple of 15 minutes since the epoch).
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
WINDOW = DEFAULT_ALERT_WINDOW
FAR = NOW + timedelta(days=30)
CONTACT_KEY = ContactKey.generate()
ADDRESS = "owner@example.fr"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    """A transport that keeps what it was asked to send (the far edge: a mailbox)."""

    def __init__(self) -> None:
        self.sent: list[Alert] = []

    def send(self, alert: Alert, contact: Contact, *, now: datetime) -> None:
        self.sent.append(alert)


def _person(fingerprinter: Fingerprinter) -> tuple[IdentityKey, ...]:
    family, given, birth, _, _ = LEAKED_PEOPLE[0]
    applicant = Applicant(family_name=family, given_names=given, birth_date=birth)
    return tuple(applicant_keys(applicant, fingerprinter))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(leaked_store: RegistryStore, clock: Clock) -> CheckService:
    return CheckService(leaked_store, SigningKey.generate(), clock=clock)


@pytest.fixture
def frozen(service: CheckService, fingerprinter: Fingerprinter) -> tuple[IdentityKey, ...]:
    """A leaked person, frozen by its owner, with one alert contact on every key."""
    keys = _person(fingerprinter)
    for key in keys:
        service.store.add_contact(
            key.fingerprint,
            seal(Contact("email", ADDRESS), CONTACT_KEY, subject_fingerprint=key.fingerprint),
            owner_ref="ow-1",
        )
        service.store.place_freeze(
            Freeze(key.fingerprint, "owner", "owner_request", NOW),
            audit=AuditDraft("freeze.place", "owner", key.fingerprint.hex(), {}, NOW),
        )
    return keys


@pytest.fixture
def bank(service: CheckService) -> RelyingParty:
    return service.store.create_relying_party("Banque Exemple", "bank")[0]


def _pending(store: RegistryStore, at: datetime = FAR) -> list[OutboxItem]:
    return store.due(at, 1000)


def test_a_batch_of_100_checks_of_a_frozen_person_queues_one_alert_counting_100(
    service: CheckService, frozen: tuple[IdentityKey, ...], bank: RelyingParty
) -> None:
    requests = [CheckRequest(frozen, bank) for _ in range(100)]
    outcomes = service.run(requests)
    assert {outcome.decision.verdict.value for outcome in outcomes} == {"deny"}
    [item] = _pending(service.store)
    assert item.alert.checks == 100
    assert item.alert.kind == "attempt_on_frozen"
    assert item.alert.check_id == requests[0].check_id  # the first check, as a reference


def test_checks_in_one_window_update_the_pending_alerts_count(
    service: CheckService, frozen: tuple[IdentityKey, ...], bank: RelyingParty, clock: Clock
) -> None:
    for minute in range(3):  # three requests, three transactions
        clock.now = NOW + timedelta(minutes=minute)
        service.check(CheckRequest(frozen, bank))
    [item] = _pending(service.store)
    assert item.alert.checks == 3
    assert item.alert.at == NOW and item.alert.last_at == NOW + timedelta(minutes=2)


def test_checks_across_windows_make_one_alert_per_window(
    service: CheckService, frozen: tuple[IdentityKey, ...], bank: RelyingParty, clock: Clock
) -> None:
    for offset in (0, 5, 15, 20, 31):  # minutes: windows 0, 0, 1, 1, 2
        clock.now = NOW + timedelta(minutes=offset)
        service.check(CheckRequest(frozen, bank))
    counts = sorted((item.alert.at, item.alert.checks) for item in _pending(service.store))
    assert counts == [
        (NOW, 2),
        (NOW + timedelta(minutes=15), 2),
        (NOW + timedelta(minutes=31), 1),
    ]


def test_two_relying_parties_make_two_alerts(
    service: CheckService, frozen: tuple[IdentityKey, ...], bank: RelyingParty
) -> None:
    telco, _ = service.store.create_relying_party("Télé Com", "telco")
    service.run([CheckRequest(frozen, bank) for _ in range(3)])
    service.run([CheckRequest(frozen, telco) for _ in range(2)])
    told = sorted((item.alert.relying_party, item.alert.checks) for item in _pending(service.store))
    assert told == [("Banque Exemple", 3), ("Télé Com", 2)]


def test_checks_after_the_alert_was_delivered_are_told_when_the_next_window_opens(
    service: CheckService, frozen: tuple[IdentityKey, ...], bank: RelyingParty, clock: Clock
) -> None:
    service.run([CheckRequest(frozen, bank) for _ in range(2)])
    mailbox = Recorder()
    deliver_due(service.store, CONTACT_KEY, {"email": mailbox}, now=NOW)
    assert [alert.checks for alert in mailbox.sent] == [2]
    clock.now = NOW + timedelta(minutes=3)
    service.run([CheckRequest(frozen, bank) for _ in range(3)])
    # Not a second alert in the same window...
    deliver_due(service.store, CONTACT_KEY, {"email": mailbox}, now=NOW + timedelta(minutes=14))
    assert len(mailbox.sent) == 1
    # ...but none untold: the next window's alert counts them, due when it opens.
    clock.now = NOW + timedelta(minutes=16)
    service.check(CheckRequest(frozen, bank))
    deliver_due(service.store, CONTACT_KEY, {"email": mailbox}, now=NOW + WINDOW)
    assert [alert.checks for alert in mailbox.sent] == [2, 4]


def test_checks_absorbed_while_the_alert_was_being_sent_are_not_lost(
    service: CheckService, frozen: tuple[IdentityKey, ...], bank: RelyingParty
) -> None:
    service.check(CheckRequest(frozen, bank))
    [claimed] = service.store.due(NOW, 10)  # a worker is sending it (checks: 1)...
    service.run([CheckRequest(frozen, bank) for _ in range(2)])  # ...when two more come
    service.store.mark_delivered(claimed.alert.id, NOW, attempts=1, checks=claimed.alert.checks)
    [later] = _pending(service.store)
    assert later.alert.checks == 2
    assert later.next_attempt_at == NOW + WINDOW


def test_concurrent_checkers_lose_no_count(
    service: CheckService,
    frozen: tuple[IdentityKey, ...],
    bank: RelyingParty,
    database_url: str,
) -> None:
    errors: list[BaseException] = []

    def checker() -> None:
        own = open_store(database_url, migrate=False)
        try:
            checks = CheckService(own, service.signing_key, clock=lambda: NOW)
            for _ in range(10):
                checks.check(CheckRequest(frozen, bank))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=checker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    [item] = _pending(service.store)
    assert item.alert.checks == 40


def test_the_alert_text_tells_the_count_and_no_identity_data(
    service: CheckService, frozen: tuple[IdentityKey, ...], bank: RelyingParty
) -> None:
    service.run([CheckRequest(frozen, bank) for _ in range(100)])
    mailbox = Recorder()
    deliver_due(service.store, CONTACT_KEY, {"email": mailbox}, now=NOW)
    [alert] = mailbox.sent
    message = alert_message(alert)
    assert "100 demandes" in message.subject and "100 attempts" in message.subject
    assert "regroupe 100 demandes" in message.body and "covers 100 attempts" in message.body
    payload = json.loads(webhook_payload(alert, sent_at=NOW))
    assert payload["checks"] == 100
    family, given, birth, email, phone = LEAKED_PEOPLE[0]
    for text in (message.subject, message.body, json.dumps(payload, ensure_ascii=False)):
        for value in (family, given, birth, email, phone, ADDRESS):
            assert value not in text
        for key in frozen:
            assert key.fingerprint.hex() not in text
    email = SmtpTransport("127.0.0.1", 25, "alertes@verrou.invalid").build_message(
        alert, Contact("email", ADDRESS), now=NOW
    )
    assert "100 attempts" in str(email["Subject"])
    assert "regroupe 100 demandes" in email.get_content()
    one = alert_message(Alert(alert.subject_fingerprint, alert.kind, "Banque", NOW, "chk_1"))
    assert "regroupe" not in one.body  # a single check reads as before


def test_alert_windows_are_laid_end_to_end_from_the_epoch() -> None:
    start, end = alert_window(NOW + timedelta(minutes=14, seconds=59), WINDOW)
    assert (start, end) == (int(NOW.timestamp()), int((NOW + WINDOW).timestamp()))
    assert alert_window(NOW + WINDOW, WINDOW)[0] == end
