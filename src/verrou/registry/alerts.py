"""Alerts to citizens: what to say, the outbox protocol, and delivery by email or webhook.

When a relying party checks an identity that is frozen, exposed or a canary, and a contact is
registered for it, the registry puts an :class:`OutboxItem` in the outbox in the same transaction
as the audit entry. A worker (:func:`run_worker`, one pass: :func:`deliver_due`) then opens the
sealed contact and delivers the alert through the transport of its channel, recording success,
a retry with exponential backoff, or a final failure.

Delivery is *at least once*: a crash between sending and recording sends again. Receivers can
deduplicate: the email ``Message-ID`` and the webhook ``alert_id`` are the alert id.

Privacy: the message says only what happened, where (the relying party's name or sector), when,
and what to do. It never carries an identifier value or the subject fingerprint. Errors recorded
in the outbox never carry the contact address (``"SMTP 451 from server"``, ``"HTTP 503"``,
``"connection refused"``): they are stored and shown to operators.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import logging
import random
import secrets
import smtplib
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Final, Literal, Protocol, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from verrou.errors import (
    ConfigError,
    Conflict,
    ContactSealError,
    DeliveryError,
    NotFound,
    VerrouError,
)
from verrou.errors import WebhookSignatureError as WebhookSignatureError  # old home
from verrou.identifiers.names import ENGLISH_MONTHS, FRENCH_MONTHS
from verrou.registry.canary_records import CanaryRef
from verrou.registry.contacts import Contact, ContactKey, open_sealed

logger = logging.getLogger(__name__)

AlertKind = Literal[
    "attempt_on_frozen",
    "attempt_on_exposed",
    "canary_tripped",
    # What an owner's account did, so that a hijacked account is seen at once:
    "identity_frozen",
    "identity_thawed",
    "identity_lifted",
    "report_filed",
    # A later breach holds the owner's keys:
    "new_breach",
]
ALERT_KINDS: Final[tuple[str, ...]] = get_args(AlertKind)
#: Alerts about a change the owner's account made (or a new breach), not about a check: each is
#: queued on its own, never coalesced with checks.
ACCOUNT_ALERTS: Final = frozenset(
    {"identity_frozen", "identity_thawed", "identity_lifted", "report_filed", "new_breach"}
)
OutboxStatus = Literal["pending", "delivered", "failed"]
#: Which kind an alert telling of several checks takes: the strongest.
ALERT_RANK: Final[dict[AlertKind, int]] = {
    "canary_tripped": 3,
    "attempt_on_frozen": 2,
    "attempt_on_exposed": 1,
    "identity_frozen": 0,
    "identity_thawed": 0,
    "identity_lifted": 0,
    "report_filed": 0,
    "new_breach": 0,
}
Backoff = Callable[[int], timedelta]
Jitter = Callable[[timedelta], timedelta]

#: Header carrying ``sha256=<hex HMAC-SHA256 of the raw body>`` on every webhook request.
SIGNATURE_HEADER: Final = "X-Verrou-Signature"
WEBHOOK_SECRET_MIN_BYTES: Final = 32
RELYING_PARTY_MAX: Final = 120
DEFAULT_MAX_ATTEMPTS: Final = 8
BACKOFF_BASE: Final = timedelta(seconds=30)
BACKOFF_CAP: Final = timedelta(hours=6)
#: How long an alert whose channel has no transport waits before a worker looks at it again.
UNCONFIGURED_WAIT: Final = timedelta(hours=1)
#: Longest error text kept in the outbox.
ERROR_MAX: Final = 200
#: Default of VERROU_ALERT_WINDOW: a relying party's checks of one owner's identity within one
#: window are told in one alert (see :mod:`verrou.store.sql`, ``_queue_alerts``).
DEFAULT_ALERT_WINDOW: Final = timedelta(minutes=15)


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment


# --------------------------------------------------------------------------------------------
# Alert and its message
# --------------------------------------------------------------------------------------------


def new_alert_id() -> str:
    """A random alert id (``al-`` and 24 hex digits): says nothing about the subject."""
    return f"al-{secrets.token_hex(12)}"


@dataclass(frozen=True)
class Alert:
    """Something a citizen (or, for a canary, the operator) must be told about.

    ``relying_party`` is the name or sector of who checked ("Banque Exemple", "une banque"), shown
    to the citizen; it must be one line. ``at`` is timezone-aware: the first check it tells of.
    One alert tells of ``checks`` checks by that relying party in one alert window, the first
    at ``at`` (with its ``check_id``), the last at ``last_at``.

    An account alert (:data:`ACCOUNT_ALERTS`) tells of a change instead: ``check_id`` is then
    the change's reference, ``until`` the end of a thaw, ``breach`` and ``data_classes`` what a
    new breach exposed (its name and classes only).

    ``canary`` names the canary of a ``canary_tripped`` alert and its source: the operators'
    contact on the canary's keys holds it, sealed, and delivery adds it (:func:`deliver_due`).
    """

    subject_fingerprint: bytes
    kind: AlertKind
    relying_party: str
    at: datetime
    check_id: str
    id: str = field(default_factory=new_alert_id)
    checks: int = 1
    last_at: datetime | None = None
    until: datetime | None = None
    breach: str | None = None
    data_classes: tuple[str, ...] = ()
    canary: CanaryRef | None = None

    def __post_init__(self) -> None:
        _aware(self.at, "Alert.at")
        if self.last_at is not None:
            _aware(self.last_at, "Alert.last_at")
        if self.until is not None:
            _aware(self.until, "Alert.until")
        if isinstance(self.checks, bool) or not isinstance(self.checks, int) or self.checks < 1:
            raise ValueError("Alert.checks is a count of at least 1")
        if self.kind not in ALERT_KINDS:
            raise ValueError("unknown alert kind")
        if self.kind == "new_breach" and not self.breach:
            raise ValueError("a new-breach alert names its breach")
        if self.canary is not None and self.kind != "canary_tripped":
            raise ValueError("only a canary alert names a canary")
        party = self.relying_party.strip()
        # One printable line: it goes into an email subject and body.
        if not party or len(party) > RELYING_PARTY_MAX or not party.isprintable():
            raise ValueError(
                f"relying_party must be one printable line of 1 to {RELYING_PARTY_MAX} characters"
            )
        object.__setattr__(self, "relying_party", party)
        if not self.subject_fingerprint:
            raise ValueError("Alert.subject_fingerprint is empty")

    def __repr__(self) -> str:  # the fingerprint is linkable: keep it out of logs
        return f"Alert(id={self.id!r}, kind={self.kind!r}, check_id={self.check_id!r})"


@dataclass(frozen=True)
class AlertMessage:
    """The text of an alert: a subject line and a plain-text body (French, then English)."""

    subject: str
    body: str


def _paris() -> tzinfo:
    try:
        return ZoneInfo("Europe/Paris")
    except ZoneInfoNotFoundError:  # no tz database on this machine: say UTC rather than guess
        return UTC


def _dates(moment: datetime) -> tuple[str, str]:
    zone = _paris()
    local = moment.astimezone(zone)
    label_fr, label_en = ("heure de Paris", "Paris time") if zone is not UTC else ("UTC", "UTC")
    french = (
        f"le {local.day} {FRENCH_MONTHS[local.month - 1]} {local.year} "
        f"à {local.hour} h {local.minute:02d} ({label_fr})"
    )
    english = (
        f"on {local.day} {ENGLISH_MONTHS[local.month - 1]} {local.year} "
        f"at {local.hour:02d}:{local.minute:02d} ({label_en})"
    )
    return french, english


def alert_message(alert: Alert) -> AlertMessage:
    """What the recipient reads: what happened, where, when, and what to do.

    Written in French for French citizens, with an English paragraph. It names the relying party
    and the date, and gives the check id as a reference for a complaint; never an identifier.
    """
    date_fr, date_en = _dates(alert.at)
    party = alert.relying_party
    if alert.kind in ACCOUNT_ALERTS:
        return _account_message(alert, date_fr, date_en)
    if alert.kind == "canary_tripped":
        subject, french, english = _canary_incident(alert, date_fr, date_en)
    elif alert.kind == "attempt_on_frozen":
        subject = f"[verrou] Identité gelée : demande refusée ({party}) / Attempt on your identity"
        french = (
            f"Une demande a été faite avec votre identité auprès de {party} {date_fr}. "
            "Votre identité est gelée : la demande a été refusée.\n\n"
            "Si c'est vous : dégelez votre identité pour cet organisme depuis votre espace "
            "verrou, puis recommencez votre démarche.\n"
            "Si ce n'est pas vous : vous n'avez rien à faire pour bloquer cette demande. "
            "Gardez votre identité gelée, déposez plainte pour usurpation d'identité "
            "et téléchargez votre attestation depuis votre espace verrou."
        )
        english = (
            f"An application was made with your identity at {party} {date_en}. Your identity is "
            "frozen, so it was refused. If it was you, thaw your identity for this organisation "
            "in your verrou space and try again. If it was not you, nothing is needed to block "
            "it; keep the freeze and report the identity theft to the police."
        )
    else:
        subject = f"[verrou] Demande avec votre identité ({party}) / Application with your identity"
        french = (
            f"Une demande a été faite avec votre identité auprès de {party} {date_fr}. "
            "Vos données figurent dans une fuite : l'organisme doit vérifier votre identité "
            "par un moyen renforcé (en personne ou par une identité numérique certifiée).\n\n"
            "Si c'est vous : rien à faire, suivez la vérification demandée.\n"
            "Si ce n'est pas vous : contactez cet organisme pour faire annuler la demande, "
            "gelez votre identité depuis votre espace verrou et déposez plainte pour "
            "usurpation d'identité."
        )
        english = (
            f"An application was made with your identity at {party} {date_en}. Your data was "
            "exposed in a breach, so the organisation must verify your identity more strongly. "
            "If it was not you, contact the organisation, freeze your identity in your verrou "
            "space and report the identity theft to the police."
        )
    if alert.checks > 1:
        # One alert per relying party and window: say how many checks it stands for.
        last_fr, last_en = _dates(alert.last_at or alert.at)
        subject += f" ({alert.checks} demandes / {alert.checks} attempts)"
        french += (
            f"\n\nCette alerte regroupe {alert.checks} demandes faites auprès de {party}, "
            f"la première {date_fr}, la dernière {last_fr}."
        )
        english += (
            f" This alert covers {alert.checks} attempts at {party}, the first {date_en}, "
            f"the last {last_en}."
        )
    return _message(alert, subject, french, english)


def _canary_incident(alert: Alert, date_fr: str, date_en: str) -> tuple[str, str, str]:
    """The operators' incident: a canary identity was presented to a relying party. It names
    the canary and the source it was planted in when the alert carries them (every canary of
    ``verrou canary create`` does), and what to do; the identity's values never."""
    party = alert.relying_party
    canary = alert.canary
    if canary is None:  # a canary freeze placed by hand, with a contact added by hand
        which_fr, which_en, source_fr, source_en = "", "", "d'une source", "of a source"
        subject = f"[verrou] Incident canari / Canary incident: a canary used at {party}"
    else:
        which_fr, which_en = f" {canary.id}", f" {canary.id}"
        source_fr, source_en = f"de « {canary.source} »", f"of '{canary.source}'"
        subject = (
            f"[verrou] Incident canari / Canary incident: {canary.id} "
            f"(source {canary.source}) used at {party}"
        )
    french = (
        f"Incident canari : l'identité témoin{which_fr} a été présentée auprès de {party} "
        f"{date_fr}. Cette identité n'existe pas et n'a été plantée que dans les données "
        f"{source_fr} : ces données ont fuité et quelqu'un les exploite. La demande a été "
        f"refusée. Ouvrez un incident, prévenez la source et {party}, et suivez les autres "
        "canaris avec « verrou canary incidents »."
    )
    english = (
        f"Canary incident: the canary identity{which_en} was presented to {party} {date_en}. "
        f"It does not exist and was planted only in the data {source_en}: that data leaked and "
        f"someone is using it. The application was refused. Open an incident, warn the source "
        f"and {party}, and follow the other canaries with `verrou canary incidents`."
    )
    return subject, french, english


_NOT_YOU_FR: Final = (
    "Si ce n'est pas vous : connectez-vous sans attendre à votre espace verrou avec "
    "FranceConnect, gelez votre identité et déclarez l'usurpation."
)
_NOT_YOU_EN: Final = (
    "If this was not you, sign in to verrou with FranceConnect at once, freeze your identity "
    "and report the identity theft."
)


def _account_message(alert: Alert, date_fr: str, date_en: str) -> AlertMessage:
    """The message of an account alert: what changed, when, and what to do if it was not you."""
    party = alert.relying_party
    if alert.kind == "identity_frozen":
        subject = "[verrou] Votre identité est gelée / Your identity is frozen"
        french = (
            f"Votre identité a été gelée {date_fr} : toute demande faite avec elle sera refusée."
        )
        english = f"Your identity was frozen {date_en}: any application made with it is refused."
    elif alert.kind == "identity_thawed":
        end_fr, end_en = _dates(alert.until or alert.at)
        subject = f"[verrou] Identité ouverte pour {party} / Identity opened for {party}"
        french = (
            f"Votre identité a été ouverte pour {party} {date_fr}, jusqu'au "
            f"{end_fr.removeprefix('le ')}. Les autres organismes la trouvent toujours gelée."
        )
        english = (
            f"Your identity was opened for {party} {date_en}, until {end_en.removeprefix('on ')}. "
            "Every other "
            "organisation still finds it frozen."
        )
    elif alert.kind == "identity_lifted":
        subject = "[verrou] Gel levé / Freeze lifted"
        french = (
            f"Le gel de votre identité a été levé {date_fr}. Vos données restant dans une "
            "fuite, les organismes doivent encore vérifier votre identité par un moyen renforcé."
        )
        english = (
            f"The freeze on your identity was lifted {date_en}. As your data is still in a "
            "breach, organisations must still verify your identity more strongly."
        )
    elif alert.kind == "report_filed":
        subject = "[verrou] Déclaration d'usurpation enregistrée / Identity-theft report filed"
        french = (
            f"Une déclaration d'usurpation d'identité a été enregistrée {date_fr}. Votre "
            "identité est gelée ; seul un opérateur peut lever ce gel après examen."
        )
        english = (
            f"An identity-theft report was filed {date_en}. Your identity is frozen; only an "
            "operator can lift this freeze after review."
        )
    else:  # new_breach
        classes = ", ".join(alert.data_classes) or "-"
        subject = f"[verrou] Vos données dans une fuite : {alert.breach} / New breach"
        french = (
            f"Vos données figurent dans la fuite « {alert.breach} » (données : {classes}), "
            f"enregistrée {date_fr}. Gelez votre identité depuis votre espace verrou si ce "
            "n'est pas déjà fait."
        )
        english = (
            f"Your data is in the breach '{alert.breach}' (data: {classes}), recorded "
            f"{date_en}. Freeze your identity in your verrou space if it is not frozen yet."
        )
        return _message(alert, subject, french, english)
    return _message(alert, subject, f"{french}\n\n{_NOT_YOU_FR}", f"{english} {_NOT_YOU_EN}")


_NEVER_ASKS: Final = (
    "verrou ne vous demandera jamais vos identifiants, un mot de passe ou un code. / "
    "verrou will never ask for your credentials, a password or a code.\n"
)


def _message(alert: Alert, subject: str, french: str, english: str) -> AlertMessage:
    """An alert's message: the French text, then the English one, each with the alert's
    reference, and the reminder that verrou never asks for credentials."""
    body = (
        f"{french}\n\nRéférence : {alert.check_id}\n\n"
        f"English: {english}\n\nReference: {alert.check_id}\n\n{_NEVER_ASKS}"
    )
    return AlertMessage(subject=subject, body=body)


def webhook_payload(alert: Alert, *, sent_at: datetime) -> bytes:
    """The JSON body POSTed to a webhook (UTF-8, keys sorted). No fingerprint, no identifier."""
    message = alert_message(alert)
    document: dict[str, object] = {
        "type": "verrou.alert",
        "version": 1,
        "alert_id": alert.id,
        "kind": alert.kind,
        "relying_party": alert.relying_party,
        "at": alert.at.isoformat(),
        "check_id": alert.check_id,
        "checks": alert.checks,
        "last_at": (alert.last_at or alert.at).isoformat(),
        "sent_at": _aware(sent_at, "sent_at").isoformat(),
        "subject": message.subject,
        "text": message.body,
    }
    if alert.canary is not None:
        document["canary"] = {"id": alert.canary.id, "source": alert.canary.source}
    return json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")


def sign_webhook_body(body: bytes, secret: bytes) -> str:
    """The value of :data:`SIGNATURE_HEADER`: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_webhook_signature(body: bytes, header: str | None, secret: bytes) -> None:
    """For receivers: return if ``header`` signs ``body`` with ``secret``, else raise.

    Constant-time comparison; a missing header is an error, never a pass.
    """
    if not header:
        raise WebhookSignatureError(f"missing {SIGNATURE_HEADER} header")
    if not hmac.compare_digest(
        header.encode("ascii", "replace"), sign_webhook_body(body, secret).encode()
    ):
        raise WebhookSignatureError("webhook signature does not match the body")


# --------------------------------------------------------------------------------------------
# Outbox
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxItem:
    """An alert waiting for (or done with) delivery to one sealed contact."""

    alert: Alert
    sealed_contact: bytes
    attempts: int
    next_attempt_at: datetime
    status: OutboxStatus = "pending"
    last_error: str | None = None
    delivered_at: datetime | None = None


class Outbox(Protocol):
    """Where alerts wait for delivery. The store implements it; :class:`MemoryOutbox` too.

    ``attempts`` is always the total number of attempts made, passed explicitly so that
    repeating a call (after a store hiccup) does not count an attempt twice. Error texts are
    already safe to store (no address, no identifier). A multi-worker implementation should
    make :meth:`due` claim the items it returns (e.g. push ``next_attempt_at`` by a lease), so
    two workers do not send the same alert at once.
    """

    def due(self, now: datetime, limit: int) -> list[OutboxItem]:
        """Pending items whose ``next_attempt_at`` is not after ``now``, oldest first."""
        ...

    def mark_delivered(
        self, alert_id: str, at: datetime, *, attempts: int, checks: int | None = None
    ) -> None:
        """The alert was delivered at ``at``, after ``attempts`` attempts in total, telling of
        ``checks`` checks (None: all it holds). Checks it absorbed after it was read for
        sending are not lost: the store queues them in the next window's alert."""
        ...

    def mark_retry(
        self, alert_id: str, attempts: int, next_attempt_at: datetime, error: str
    ) -> None:
        """The attempt failed; try again at ``next_attempt_at``."""
        ...

    def mark_failed(self, alert_id: str, error: str, *, attempts: int) -> None:
        """Give up on this alert (an operator may requeue it)."""
        ...


class MemoryOutbox:
    """A real, thread-safe, in-process :class:`Outbox` (used by tests and the demo).

    Not durable: alerts are lost when the process ends. :meth:`enqueue` stands for what the store
    does in the audit transaction.
    """

    def __init__(self) -> None:
        self._items: dict[str, OutboxItem] = {}
        self._lock = threading.Lock()

    def enqueue(self, alert: Alert, sealed_contact: bytes, *, now: datetime) -> OutboxItem:
        """Add a pending item, due at ``now``. An alert id can be enqueued once."""
        item = OutboxItem(
            alert=alert,
            sealed_contact=sealed_contact,
            attempts=0,
            next_attempt_at=_aware(now, "now"),
        )
        with self._lock:
            if alert.id in self._items:
                raise Conflict(f"alert {alert.id} is already in the outbox")
            self._items[alert.id] = item
        return item

    def get(self, alert_id: str) -> OutboxItem:
        """The current state of one item."""
        with self._lock:
            try:
                return self._items[alert_id]
            except KeyError:
                raise NotFound(f"no alert {alert_id} in the outbox") from None

    def items(self) -> list[OutboxItem]:
        """Every item, in insertion order."""
        with self._lock:
            return list(self._items.values())

    def due(self, now: datetime, limit: int) -> list[OutboxItem]:
        """Pending items due at ``now``, by ``next_attempt_at`` then insertion order."""
        _aware(now, "now")
        with self._lock:
            ready = [
                item
                for item in self._items.values()
                if item.status == "pending" and item.next_attempt_at <= now
            ]
        ready.sort(key=lambda item: item.next_attempt_at)
        return ready[: max(limit, 0)]

    def _update(self, alert_id: str, **changes: object) -> None:
        with self._lock:
            try:
                item = self._items[alert_id]
            except KeyError:
                raise NotFound(f"no alert {alert_id} in the outbox") from None
            if item.status != "pending":
                raise Conflict(f"alert {alert_id} is already {item.status}")
            self._items[alert_id] = replace(item, **changes)  # type: ignore[arg-type]

    def mark_delivered(
        self, alert_id: str, at: datetime, *, attempts: int, checks: int | None = None
    ) -> None:
        """Record a delivery (nothing coalesces here: ``checks`` is what was sent)."""
        self._update(
            alert_id,
            status="delivered",
            attempts=attempts,
            delivered_at=_aware(at, "at"),
            last_error=None,
        )

    def mark_retry(
        self, alert_id: str, attempts: int, next_attempt_at: datetime, error: str
    ) -> None:
        """Record a failed attempt to be retried."""
        self._update(
            alert_id,
            attempts=attempts,
            next_attempt_at=_aware(next_attempt_at, "next_attempt_at"),
            last_error=error,
        )

    def mark_failed(self, alert_id: str, error: str, *, attempts: int) -> None:
        """Record that delivery was given up."""
        self._update(alert_id, status="failed", attempts=attempts, last_error=error)


# --------------------------------------------------------------------------------------------
# Transports
# --------------------------------------------------------------------------------------------


class AlertTransport(Protocol):
    """Sends one alert to one contact, or raises :class:`DeliveryError` with a safe reason."""

    def send(self, alert: Alert, contact: Contact, *, now: datetime) -> None:
        """Deliver ``alert`` to ``contact``; ``now`` is the sending time."""
        ...


def _network_reason(exc: BaseException) -> str:
    """A short reason for a socket-level failure, without host, address or library text."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return "host name not resolved"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "TLS certificate not trusted"
    if isinstance(exc, ssl.SSLError):
        return "TLS error"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"network error ({errno.errorcode.get(exc.errno, exc.errno)})"
    return f"network error ({type(exc).__name__})"


def _sender_domain(sender: str) -> str:
    return sender.rpartition("@")[2].rstrip(">").strip() or "verrou.invalid"


class SmtpTransport:
    """Email through an SMTP relay (``smtplib``), one connection per message.

    The relay is trusted with the message in clear (no STARTTLS here): run it on the same host
    or a private network; it does the TLS to the outside world.
    """

    def __init__(self, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        if "\r" in sender or "\n" in sender or "@" not in sender:
            raise ConfigError("the alert sender must be one email address")
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout = timeout

    def build_message(self, alert: Alert, contact: Contact, *, now: datetime) -> EmailMessage:
        """The email sent for ``alert`` (plain text, UTF-8)."""
        text = alert_message(alert)
        message = EmailMessage()
        message["From"] = self.sender
        local, _, domain = contact.address.rpartition("@")
        message["To"] = Address(addr_spec=f"{local}@{domain}")
        message["Subject"] = text.subject
        message["Date"] = format_datetime(_aware(now, "now").astimezone(UTC))
        # The alert id, so a message sent twice (at-least-once delivery) is recognisable.
        message["Message-ID"] = f"<{alert.id}@{_sender_domain(self.sender)}>"
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        message.set_content(text.body)
        return message

    def send(self, alert: Alert, contact: Contact, *, now: datetime) -> None:
        """Send the alert email; raise :class:`DeliveryError` with a reason like ``SMTP 451``."""
        if contact.channel != "email":
            raise DeliveryError("email transport given a non-email contact")
        message = self.build_message(alert, contact, now=now)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            # exc.recipients maps the address to its code: keep the code only.
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise DeliveryError(
                f"SMTP {'/'.join(map(str, codes))} from server (recipient refused)"
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code} from server") from None
        except smtplib.SMTPServerDisconnected:
            raise DeliveryError("SMTP server closed the connection") from None
        except smtplib.SMTPException as exc:
            raise DeliveryError(f"SMTP error ({type(exc).__name__})") from None
        except OSError as exc:
            raise DeliveryError(_network_reason(exc)) from None
        if refused:  # one recipient only, so this means it was refused
            raise DeliveryError("SMTP server refused the recipient")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook is called at the URL the citizen registered, never somewhere it redirects to."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class WebhookTransport:
    """POSTs the alert as JSON, signed with HMAC-SHA256 (:data:`SIGNATURE_HEADER`).

    Receivers check the signature with the shared ``secret`` (:func:`verify_webhook_signature`)
    and may deduplicate on ``alert_id``. Any 2xx is success; redirects are not followed;
    environment proxies are ignored (the connection goes straight to the registered host).
    """

    def __init__(self, timeout: float = 10.0, *, secret: bytes) -> None:
        if len(secret) < WEBHOOK_SECRET_MIN_BYTES:
            raise ConfigError(
                f"the webhook signing secret must be at least {WEBHOOK_SECRET_MIN_BYTES} bytes"
            )
        self.timeout = timeout
        self._secret = secret
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())

    def __repr__(self) -> str:
        return f"WebhookTransport(timeout={self.timeout!r})"

    def send(self, alert: Alert, contact: Contact, *, now: datetime) -> None:
        """POST the alert; raise :class:`DeliveryError` with a reason like ``HTTP 503``."""
        if contact.channel != "webhook":
            raise DeliveryError("webhook transport given a non-webhook contact")
        body = webhook_payload(alert, sent_at=now)
        request = urllib.request.Request(
            contact.address,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "verrou-alerts/1",
                SIGNATURE_HEADER: sign_webhook_body(body, self._secret),
                "X-Verrou-Alert-Id": alert.id,
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            suffix = " (redirects are not followed)" if 300 <= exc.code < 400 else ""
            raise DeliveryError(f"HTTP {exc.code}{suffix}") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, BaseException):
                raise DeliveryError(_network_reason(reason)) from None
            raise DeliveryError("network error") from None
        except (OSError, ValueError) as exc:  # timeouts while reading, malformed responses
            raise DeliveryError(_network_reason(exc)) from None
        if not 200 <= status < 300:
            raise DeliveryError(f"HTTP {status}")


# --------------------------------------------------------------------------------------------
# Delivery
# --------------------------------------------------------------------------------------------


def proportional_jitter(delay: timedelta) -> timedelta:
    """Spread retries: a random delay between 75 % and 100 % of ``delay``."""
    return delay * random.uniform(0.75, 1.0)


def exponential_backoff(
    *,
    base: timedelta = BACKOFF_BASE,
    cap: timedelta = BACKOFF_CAP,
    jitter: Jitter = proportional_jitter,
) -> Backoff:
    """Delay before retry number ``attempts``: ``jitter(min(2**attempts * base, cap))``.

    Pass ``jitter=lambda d: d`` in tests for exact delays.
    """

    def backoff(attempts: int) -> timedelta:
        exponent = min(max(attempts, 0), 30)  # 2**30 * 30 s is far past any cap
        return jitter(min(base * (2**exponent), cap))

    return backoff


@dataclass
class DeliveryReport:
    """What one delivery pass did, by alert id."""

    delivered: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def processed(self) -> int:
        """How many items this pass handled."""
        return len(self.delivered) + len(self.retried) + len(self.failed)

    def add(self, other: DeliveryReport) -> None:
        """Accumulate another pass into this one."""
        self.delivered += other.delivered
        self.retried += other.retried
        self.failed += other.failed


def _bounded(error: str) -> str:
    return error if len(error) <= ERROR_MAX else error[: ERROR_MAX - 1] + "…"


def deliver_due(
    outbox: Outbox,
    contact_key: ContactKey,
    transports: Mapping[str, AlertTransport],
    *,
    now: datetime,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff: Backoff | None = None,
    limit: int = 100,
) -> DeliveryReport:
    """Try once to deliver every item due at ``now`` (up to ``limit``).

    Success → delivered. A failed attempt → retried at ``now + backoff(attempts)``, or failed
    once ``max_attempts`` attempts were made. A sealed contact that cannot be opened fails at
    once (retrying cannot help). One item's failure never stops the others.
    """
    _aware(now, "now")
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    delay = backoff if backoff is not None else exponential_backoff()
    report = DeliveryReport()
    for item in outbox.due(now, limit):
        alert_id = item.alert.id
        attempts = item.attempts + 1
        try:
            contact = open_sealed(
                item.sealed_contact,
                contact_key,
                subject_fingerprint=item.alert.subject_fingerprint,
            )
        except ContactSealError as exc:
            outbox.mark_failed(alert_id, _bounded(f"contact unusable: {exc}"), attempts=attempts)
            report.failed.append(alert_id)
            logger.warning("alert %s failed: sealed contact cannot be opened", alert_id)
            continue
        # An operators' contact on a canary's keys says which canary the incident is about.
        alert = item.alert if contact.canary is None else replace(item.alert, canary=contact.canary)
        transport = transports.get(contact.channel)
        if transport is None:
            # Not this alert's fault: it waits, without spending an attempt, until a worker
            # with a transport for its channel runs.
            outbox.mark_retry(
                alert_id,
                item.attempts,
                now + UNCONFIGURED_WAIT,
                f"no {contact.channel} transport configured",
            )
            report.retried.append(alert_id)
            continue
        try:
            transport.send(alert, contact, now=now)
        except DeliveryError as exc:
            error = _bounded(exc.message)
        except Exception as exc:  # a transport bug: record its type only, its text may quote
            error = f"unexpected error ({type(exc).__name__})"
            logger.exception("alert %s: transport raised unexpectedly", alert_id)
        else:
            outbox.mark_delivered(alert_id, now, attempts=attempts, checks=item.alert.checks)
            report.delivered.append(alert_id)
            continue
        if attempts >= max_attempts:
            outbox.mark_failed(
                alert_id,
                _bounded(f"{error} (gave up after {attempts} attempts)"),
                attempts=attempts,
            )
            report.failed.append(alert_id)
        else:
            outbox.mark_retry(alert_id, attempts, now + delay(attempts), error)
            report.retried.append(alert_id)
    return report


def utc_now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


def run_worker(
    outbox: Outbox,
    contact_key: ContactKey,
    transports: Mapping[str, AlertTransport],
    *,
    stop: threading.Event,
    poll_interval: float = 5.0,
    clock: Callable[[], datetime] = utc_now,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff: Backoff | None = None,
    limit: int = 100,
) -> DeliveryReport:
    """Deliver due alerts until ``stop`` is set; return what was done in total.

    A full batch is followed at once by the next one; otherwise the worker sleeps
    ``poll_interval`` seconds (waking as soon as ``stop`` is set). A verrou error from the outbox
    (store unavailable) is logged and retried after ``poll_interval``; anything else propagates.
    """
    if poll_interval <= 0:
        raise ValueError("poll_interval must be positive")
    total = DeliveryReport()
    while not stop.is_set():
        try:
            report = deliver_due(
                outbox,
                contact_key,
                transports,
                now=clock(),
                max_attempts=max_attempts,
                backoff=backoff,
                limit=limit,
            )
        except VerrouError as exc:
            logger.warning("alert delivery pass failed: %s", exc.code)
            stop.wait(poll_interval)
            continue
        total.add(report)
        if report.processed < limit:
            stop.wait(poll_interval)
    return total
