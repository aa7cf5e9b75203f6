"""Citizen contacts (email addresses, webhook URLs), stored only as sealed blobs.

A contact is personal data, so the database never holds it in clear: it holds what :func:`seal`
returns, and the contact key lives outside the database (a key file, an HSM in production), like
the fingerprint key. The key file is a small JSON document written with mode 0600::

    {"format": "verrou-contact-key/1", "kid": "ck-3f9a1c2b7d10", "key": "<base64, 32 bytes>"}

Sealed format, version 1 (all integers are single bytes)::

    0x01 ‖ len(kid) ‖ kid (ASCII) ‖ nonce (12 random bytes) ‖ AES-256-GCM(ciphertext ‖ tag)

The associated data is the header (version, kid) followed by the subject fingerprint, so a blob
copied onto another subject's row, or opened with another key, fails to authenticate instead of
sending someone's alert to a stranger. The plaintext is a compact JSON object padded with spaces
to a multiple of :data:`PAD_BLOCK` bytes, so the blob length does not tell the address length.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, get_args
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from verrou.errors import ContactSealError as ContactSealError  # re-exported: its old home
from verrou.errors import InvalidIdentifier, KeyMaterialError
from verrou.identifiers.contact import canonical_email
from verrou.keys import KeyDocument
from verrou.masking import mask_value

CONTACT_KEY_FORMAT: Final = "verrou-contact-key/1"
CONTACT_KEY_DOCUMENT: Final = KeyDocument(CONTACT_KEY_FORMAT, id_field="kid", what="contact key")
CONTACT_KEY_BYTES: Final = 32
SEAL_VERSION: Final = 1
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
#: Plaintext is padded to a multiple of this many bytes (hides the address length).
PAD_BLOCK: Final = 64
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


def contact_key_id(secret: bytes) -> str:
    """Public id of a contact key: a one-way, domain-separated digest, safe to store and log."""
    digest = hashlib.blake2b(secret, digest_size=6, person=b"verrou-ck-id").hexdigest()
    return f"ck-{digest}"


@dataclass(frozen=True)
class ContactKey:
    """An AES-256-GCM key for sealing contacts, and its public id ``kid``."""

    kid: str
    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != CONTACT_KEY_BYTES:
            raise KeyMaterialError(
                f"a contact key is {CONTACT_KEY_BYTES} bytes, got {len(self.secret)}"
            )
        if not self.kid or not self.kid.isascii() or len(self.kid) > 255:
            raise KeyMaterialError("a contact key id is 1 to 255 ASCII characters")

    def __repr__(self) -> str:  # never print the secret by accident
        return f"ContactKey(kid={self.kid!r})"

    @classmethod
    def generate(cls) -> ContactKey:
        """A new random key (for tests and for :func:`create_contact_key_file`)."""
        secret = secrets.token_bytes(CONTACT_KEY_BYTES)
        return cls(kid=contact_key_id(secret), secret=secret)


def create_contact_key_file(path: Path) -> ContactKey:
    """Write a new random contact key to ``path`` (mode 0600). Refuses to overwrite a file.

    Losing the key makes every sealed contact unreadable, hence ``O_EXCL``.
    """
    key = ContactKey.generate()
    CONTACT_KEY_DOCUMENT.write(path, key.kid, key.secret)
    return key


def load_contact_key_file(path: Path) -> ContactKey:
    """Read a key file written by :func:`create_contact_key_file`; raise ``KeyMaterialError``."""
    document, secret = CONTACT_KEY_DOCUMENT.read(path)
    if len(secret) != CONTACT_KEY_BYTES:
        raise KeyMaterialError(f"{path}: a contact key is {CONTACT_KEY_BYTES} bytes")
    key = ContactKey(kid=contact_key_id(secret), secret=secret)
    CONTACT_KEY_DOCUMENT.refuse_altered(path, document, key.kid)
    return key


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
    """

    channel: Channel
    address: str

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


def _header(kid: str) -> bytes:
    encoded = kid.encode("ascii")
    return bytes((SEAL_VERSION, len(encoded))) + encoded


def _associated_data(header: bytes, subject_fingerprint: bytes) -> bytes:
    return _AAD_LABEL + header + subject_fingerprint


def _checked_fingerprint(subject_fingerprint: bytes) -> bytes:
    if not isinstance(subject_fingerprint, bytes) or not subject_fingerprint:
        raise ContactSealError("a sealed contact needs the subject fingerprint (non-empty bytes)")
    return subject_fingerprint


def seal(contact: Contact, key: ContactKey, *, subject_fingerprint: bytes) -> bytes:
    """Encrypt ``contact`` for the subject ``subject_fingerprint`` with ``key``.

    Each call uses a fresh random 96-bit nonce (two seals of one contact differ). The result is
    what the store keeps; only :func:`open_sealed` with the same key and subject opens it.
    """
    return _seal_document({"c": contact.channel, "a": contact.address}, key, subject_fingerprint)


def seal_note(text: str, key: ContactKey, *, subject_fingerprint: bytes) -> bytes:
    """Encrypt a citizen's free text (a note on an identity-theft report) as a contact is
    sealed: the same key, AES-256-GCM, bound to its subject, padded. Free text may hold the
    very identifiers the registry must not keep in clear."""
    return _seal_document({"n": text}, key, subject_fingerprint)


def _seal_document(document: dict[str, str], key: ContactKey, subject_fingerprint: bytes) -> bytes:
    fingerprint = _checked_fingerprint(subject_fingerprint)
    plaintext = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    # JSON ignores trailing whitespace, so padding needs no length field.
    plaintext += b" " * (-len(plaintext) % PAD_BLOCK)
    header = _header(key.kid)
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(key.secret).encrypt(nonce, plaintext, _associated_data(header, fingerprint))
    return header + nonce + sealed


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
    fingerprint = _checked_fingerprint(subject_fingerprint)
    kid = sealed_kid(blob)
    if kid != key.kid:
        raise ContactSealError(f"sealed with contact key {kid}, not with {key.kid}")
    header_end = 2 + blob[1]
    header = blob[:header_end]
    nonce = blob[header_end : header_end + NONCE_BYTES]
    try:
        plaintext = AESGCM(key.secret).decrypt(
            nonce, blob[header_end + NONCE_BYTES :], _associated_data(header, fingerprint)
        )
    except InvalidTag:
        raise ContactSealError(
            "sealed contact does not authenticate: altered, sealed for another subject, "
            "or with another key"
        ) from None
    try:
        document = json.loads(plaintext.decode("utf-8"))
        channel = document["c"]
        address = document["a"]
        if channel not in CHANNELS or not isinstance(address, str):
            raise ValueError("shape")
        return Contact(channel=channel, address=address)
    except (ValueError, KeyError, TypeError, InvalidIdentifier):
        # Authentic but unusable: sealed by a buggy or newer writer. Say so, quote nothing.
        raise ContactSealError("sealed contact authenticates but its content is invalid") from None
