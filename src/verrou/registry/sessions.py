"""Citizen sessions: the record the store keeps, and the sealed tokens citizens hold.

A session is named by a random id (:func:`new_secret`) that only the citizen holds; the store
keeps its SHA-256 (:func:`secret_hash`) with the citizen id, the times and the assurance level,
never the id itself and never anything personal. What the citizen holds, as a cookie or a
bearer token, is the id and their display name sealed together under the session key
(:func:`seal_token`): the name is needed to render documents for them, and lives nowhere else.

The session key is a small JSON document written with mode 0600, like the contact key::

    {"format": "verrou-session-key/1", "kid": "sk-3f9a1c2b7d10", "key": "<base64, 32 bytes>"}

Sealed format, version 1 (integers are single bytes), in unpadded base64url::

    0x01 ‖ len(kid) ‖ kid (ASCII) ‖ nonce (12 random bytes) ‖ AES-256-GCM(ciphertext ‖ tag)

The associated data names the token's purpose (a cookie session, a bearer token, the sign-in
state), so a token sealed for one purpose never opens as another. The plaintext is a compact
JSON object padded with spaces to a multiple of :data:`PAD_BLOCK` bytes, so a token's length
does not tell the length of a name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal, get_args

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from verrou.errors import KeyMaterialError
from verrou.keys import KeyDocument

SESSION_KEY_FORMAT: Final = "verrou-session-key/1"
SESSION_KEY_DOCUMENT: Final = KeyDocument(SESSION_KEY_FORMAT, id_field="kid", what="session key")
SESSION_KEY_BYTES: Final = 32
SEAL_VERSION: Final = 1
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
#: Plaintext is padded to a multiple of this many bytes (hides the length of a name).
PAD_BLOCK: Final = 64
#: The longest token :func:`open_token` reads; longer text is not one of ours.
MAX_TOKEN_CHARS: Final = 4096
_AAD_LABEL: Final = b"verrou-session-seal"

#: How a session is presented: a cookie (ambient, so CSRF-checked) or a bearer token.
SessionKind = Literal["cookie", "bearer"]
SESSION_KINDS: Final[tuple[str, ...]] = get_args(SessionKind)


# --------------------------------------------------------------------------------------------
# Key
# --------------------------------------------------------------------------------------------


def session_key_id(secret: bytes) -> str:
    """Public id of a session key: a one-way, domain-separated digest, safe to log."""
    digest = hashlib.blake2b(secret, digest_size=6, person=b"verrou-sk-id").hexdigest()
    return f"sk-{digest}"


@dataclass(frozen=True)
class SessionKey:
    """An AES-256-GCM key sealing citizen tokens, and its public id ``kid``."""

    kid: str
    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != SESSION_KEY_BYTES:
            raise KeyMaterialError(
                f"a session key is {SESSION_KEY_BYTES} bytes, got {len(self.secret)}"
            )
        if not self.kid or not self.kid.isascii() or len(self.kid) > 255:
            raise KeyMaterialError("a session key id is 1 to 255 ASCII characters")

    def __repr__(self) -> str:  # never print the secret by accident
        return f"SessionKey(kid={self.kid!r})"

    @classmethod
    def generate(cls) -> SessionKey:
        """A new random key (for tests and for :func:`create_session_key_file`)."""
        secret = secrets.token_bytes(SESSION_KEY_BYTES)
        return cls(kid=session_key_id(secret), secret=secret)


def create_session_key_file(path: Path) -> SessionKey:
    """Write a new random session key to ``path`` (mode 0600). Refuses to overwrite a file.

    Losing it only signs every citizen out; overwriting it would too, hence ``O_EXCL`` all
    the same.
    """
    key = SessionKey.generate()
    SESSION_KEY_DOCUMENT.write(path, key.kid, key.secret)
    return key


def load_session_key_file(path: Path) -> SessionKey:
    """Read a key file written by :func:`create_session_key_file`; ``KeyMaterialError``
    naming the file (never its content) otherwise."""
    document, secret = SESSION_KEY_DOCUMENT.read(path, "; run `verrou keys init`")
    if len(secret) != SESSION_KEY_BYTES:
        raise KeyMaterialError(f"{path}: a session key is {SESSION_KEY_BYTES} bytes")
    key = SessionKey(kid=session_key_id(secret), secret=secret)
    SESSION_KEY_DOCUMENT.refuse_altered(path, document, key.kid)
    return key


# --------------------------------------------------------------------------------------------
# Session records
# --------------------------------------------------------------------------------------------


def new_secret() -> str:
    """A fresh random secret (session id, CSRF token): 256 bits, URL-safe text."""
    return secrets.token_urlsafe(32)


def secret_hash(value: str) -> bytes:
    """What the store keeps of a session id or a CSRF token: its SHA-256. The secrets are
    random and long, so a plain hash is enough (nothing to guess from it)."""
    return hashlib.sha256(value.encode("utf-8")).digest()


@dataclass(frozen=True)
class CitizenSessionRecord:
    """A citizen session as the store keeps it: nothing personal, no secret.

    ``sid_hash`` is :func:`secret_hash` of the session id; ``csrf_hash`` that of the CSRF
    token (cookie sessions only: a bearer token is not sent by browsers on their own);
    ``issued_from`` names the cookie session a bearer token was issued from (revoking the
    session revokes its tokens). ``auth_time`` and ``acr`` are the sign-in's, copied to every
    token issued from it.
    """

    sid_hash: bytes
    citizen_id: str
    kind: SessionKind
    acr: str
    auth_time: datetime
    created_at: datetime
    expires_at: datetime
    csrf_hash: bytes | None = None
    issued_from: bytes | None = None
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind not in SESSION_KINDS:
            raise ValueError(f"a session is one of {', '.join(SESSION_KINDS)}")
        if (self.kind == "cookie") != (self.csrf_hash is not None):
            raise ValueError("a cookie session has a CSRF hash, a bearer token none")
        if self.kind == "cookie" and self.issued_from is not None:
            raise ValueError("a cookie session is not issued from another")
        if self.expires_at <= self.created_at:
            raise ValueError("a session must end after it starts")

    def usable_at(self, now: datetime) -> bool:
        """Whether the session authenticates a request at ``now``: not revoked, not expired."""
        return self.revoked_at is None and now < self.expires_at


# --------------------------------------------------------------------------------------------
# Sealed tokens
# --------------------------------------------------------------------------------------------


def _header(kid: str) -> bytes:
    encoded = kid.encode("ascii")
    return bytes((SEAL_VERSION, len(encoded))) + encoded


def _associated_data(purpose: str, header: bytes) -> bytes:
    return _AAD_LABEL + purpose.encode("ascii") + b"\x00" + header


def seal_token(key: SessionKey, purpose: str, document: Mapping[str, Any]) -> str:
    """``document`` (JSON-serialisable) sealed for ``purpose`` under ``key``, as URL-safe text
    that fits a cookie; each call uses a fresh random nonce."""
    plaintext = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    plaintext += b" " * (-len(plaintext) % PAD_BLOCK)  # JSON ignores trailing spaces
    header = _header(key.kid)
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(key.secret).encrypt(nonce, plaintext, _associated_data(purpose, header))
    return base64.urlsafe_b64encode(header + nonce + sealed).rstrip(b"=").decode("ascii")


def open_token(key: SessionKey, purpose: str, token: str) -> dict[str, Any] | None:
    """The document :func:`seal_token` sealed for ``purpose`` under ``key``, or None when
    ``token`` is not that: malformed, sealed with another key or for another purpose, or
    altered in any byte. None is the only answer for all of these, on purpose: a caller
    refuses the token, and nobody learns which check failed."""
    if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        return None
    try:
        blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, binascii.Error):
        return None
    if len(blob) < 2 or blob[0] != SEAL_VERSION:
        return None
    header_end = 2 + blob[1]
    if len(blob) < header_end + NONCE_BYTES + TAG_BYTES or blob[2:header_end] != key.kid.encode():
        return None
    header = blob[:header_end]
    nonce = blob[header_end : header_end + NONCE_BYTES]
    try:
        plaintext = AESGCM(key.secret).decrypt(
            nonce, blob[header_end + NONCE_BYTES :], _associated_data(purpose, header)
        )
        document = json.loads(plaintext.decode("utf-8"))
    except (InvalidTag, ValueError):
        return None
    return document if isinstance(document, dict) else None
