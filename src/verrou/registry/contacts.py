"""Citizen contacts (email addresses, webhook URLs), stored only as sealed blobs.

A contact is personal data, so the database never holds it in clear: it holds what :func:`seal`
returns, and the contact key lives outside the database (a key file, an HSM in production), like
the fingerprint key. The key file is a small JSON document written with mode 0600::

    {"format": "verrou-contact-key/1", "kid": "ck-3f9a1c2b7d10", "key": "<base64, 32 bytes>"}

A contact is sealed as every sealing key seals (:mod:`verrou.sealing`: AES-256-GCM, sealed
format version 1, the plaintext padded so the blob length does not tell the address length).
The associated data is the header (version, kid) followed by the subject fingerprint, so a blob
copied onto another subject's row, or opened with another key, fails to authenticate instead of
sending someone's alert to a stranger.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, get_args
from urllib.parse import urlsplit

from verrou.errors import ContactSealError as ContactSealError  # re-exported: its old home
from verrou.errors import InvalidIdentifier
from verrou.identifiers.contact import canonical_email
from verrou.keys import KeyDocument
from verrou.masking import mask_value
from verrou.registry.canary_records import CanaryRef
from verrou.sealing import NONCE_BYTES, SEAL_VERSION, TAG_BYTES, AssociatedData, SealingKey
from verrou.sealing import PAD_BLOCK as PAD_BLOCK  # re-exported: its old home

CONTACT_KEY_FORMAT: Final = "verrou-contact-key/1"
CONTACT_KEY_DOCUMENT: Final = KeyDocument(CONTACT_KEY_FORMAT, id_field="kid", what="contact key")
#: Longest webhook URL accepted; longer ones are not something a receiver really needs.
WEBHOOK_URL_MAX: Final = 2048
_AAD_LABEL: Final = b"verrou-contact-seal"
#: Hosts to which plain http is allowed: loopback only (tests and receivers on the same machine).
_LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "::1"})

Channel = Literal["email", "webhook"]
CHANNELS: Final[tuple[str, ...]] = get_args(Channel)


# --------------------------------------------------------------------------------------------
# Key
# --------------------------------------------------------------------------------------------


class ContactKey(SealingKey, document=CONTACT_KEY_DOCUMENT, kid_prefix="ck"):
    """An AES-256-GCM key for sealing contacts, and its public id ``kid``."""


def create_contact_key_file(path: Path) -> ContactKey:
    """Write a new random contact key to ``path`` (mode 0600). Refuses to overwrite a file.

    Losing the key makes every sealed contact unreadable, hence ``O_EXCL``.
    """
    return ContactKey.create_file(path)


def load_contact_key_file(path: Path) -> ContactKey:
    """Read a key file written by :func:`create_contact_key_file`; raise ``KeyMaterialError``."""
    return ContactKey.load_file(path)


# --------------------------------------------------------------------------------------------
# Contact
# --------------------------------------------------------------------------------------------


def canonical_webhook_url(raw: str) -> str:
    """A webhook URL verrou may POST to, or ``InvalidIdentifier("webhook", reason)``.

    ``https://`` to a named host or a public IP address. Plain ``http://`` is allowed ONLY to
    loopback (``127.0.0.1`` or ``[::1]``): for tests and for a receiver on the same machine; an
    alert must never cross a network in clear. ``https`` to a loopback, private or link-local IP
    literal is refused (a registered contact must not make verrou call its own network). Names are
    not resolved here: the delivery side does not follow redirects, which limits what a hostile
    name can reach, and egress filtering belongs to the deployment. User info (``user:pass@``) is
    refused: secrets do not belong in a stored address.
    """
    text = raw.strip()
    if not text:
        raise InvalidIdentifier("webhook", "empty URL")
    if len(text) > WEBHOOK_URL_MAX:
        raise InvalidIdentifier("webhook", f"URL longer than {WEBHOOK_URL_MAX} characters")
    if not text.isascii() or any(ch.isspace() or not ch.isprintable() for ch in text):
        raise InvalidIdentifier("webhook", "URL has whitespace, control or non-ASCII characters")
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - validates the port; raises ValueError when it is not a number
    except ValueError:
        raise InvalidIdentifier("webhook", "malformed URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidIdentifier("webhook", "URL must start with https://")
    if not host:
        raise InvalidIdentifier("webhook", "URL has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidIdentifier("webhook", "URL must not carry user name or password")
    if parts.fragment:
        raise InvalidIdentifier("webhook", "URL must not have a #fragment")
    if scheme == "http":
        if host not in _LOOPBACK_HOSTS:
            raise InvalidIdentifier("webhook", "plain http:// is allowed only to 127.0.0.1")
        return text
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return text  # a host name
    if not address.is_global:
        raise InvalidIdentifier("webhook", "https:// to a non-public IP address is not allowed")
    return text


@dataclass(frozen=True)
class Contact:
    """Where a citizen wants alerts: an email address or a webhook URL.

    The address is validated and stored in canonical form (email: :func:`canonical_email`,
    webhook: :func:`canonical_webhook_url`); an invalid one raises ``InvalidIdentifier`` whose
    message does not quote it. ``repr`` masks the address so a contact logged by accident does
    not leak.

    ``canary`` is set on the operators' contacts sealed to a canary's keys: which canary they
    stand for, sealed with the address, so that the incident alert can name the canary and its
    source while the outbox says nothing of which alert is about which canary.
    """

    channel: Channel
    address: str
    canary: CanaryRef | None = None

    def __post_init__(self) -> None:
        if self.channel == "email":
            canonical = canonical_email(self.address)
        elif self.channel == "webhook":
            canonical = canonical_webhook_url(self.address)
        else:
            raise InvalidIdentifier("contact", f"channel must be one of {', '.join(CHANNELS)}")
        object.__setattr__(self, "address", canonical)

    def __repr__(self) -> str:
        return f"Contact(channel={self.channel!r}, address={mask_value(self.address)!r})"


# --------------------------------------------------------------------------------------------
# Seal / open
# --------------------------------------------------------------------------------------------


def _bound_to(subject_fingerprint: bytes) -> AssociatedData:
    """The associated data of a blob sealed for the subject ``subject_fingerprint``."""
    if not isinstance(subject_fingerprint, bytes) or not subject_fingerprint:
        raise ContactSealError("a sealed contact needs the subject fingerprint (non-empty bytes)")
    return lambda header: _AAD_LABEL + header + subject_fingerprint


def seal(contact: Contact, key: ContactKey, *, subject_fingerprint: bytes) -> bytes:
    """Encrypt ``contact`` for the subject ``subject_fingerprint`` with ``key``.

    Each call uses a fresh random 96-bit nonce (two seals of one contact differ). The result is
    what the store keeps; only :func:`open_sealed` with the same key and subject opens it.
    """
    document: dict[str, object] = {"c": contact.channel, "a": contact.address}
    if contact.canary is not None:
        document["k"] = [contact.canary.id, contact.canary.source]
    return key.seal(document, _bound_to(subject_fingerprint))


def seal_note(text: str, key: ContactKey, *, subject_fingerprint: bytes) -> bytes:
    """Encrypt a citizen's free text (a note on an identity-theft report) as a contact is
    sealed: the same key, AES-256-GCM, bound to its subject, padded. Free text may hold the
    very identifiers the registry must not keep in clear."""
    return key.seal({"n": text}, _bound_to(subject_fingerprint))


def sealed_kid(blob: bytes) -> str:
    """The id of the key a blob was sealed with (public; lets an operator pick the right key)."""
    if len(blob) < 2 or blob[0] != SEAL_VERSION:
        version = blob[0] if blob else None
        raise ContactSealError(f"unknown sealed-contact format (version byte {version})")
    end = 2 + blob[1]
    if len(blob) < end + NONCE_BYTES + TAG_BYTES:
        raise ContactSealError("sealed contact is truncated")
    try:
        return blob[2:end].decode("ascii")
    except UnicodeDecodeError:
        raise ContactSealError("sealed contact has a malformed key id") from None


def open_sealed(blob: bytes, key: ContactKey, *, subject_fingerprint: bytes) -> Contact:
    """Decrypt a blob made by :func:`seal`, or raise :class:`ContactSealError`.

    Fails (never returns a wrong contact) when the blob was sealed with another key, belongs to
    another subject, or has any byte changed.
    """
    associated_data = _bound_to(subject_fingerprint)
    kid = sealed_kid(blob)
    if kid != key.kid:
        raise ContactSealError(f"sealed with contact key {kid}, not with {key.kid}")
    plaintext = key.open(blob, associated_data)
    if plaintext is None:
        raise ContactSealError(
            "sealed contact does not authenticate: altered, sealed for another subject, "
            "or with another key"
        )
    try:
        document = json.loads(plaintext.decode("utf-8"))
        channel = document["c"]
        address = document["a"]
        if channel not in CHANNELS or not isinstance(address, str):
            raise ValueError("shape")
        canary = document.get("k")
        if canary is None:
            return Contact(channel=channel, address=address)
        canary_id, source = canary
        if not isinstance(canary_id, str) or not isinstance(source, str):
            raise ValueError("shape")
        return Contact(channel=channel, address=address, canary=CanaryRef(canary_id, source))
    except (ValueError, KeyError, TypeError, InvalidIdentifier):
        # Authentic but unusable: sealed by a buggy or newer writer. Say so, quote nothing.
        raise ContactSealError("sealed contact authenticates but its content is invalid") from None
