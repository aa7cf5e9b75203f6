"""Alert delivery against real servers on loopback: aiosmtpd for email, http.server for webhooks.

Time is an injected clock (``now`` passed to :func:`deliver_due`); nothing sleeps to wait for a
backoff. Every server is stopped by its fixture.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from conftest import Receiver
from verrou.errors import ConfigError, Conflict
from verrou.registry.alerts import (
    DEFAULT_MAX_ATTEMPTS,
    SIGNATURE_HEADER,
    Alert,
    AlertKind,
    AlertTransport,
    MemoryOutbox,
    SmtpTransport,
    WebhookSignatureError,
    WebhookTransport,
    alert_message,
    deliver_due,
    exponential_backoff,
    run_worker,
    verify_webhook_signature,
)
from verrou.registry.canary_records import CanaryRef
from verrou.registry.contacts import Contact, ContactKey, seal

T0 = datetime(2026, 3, 12, 13, 5, tzinfo=UTC)  # 14 h 05 in Paris
SUBJECT_FP = bytes.fromhex("c3d4" * 16)
SECRET = b"s" * 32
SENDER = "alertes@verrou.example.fr"
ADDRESS = "jean.dupont@orange.fr"
NO_JITTER = exponential_backoff(jitter=lambda delay: delay)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- SMTP server ----------------------------------------------------------------------------


@dataclass
class MailSink:
    """aiosmtpd handler: keeps messages; ``rcpt_reply`` makes it refuse recipients."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    rcpt_reply: str | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 Message accepted"


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[tuple[Controller, MailSink]]:
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port(), ready_timeout=5)
    controller.start()
    try:
        yield controller, sink
    finally:
        controller.stop()


@pytest.fixture
def mail(smtp_server: tuple[Controller, MailSink]) -> Iterator[tuple[SmtpTransport, MailSink]]:
    controller, sink = smtp_server
    sink.messages.clear()
    sink.envelopes.clear()
    sink.rcpt_reply = None
    yield SmtpTransport(str(controller.hostname), int(controller.port), SENDER, timeout=5), sink
    sink.rcpt_reply = None


# --- helpers --------------------------------------------------------------------------------


@pytest.fixture
def key() -> ContactKey:
    return ContactKey.generate()


def make_alert(kind: AlertKind = "attempt_on_frozen", subject: bytes = SUBJECT_FP) -> Alert:
    return Alert(
        subject_fingerprint=subject,
        kind=kind,
        relying_party="Banque Exemple",
        at=T0,
        check_id="chk-0001",
    )


def enqueue(
    outbox: MemoryOutbox, key: ContactKey, contact: Contact, *, subject: bytes = SUBJECT_FP
) -> Alert:
    alert = make_alert(subject=subject)
    outbox.enqueue(alert, seal(contact, key, subject_fingerprint=subject), now=T0)
    return alert


def webhook() -> WebhookTransport:
    return WebhookTransport(timeout=5, secret=SECRET)


# --- email ----------------------------------------------------------------------------------


def test_email_alert_is_delivered_over_smtp(
    mail: tuple[SmtpTransport, MailSink], key: ContactKey
) -> None:
    transport, sink = mail
    outbox = MemoryOutbox()
    alert = enqueue(outbox, key, Contact("email", ADDRESS))

    report = deliver_due(outbox, key, {"email": transport}, now=T0)

    assert report.delivered == [alert.id] and not report.retried and not report.failed
    item = outbox.get(alert.id)
    assert (item.status, item.attempts, item.delivered_at, item.last_error) == (
        "delivered",
        1,
        T0,
        None,
    )
    assert sink.envelopes == [(SENDER, [ADDRESS])]
    [message] = sink.messages
    assert message["From"] == SENDER
    assert message["To"] == ADDRESS
    assert message["Subject"] == alert_message(alert).subject
    assert message["Message-ID"] == f"<{alert.id}@verrou.example.fr>"
    assert message["Auto-Submitted"] == "auto-generated"
    body = message.get_content()
    assert "Une demande a été faite avec votre identité auprès de Banque Exemple" in body
    assert "le 12 mars 2026 à 14 h 05 (heure de Paris)" in body
    assert "An application was made with your identity at Banque Exemple on 12 March 2026" in body
    assert "chk-0001" in body
    assert SUBJECT_FP.hex() not in body and SUBJECT_FP.hex()[:12] not in body
    assert ADDRESS not in body and "dupont" not in body


def test_smtp_recipient_refusal_is_recorded_without_the_address(
    mail: tuple[SmtpTransport, MailSink], key: ContactKey
) -> None:
    transport, sink = mail
    sink.rcpt_reply = "451 4.3.0 try again later"
    outbox = MemoryOutbox()
    alert = enqueue(outbox, key, Contact("email", ADDRESS))

    report = deliver_due(outbox, key, {"email": transport}, now=T0, backoff=NO_JITTER)

    assert report.retried == [alert.id]
    item = outbox.get(alert.id)
    assert item.last_error == "SMTP 451 from server (recipient refused)"
    assert (item.status, item.attempts, item.next_attempt_at) == (
        "pending",
        1,
        T0 + timedelta(seconds=60),
    )
    assert sink.messages == []


def test_smtp_server_down_is_retried_then_failed(key: ContactKey) -> None:
    transport = SmtpTransport("127.0.0.1", free_port(), SENDER, timeout=2)
    outbox = MemoryOutbox()
    alert = enqueue(outbox, key, Contact("email", ADDRESS))
    now = T0
    for attempt in (1, 2):
        report = deliver_due(
            outbox, key, {"email": transport}, now=now, max_attempts=3, backoff=NO_JITTER
        )
        assert report.retried == [alert.id]
        item = outbox.get(alert.id)
        assert (item.attempts, item.last_error) == (attempt, "connection refused")
        now = item.next_attempt_at

    report = deliver_due(
        outbox, key, {"email": transport}, now=now, max_attempts=3, backoff=NO_JITTER
    )

    assert report.failed == [alert.id]
    item = outbox.get(alert.id)
    assert (item.status, item.attempts) == ("failed", 3)
    assert item.last_error == "connection refused (gave up after 3 attempts)"
    assert outbox.due(now + timedelta(days=365), 10) == []


# --- webhooks -------------------------------------------------------------------------------


def test_webhook_alert_is_posted_as_signed_json(receiver: Receiver, key: ContactKey) -> None:
    outbox = MemoryOutbox()
    alert = enqueue(outbox, key, Contact("webhook", receiver.url))

    report = deliver_due(outbox, key, {"webhook": webhook()}, now=T0)

    assert report.delivered == [alert.id]
    [(headers, body)] = receiver.requests
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == expected
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["X-Verrou-Alert-Id"] == alert.id
    verify_webhook_signature(body, headers[SIGNATURE_HEADER], SECRET)
    document = json.loads(body)
    assert document["type"] == "verrou.alert"
    assert document["alert_id"] == alert.id
    assert document["kind"] == "attempt_on_frozen"
    assert document["relying_party"] == "Banque Exemple"
    assert document["check_id"] == "chk-0001"
    assert datetime.fromisoformat(document["at"]) == T0
    assert datetime.fromisoformat(document["sent_at"]) == T0
    assert document["text"] == alert_message(alert).body
    assert SUBJECT_FP.hex() not in body.decode()


def test_webhook_signature_check_fails_closed() -> None:
    body = b'{"alert_id": "al-1"}'
    signature = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_webhook_signature(body + b" ", signature, SECRET)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_webhook_signature(body, signature, b"t" * 32)
    with pytest.raises(WebhookSignatureError, match="missing"):
        verify_webhook_signature(body, None, SECRET)


def test_webhook_503_twice_is_retried_with_growing_backoff(
    receiver: Receiver, key: ContactKey
) -> None:
    receiver.script = [503, 503]
    outbox = MemoryOutbox()
    alert = enqueue(outbox, key, Contact("webhook", receiver.url))
    transports: dict[str, AlertTransport] = {"webhook": webhook()}

    first = deliver_due(outbox, key, transports, now=T0, backoff=NO_JITTER)
    item = outbox.get(alert.id)
    assert first.retried == [alert.id]
    assert (item.attempts, item.last_error) == (1, "HTTP 503")
    first_delay = item.next_attempt_at - T0

    # Not due yet: nothing is sent.
    early = deliver_due(outbox, key, transports, now=item.next_attempt_at - timedelta(seconds=1))
    assert early.processed == 0 and len(receiver.requests) == 1

    second_at = item.next_attempt_at
    deliver_due(outbox, key, transports, now=second_at, backoff=NO_JITTER)
    item = outbox.get(alert.id)
    assert (item.attempts, item.last_error) == (2, "HTTP 503")
    second_delay = item.next_attempt_at - second_at
    assert (first_delay, second_delay) == (timedelta(seconds=60), timedelta(seconds=120))

    third = deliver_due(outbox, key, transports, now=item.next_attempt_at, backoff=NO_JITTER)

    assert third.delivered == [alert.id]
    item = outbox.get(alert.id)
    assert (item.status, item.attempts, item.last_error) == ("delivered", 3, None)
    assert len(receiver.requests) == 3
    # Each attempt is its own signed request; the alert id lets the receiver deduplicate.
    assert {json.loads(body)["alert_id"] for _, body in receiver.requests} == {alert.id}


def test_webhook_redirect_is_not_followed(receiver: Receiver, key: ContactKey) -> None:
    receiver.script = [302]
    outbox = MemoryOutbox()
    alert = enqueue(outbox, key, Contact("webhook", receiver.url))

    deliver_due(outbox, key, {"webhook": webhook()}, now=T0)

    assert outbox.get(alert.id).last_error == "HTTP 302 (redirects are not followed)"
    assert len(receiver.requests) == 1


def test_webhook_transport_refuses_a_short_secret() -> None:
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        WebhookTransport(timeout=1, secret=b"short")


# --- mixed batches and failures -------------------------------------------------------------


def test_tampered_contact_fails_alone_and_others_are_delivered(
    mail: tuple[SmtpTransport, MailSink], receiver: Receiver, key: ContactKey
) -> None:
    transport, sink = mail
    outbox = MemoryOutbox()
    by_email = enqueue(outbox, key, Contact("email", ADDRESS))
    tampered_alert = make_alert(subject=b"\x01" * 32)
    blob = bytearray(seal(Contact("email", "x@y.fr"), key, subject_fingerprint=b"\x01" * 32))
    blob[-1] ^= 0xFF
    outbox.enqueue(tampered_alert, bytes(blob), now=T0)
    moved_alert = make_alert(subject=b"\x02" * 32)  # someone else's contact copied onto this row
    outbox.enqueue(
        moved_alert, seal(Contact("email", "x@y.fr"), key, subject_fingerprint=SUBJECT_FP), now=T0
    )
    by_webhook = enqueue(outbox, key, Contact("webhook", receiver.url))

    report = deliver_due(
        outbox, key, {"email": transport, "webhook": webhook()}, now=T0, max_attempts=8
    )

    assert sorted(report.delivered) == sorted([by_email.id, by_webhook.id])
    assert sorted(report.failed) == sorted([tampered_alert.id, moved_alert.id])
    for alert_id in (tampered_alert.id, moved_alert.id):
        item = outbox.get(alert_id)
        assert item.status == "failed"
        assert item.last_error is not None
        assert item.last_error.startswith("contact unusable: sealed contact does not authenticate")
    assert len(sink.messages) == 1 and len(receiver.requests) == 1


def test_missing_transport_waits_without_spending_attempts(key: ContactKey) -> None:
    outbox = MemoryOutbox()
    alert = enqueue(outbox, key, Contact("email", ADDRESS))
    for hour in range(DEFAULT_MAX_ATTEMPTS + 2):
        deliver_due(outbox, key, {}, now=T0 + timedelta(hours=hour, seconds=1))
    item = outbox.get(alert.id)
    assert item.status == "pending" and item.attempts == 0
    assert item.last_error == "no email transport configured"


class LeakyTransport:
    """A buggy transport whose exception text quotes the address."""

    def send(self, alert: Alert, contact: Contact, *, now: datetime) -> None:
        raise RuntimeError(f"cannot deliver to {contact.address}")


def test_unexpected_transport_error_is_recorded_by_type_only(key: ContactKey) -> None:
    outbox = MemoryOutbox()
    alert = enqueue(outbox, key, Contact("email", ADDRESS))
    deliver_due(outbox, key, {"email": LeakyTransport()}, now=T0)
    assert outbox.get(alert.id).last_error == "unexpected error (RuntimeError)"


def test_wrong_contact_key_fails_with_both_key_ids(key: ContactKey) -> None:
    outbox = MemoryOutbox()
    alert = enqueue(outbox, key, Contact("email", ADDRESS))
    other = ContactKey.generate()
    report = deliver_due(outbox, other, {"email": LeakyTransport()}, now=T0)
    assert report.failed == [alert.id]
    error = outbox.get(alert.id).last_error
    assert error == f"contact unusable: sealed with contact key {key.kid}, not with {other.kid}"


# --- worker ---------------------------------------------------------------------------------


def test_worker_delivers_then_stops_when_told(
    mail: tuple[SmtpTransport, MailSink], key: ContactKey
) -> None:
    transport, sink = mail
    outbox = MemoryOutbox()
    stop = threading.Event()
    result: list[Any] = []
    worker = threading.Thread(
        target=lambda: result.append(
            run_worker(outbox, key, {"email": transport}, stop=stop, poll_interval=0.02)
        )
    )
    worker.start()
    try:
        alert = Alert(
            subject_fingerprint=SUBJECT_FP,
            kind="attempt_on_exposed",
            relying_party="Télécom Exemple",
            at=T0,
            check_id="chk-0002",
        )
        sealed = seal(Contact("email", ADDRESS), key, subject_fingerprint=SUBJECT_FP)
        outbox.enqueue(alert, sealed, now=datetime.now(UTC))
        deadline = time.monotonic() + 5
        while outbox.get(alert.id).status == "pending" and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        worker.join(timeout=5)
    assert not worker.is_alive()
    assert outbox.get(alert.id).status == "delivered"
    assert result[0].delivered == [alert.id]
    assert len(sink.messages) == 1


# --- backoff, messages, outbox --------------------------------------------------------------


def test_backoff_doubles_from_30_seconds_and_caps_at_6_hours() -> None:
    assert [NO_JITTER(n) for n in (1, 2, 3)] == [
        timedelta(seconds=60),
        timedelta(seconds=120),
        timedelta(seconds=240),
    ]
    assert NO_JITTER(10) == NO_JITTER(10_000) == timedelta(hours=6)
    jittered = exponential_backoff()
    for _ in range(50):
        assert timedelta(seconds=45) <= jittered(1) <= timedelta(seconds=60)


@pytest.mark.parametrize("kind", ["attempt_on_frozen", "attempt_on_exposed", "canary_tripped"])
def test_message_is_french_then_english_and_names_no_identifier(kind: AlertKind) -> None:
    alert = make_alert(kind)
    message = alert_message(alert)
    assert "Banque Exemple" in message.subject
    assert "\n" not in message.subject
    assert "12 mars 2026 à 14 h 05" in message.body
    assert "12 March 2026 at 14:05" in message.body
    assert message.body.index("auprès de Banque Exemple") < message.body.index("English:")
    assert SUBJECT_FP.hex() not in message.body and alert.id not in message.body


def test_an_operators_contact_on_a_canary_makes_the_incident_name_it(
    receiver: Receiver, key: ContactKey
) -> None:
    canary = CanaryRef("cn-0123456789ab", "partenaire-x")
    contact = Contact("webhook", receiver.url, canary=canary)
    outbox = MemoryOutbox()
    alert = make_alert("canary_tripped")
    outbox.enqueue(alert, seal(contact, key, subject_fingerprint=SUBJECT_FP), now=T0)
    report = deliver_due(outbox, key, {"webhook": webhook()}, now=T0)
    assert report.delivered == [alert.id]
    ((_, body),) = receiver.requests
    posted = json.loads(body)
    assert posted["canary"] == {"id": "cn-0123456789ab", "source": "partenaire-x"}
    assert "Canary incident: cn-0123456789ab (source partenaire-x)" in posted["subject"]
    assert "« partenaire-x »" in posted["text"] and "auprès de Banque Exemple" in posted["text"]
    with pytest.raises(ValueError, match="only a canary alert names a canary"):
        Alert(SUBJECT_FP, "attempt_on_frozen", "Banque", T0, "chk", canary=canary)


def test_alert_refuses_naive_time_and_multi_line_party() -> None:
    with pytest.raises(ValueError, match="timezone"):
        Alert(SUBJECT_FP, "attempt_on_frozen", "Banque", datetime(2026, 3, 12), "chk")
    with pytest.raises(ValueError, match="one printable line"):
        Alert(SUBJECT_FP, "attempt_on_frozen", "Banque\r\nBcc: x@y.fr", T0, "chk")
    assert SUBJECT_FP.hex() not in repr(make_alert())


def test_memory_outbox_orders_due_items_and_refuses_double_marking(key: ContactKey) -> None:
    outbox = MemoryOutbox()
    sealed = seal(Contact("email", ADDRESS), key, subject_fingerprint=SUBJECT_FP)
    later, sooner = make_alert(), make_alert()
    outbox.enqueue(later, sealed, now=T0 + timedelta(minutes=5))
    outbox.enqueue(sooner, sealed, now=T0)
    with pytest.raises(Conflict):
        outbox.enqueue(sooner, sealed, now=T0)
    assert [i.alert.id for i in outbox.due(T0, 10)] == [sooner.id]
    assert [i.alert.id for i in outbox.due(T0 + timedelta(hours=1), 10)] == [sooner.id, later.id]
    assert [i.alert.id for i in outbox.due(T0 + timedelta(hours=1), 1)] == [sooner.id]
    outbox.mark_delivered(sooner.id, T0, attempts=1)
    with pytest.raises(Conflict, match="already delivered"):
        outbox.mark_failed(sooner.id, "late", attempts=2)
