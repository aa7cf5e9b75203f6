"""Citizen sessions: the record the store keeps, and the sealed tokens citizens hold.

A session is named by a random id (:func:`new_secret`) that only the citizen holds; the store
keeps its SHA-256 (:func:`secret_hash`) with the citizen id, the times and the assurance level,
never the id itself and never anything personal. What the citizen holds, as a cookie or a
bearer token, is the id and their display name sealed together under the session key
(:func:`seal_token`): the name is needed to render documents for them, and lives nowhere else.

The session key is a small JSON document written with mode 0600, like the contact key::

    {"format": "verrou-session-key/1", "kid": "sk-3f9a1c2b7d10", "key": "<base64, 32 bytes>"}

A token is sealed as every sealing key seals (:mod:`verrou.sealing`: AES-256-GCM, sealed
format version 1, the plaintext padded so a token's length does not tell the length of a
name), in unpadded base64url. The associated data names the token's purpose (a cookie session,
a bearer token, the sign-in state), so a token sealed for one purpose never opens as another.
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

from verrou.keys import KeyDocument
from verrou.sealing import AssociatedData, SealingKey

SESSION_KEY_FORMAT: Final = "verrou-session-key/1"
SESSION_KEY_DOCUMENT: Final = KeyDocument(SESSION_KEY_FORMAT, id_field="kid", what="session key")
#: The longest token :func:`open_token` reads; longer text is not one of ours.
MAX_TOKEN_CHARS: Final = 4096
_AAD_LABEL: Final = b"verrou-session-seal"

#: How a session is presented: a cookie (ambient, so CSRF-checked) or a bearer token.
SessionKind = Literal["cookie", "bearer"]
SESSION_KINDS: Final[tuple[str, ...]] = get_args(SessionKind)


# --------------------------------------------------------------------------------------------
# Key
# --------------------------------------------------------------------------------------------


class SessionKey(
    SealingKey,
    document=SESSION_KEY_DOCUMENT,
    kid_prefix="sk",
    missing_hint="; run `verrou keys init`",
):
    """An AES-256-GCM key sealing citizen tokens, and its public id ``kid``."""


def create_session_key_file(path: Path) -> SessionKey:
    """Write a new random session key to ``path`` (mode 0600). Refuses to overwrite a file.

    Losing it only signs every citizen out; overwriting it would too, hence ``O_EXCL`` all
    the same.
    """
    return SessionKey.create_file(path)


def load_session_key_file(path: Path) -> SessionKey:
    """Read a key file written by :func:`create_session_key_file`; ``KeyMaterialError``
    naming the file (never its content) otherwise."""
    return SessionKey.load_file(path)


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


def _for_purpose(purpose: str) -> AssociatedData:
    """The associated data of a token sealed for ``purpose``."""
    return lambda header: _AAD_LABEL + purpose.encode("ascii") + b"\x00" + header


def seal_token(key: SessionKey, purpose: str, document: Mapping[str, Any]) -> str:
    """``document`` (JSON-serialisable) sealed for ``purpose`` under ``key``, as URL-safe text
    that fits a cookie; each call uses a fresh random nonce."""
    sealed = key.seal(document, _for_purpose(purpose))
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")


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
    plaintext = key.open(blob, _for_purpose(purpose))
    if plaintext is None:
        return None
    try:
        document = json.loads(plaintext.decode("utf-8"))
    except ValueError:
        return None
    return document if isinstance(document, dict) else None
