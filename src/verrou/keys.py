"""Fingerprint key material: created once, kept outside the database, required at start.

A key file is a small JSON document written with mode 0600::

    {"format": "verrou-fingerprint-key/1", "key_id": "fk-3f9a1c2b7d10", "key": "<base64, 32 bytes>"}

The key id is derived from the key itself, so a registry can record which key fingerprinted
which run without holding anything that helps recover the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

# The mismatches are defined with every other error; importable from here, their old home.
from verrou.errors import CanonicaliserVersionMismatch as CanonicaliserVersionMismatch
from verrou.errors import FingerprintKeyMismatch as FingerprintKeyMismatch
from verrou.errors import KeyMaterialError

if TYPE_CHECKING:  # settings only name the key; this module needs nothing else from them
    from verrou.settings import Settings

KEY_FORMAT = "verrou-fingerprint-key/1"
MIN_KEY_BYTES = 32
#: The most a key file is read of: a key document is about a hundred bytes, a PEM key a few
#: hundred. A device (/dev/zero) or a huge file is refused after this much, not read whole.
MAX_KEY_FILE_BYTES = 16 * 1024


@dataclass(frozen=True)
class FingerprintKey:
    """A secret key and its public id."""

    key_id: str
    secret: bytes

    def __repr__(self) -> str:  # never print the secret by accident
        return f"FingerprintKey(key_id={self.key_id!r})"


def key_id_for(secret: bytes) -> str:
    """Public id of a key: a one-way, domain-separated digest, safe to store and log."""
    digest = hashlib.blake2b(secret, digest_size=6, person=b"verrou-key-id").hexdigest()
    return f"fk-{digest}"


def _checked(secret: bytes, origin: str) -> FingerprintKey:
    if len(secret) < MIN_KEY_BYTES:
        raise KeyMaterialError(
            f"{origin}: the fingerprint key is {len(secret)} bytes; at least {MIN_KEY_BYTES} are "
            "required (run `verrou keys init` to create one)"
        )
    return FingerprintKey(key_id=key_id_for(secret), secret=secret)


def write_private_file(path: Path, content: bytes, what: str) -> None:
    """Create ``path`` readable by its owner only (mode 0600, folder 0700) and write ``content``.

    Never overwrites: losing a key makes everything made with it unusable (fingerprints
    unmatchable, contacts unreadable, verdicts unverifiable), so an existing file is an error.
    """
    try:
        handle = open_private_file(path)
    except FileExistsError:
        raise KeyMaterialError(f"{path} already exists; refusing to overwrite a {what}") from None
    except OSError as exc:
        raise KeyMaterialError(f"cannot create the {what} at {path}: {exc.strerror}") from exc
    with handle:
        handle.write(content)


def open_private_file(path: Path) -> BinaryIO:
    """``path`` created and open for writing, readable by its owner only (mode 0600, a new
    folder 0700). Never an existing file (``FileExistsError``), nor one behind a link: what
    goes in it (a key, canary identities) must not land where someone else prepared a file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


def read_private_file(path: Path, what: str, missing_hint: str = "") -> bytes:
    """The bytes of a secret key file, refused as ssh refuses a private key it should not use.

    :class:`KeyMaterialError` in one line naming the file (never its content) when it is
    missing or unreadable, not a regular file (a device, a pipe, a folder), open to its group
    or to others (with the ``chmod 600`` to run), or larger than :data:`MAX_KEY_FILE_BYTES`.
    """
    try:
        # Non-blocking: opening a FIFO for reading would otherwise wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise KeyMaterialError(f"no {what} at {path}{missing_hint}") from None
    except OSError as exc:
        raise KeyMaterialError(f"cannot read the {what} at {path}: {exc.strerror}") from exc
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise KeyMaterialError(f"cannot read the {what} at {path}: not a regular file")
        mode = stat.S_IMODE(status.st_mode)
        if mode & 0o077:
            raise KeyMaterialError(
                f"the {what} at {path} is open to its group or others (mode {mode:04o}): "
                f"run `chmod 600 {path}`"
            )
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, MAX_KEY_FILE_BYTES + 1 - size):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_KEY_FILE_BYTES:
                raise KeyMaterialError(
                    f"the {what} at {path} is larger than {MAX_KEY_FILE_BYTES:,} bytes: "
                    "not a key file"
                )
    except OSError as exc:
        raise KeyMaterialError(f"cannot read the {what} at {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    return b"".join(chunks)


@dataclass(frozen=True)
class KeyDocument:
    """A kind of key file written as a small JSON document (format, id, base64 key), mode 0600.

    Declared once per kind (:data:`FINGERPRINT_KEY_DOCUMENT`, the contact key's), so that where a
    key is written and where it is read back cannot disagree on its format, its id field or
    what messages call it.
    """

    key_format: str  # the document's "format"
    id_field: str  # the member that holds the key's public id
    what: str  # what messages call the key ("fingerprint key")

    def write(self, path: Path, key_id: str, secret: bytes) -> None:
        """Write the key to a new file at ``path`` (never over one: :func:`write_private_file`)."""
        document = {
            "format": self.key_format,
            self.id_field: key_id,
            "key": base64.b64encode(secret).decode("ascii"),
        }
        write_private_file(path, (json.dumps(document) + "\n").encode(), self.what)

    def read(self, path: Path, missing_hint: str = "") -> tuple[dict[str, Any], bytes]:
        """The JSON document of a key file written by :meth:`write`, and its secret.

        Raises :class:`KeyMaterialError` naming the file (never its content) when it is missing,
        unreadable, refused by :func:`read_private_file`, of another format or not valid base64.
        The caller checks length, then id (:meth:`refuse_altered`).
        """
        try:
            text = read_private_file(path, self.what, missing_hint).decode("utf-8")
        except UnicodeDecodeError:
            raise KeyMaterialError(f"{path} is not a verrou {self.what} file") from None
        try:
            document = json.loads(text)
            if not isinstance(document, dict) or document.get("format") != self.key_format:
                raise ValueError("format")
            secret = base64.b64decode(document["key"], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise KeyMaterialError(f"{path} is not a verrou {self.what} file") from None
        return document, secret

    def refuse_altered(self, path: Path, document: dict[str, Any], key_id: str) -> None:
        """:class:`KeyMaterialError` when the id ``document`` records is not the key's own."""
        if document.get(self.id_field) != key_id:
            raise KeyMaterialError(f"{path}: key id does not match the key (file altered?)")


FINGERPRINT_KEY_DOCUMENT = KeyDocument(KEY_FORMAT, id_field="key_id", what="fingerprint key")


def create_key_file(path: Path) -> FingerprintKey:
    """Write a new random key to ``path`` (mode 0600). Refuses to overwrite an existing file."""
    key = _checked(secrets.token_bytes(MIN_KEY_BYTES), str(path))
    FINGERPRINT_KEY_DOCUMENT.write(path, key.key_id, key.secret)
    return key


def load_key_file(path: Path) -> FingerprintKey:
    """Read a key file written by :func:`create_key_file`."""
    document, secret = FINGERPRINT_KEY_DOCUMENT.read(
        path, missing_hint="; run `verrou keys init` or set VERROU_KEY"
    )
    key = _checked(secret, str(path))
    FINGERPRINT_KEY_DOCUMENT.refuse_altered(path, document, key.key_id)
    return key


def decode_secret(value: str, name: str) -> bytes:
    """A secret given as text in the environment variable ``name``: hex or base64.

    Raises :class:`KeyMaterialError` naming the variable, never quoting the value.
    """
    text = value.strip()
    try:
        return bytes.fromhex(text)
    except ValueError:
        try:
            return base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            raise KeyMaterialError(f"{name} is neither hex nor base64") from None


def parse_key_value(value: str) -> FingerprintKey:
    """A key given inline (``VERROU_KEY``): hex or base64."""
    return _checked(decode_secret(value, "VERROU_KEY"), "VERROU_KEY")


def load_fingerprint_key(settings: Settings) -> FingerprintKey:
    """The fingerprint key the settings name: ``VERROU_KEY`` if set, else ``VERROU_KEY_FILE``.

    The one loader of the CLI and the API. Refuses to run without a key, with a short one or
    with a key file :func:`read_private_file` refuses (:class:`KeyMaterialError`, one line
    that never quotes the key).
    """
    if settings.key_value:
        return parse_key_value(settings.key_value)
    return load_key_file(settings.key_file)
