"""Sealing keys: the AES-256-GCM keys that seal what the registry must not hold in clear.

A kind of sealing key (the contact key, the session key) is a subclass of :class:`SealingKey`
that names its key file (a :class:`~verrou.keys.KeyDocument`) and the prefix of its public id
in its class line. Every kind seals the same way, sealed format version 1 (all integers are
single bytes)::

    0x01 ‖ len(kid) ‖ kid (ASCII) ‖ nonce (12 random bytes) ‖ AES-256-GCM(ciphertext ‖ tag)

The plaintext is a compact JSON object padded with spaces to a multiple of :data:`PAD_BLOCK`
bytes, so a blob's length does not tell the length of what it holds; each kind binds its own
associated data (what the blob is for) to the header.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from verrou.errors import KeyMaterialError
from verrou.keys import KeyDocument

#: A sealing key is an AES-256 key.
SEALING_KEY_BYTES: Final = 32
SEAL_VERSION: Final = 1
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
#: Plaintext is padded to a multiple of this many bytes (hides the length of what is sealed).
PAD_BLOCK: Final = 64

#: The associated data of a blob, from its header (version and kid).
AssociatedData = Callable[[bytes], bytes]


@dataclass(frozen=True)
class SealingKey:
    """An AES-256-GCM key and its public id ``kid``: a one-way, domain-separated digest of the
    key, safe to store and log. The repr never shows the secret.

    A kind of key is declared as ``class ContactKey(SealingKey, document=..., kid_prefix="ck")``.
    """

    #: The key file of this kind of key; its ``what`` names the key in messages.
    document: ClassVar[KeyDocument]
    #: The id's prefix (``ck``: ``ck-3f9a1c2b7d10``); the id's digest is personalised with
    #: ``verrou-<prefix>-id``, so two kinds never share an id.
    kid_prefix: ClassVar[str]
    #: Added to the message when the key file is missing.
    missing_hint: ClassVar[str]

    kid: str
    secret: bytes

    def __init_subclass__(
        cls, *, document: KeyDocument, kid_prefix: str, missing_hint: str = "", **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls.document = document
        cls.kid_prefix = kid_prefix
        cls.missing_hint = missing_hint

    def __post_init__(self) -> None:
        what = self.document.what
        if len(self.secret) != SEALING_KEY_BYTES:
            raise KeyMaterialError(f"a {what} is {SEALING_KEY_BYTES} bytes, got {len(self.secret)}")
        if not self.kid or not self.kid.isascii() or len(self.kid) > 255:
            raise KeyMaterialError(f"a {what} id is 1 to 255 ASCII characters")

    def __repr__(self) -> str:  # never print the secret by accident
        return f"{type(self).__name__}(kid={self.kid!r})"

    @classmethod
    def kid_for(cls, secret: bytes) -> str:
        """The public id of ``secret`` as a key of this kind."""
        person = f"verrou-{cls.kid_prefix}-id".encode("ascii")
        digest = hashlib.blake2b(secret, digest_size=6, person=person).hexdigest()
        return f"{cls.kid_prefix}-{digest}"

    @classmethod
    def generate(cls) -> Self:
        """A new random key (for tests and for :meth:`create_file`)."""
        secret = secrets.token_bytes(SEALING_KEY_BYTES)
        return cls(kid=cls.kid_for(secret), secret=secret)

    @classmethod
    def create_file(cls, path: Path) -> Self:
        """Write a new random key to ``path`` (mode 0600). Refuses to overwrite a file."""
        key = cls.generate()
        cls.document.write(path, key.kid, key.secret)
        return key

    @classmethod
    def load_file(cls, path: Path) -> Self:
        """Read a key file written by :meth:`create_file`; :class:`KeyMaterialError` naming
        the file (never its content) otherwise."""
        document, secret = cls.document.read(path, cls.missing_hint)
        if len(secret) != SEALING_KEY_BYTES:
            raise KeyMaterialError(f"{path}: a {cls.document.what} is {SEALING_KEY_BYTES} bytes")
        key = cls(kid=cls.kid_for(secret), secret=secret)
        cls.document.refuse_altered(path, document, key.kid)
        return key

    def seal(self, document: Mapping[str, Any], associated_data: AssociatedData) -> bytes:
        """``document`` (JSON-serialisable) sealed under this key, bound to
        ``associated_data(header)``; each call uses a fresh random 96-bit nonce."""
        plaintext = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        # JSON ignores trailing whitespace, so padding needs no length field.
        plaintext += b" " * (-len(plaintext) % PAD_BLOCK)
        encoded = self.kid.encode("ascii")
        header = bytes((SEAL_VERSION, len(encoded))) + encoded
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self.secret).encrypt(nonce, plaintext, associated_data(header))
        return header + nonce + sealed

    def open(self, blob: bytes, associated_data: AssociatedData) -> bytes | None:
        """The plaintext :meth:`seal` sealed in ``blob``, or None when ``blob`` is not that:
        another format, truncated, sealed with another key, bound to other associated data,
        or altered in any byte."""
        if len(blob) < 2 or blob[0] != SEAL_VERSION:
            return None
        header_end = 2 + blob[1]
        if len(blob) < header_end + NONCE_BYTES + TAG_BYTES or blob[2:header_end] != (
            self.kid.encode("ascii")
        ):
            return None
        header = blob[:header_end]
        nonce = blob[header_end : header_end + NONCE_BYTES]
        try:
            return AESGCM(self.secret).decrypt(
                nonce, blob[header_end + NONCE_BYTES :], associated_data(header)
            )
        except InvalidTag:
            return None
