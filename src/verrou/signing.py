"""Signed verdicts: Ed25519 compact JWS that anyone verifies with the published JWKS.

The JWS is written by hand on top of ``cryptography`` (it is small: base64url, canonical JSON,
one Ed25519 signature) so that the bytes we sign are fully under our control; the tests verify our
tokens with joserfc, an independent implementation.

Algorithm name
--------------
Tokens carry ``"alg": "EdDSA"``, the name RFC 8037 registered for Ed25519 in JOSE. RFC 9864
(October 2025) deprecates that polymorphic name in favour of the fully-specified ``"Ed25519"``,
but the signature bytes are identical and, today, ``EdDSA`` is the name the most JOSE libraries
verify: PyJWT's releases accept only ``EdDSA``; joserfc 1.8 accepts it when the relying party
lists it (``JWSRegistry(algorithms=["EdDSA"])``, with a ``SecurityWarning`` naming RFC 9864), and
refuses ``Ed25519`` by default too (only HS256/RS256/ES256 are its default set). The name is one
constant (:data:`SIGNING_ALG`); :func:`verify_compact` already accepts both names, so moving to
``Ed25519`` once relying parties' libraries support it is a one-line change.

Explicit typing
---------------
Every token carries a ``typ`` (RFC 8725 section 3.11) and :func:`verify_compact` requires the one
the caller expects, so a signed audit checkpoint can never be replayed as a verdict or the reverse.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from verrou.errors import KeyMaterialError
from verrou.errors import SignatureError as SignatureError  # re-exported: its old home
from verrou.keys import read_private_file, write_private_file

#: The ``alg`` we write (RFC 8037); see the module docstring for why not ``Ed25519``.
SIGNING_ALG = "EdDSA"
#: ``alg`` values :func:`verify_compact` accepts: both denote an Ed25519 signature (RFC 9864).
ACCEPTED_ALGS = frozenset({"EdDSA", "Ed25519"})
#: ``typ`` of a check verdict.
VERDICT_TYP = "verrou-verdict+jwt"
#: Header members we write and accept; anything else (``crit``, ``b64``, ``jku``...) is refused.
_HEADER_MEMBERS = frozenset({"alg", "kid", "typ"})
#: Longest token :func:`verify_compact` reads; a verdict is a few hundred bytes.
MAX_TOKEN_CHARS = 64 * 1024

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key and its public id (the RFC 7638 thumbprint of its public JWK).

    Equality and hashing use ``kid`` only: the thumbprint determines the public key, which
    determines the key pair. ``repr`` never shows key material.
    """

    kid: str
    private_key: Ed25519PrivateKey = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.private_key, Ed25519PrivateKey):
            raise KeyMaterialError("a signing key must be an Ed25519 private key")
        expected = jwk_thumbprint(self.private_key.public_key())
        if self.kid != expected:
            raise KeyMaterialError("signing key id does not match the key")

    @classmethod
    def from_private_key(cls, private_key: Ed25519PrivateKey) -> SigningKey:
        """Wrap a key, deriving its ``kid``."""
        return cls(kid=jwk_thumbprint(private_key.public_key()), private_key=private_key)

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        # Pickled only to hand the key to verrou's own check recorder process over a pipe.
        raw = self.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return (_signing_key_from_raw, (raw,))

    @classmethod
    def generate(cls) -> SigningKey:
        """A new random key, held in memory only (tests, demos)."""
        return cls.from_private_key(Ed25519PrivateKey.generate())

    def public_key(self) -> Ed25519PublicKey:
        """The public half, safe to publish."""
        return self.private_key.public_key()

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"


def _signing_key_from_raw(raw: bytes) -> SigningKey:
    return SigningKey.from_private_key(Ed25519PrivateKey.from_private_bytes(raw))


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict inverse of :func:`b64url_encode`.

    Refuses padding, characters outside the alphabet and non-canonical encodings (set unused
    trailing bits), so that one byte string has exactly one textual form and a token cannot be
    altered without the verifier noticing.
    """
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc
    if b64url_encode(data) != text:
        raise ValueError("non-canonical base64url")
    return data


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, UTF-8, no NaN/Infinity.

    The same mapping always gives the same bytes whatever its key order. Strings and integers
    match RFC 8785 (JCS); floats use Python's shortest repr, which can differ from JCS for
    exponents, so signed payloads should carry integers and strings rather than floats.
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def jwk_thumbprint(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of an Ed25519 public key's JWK."""
    # RFC 7638 section 3.2: the required members only, in lexicographic order, no whitespace.
    members = {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(_raw_public(public_key))}
    return b64url_encode(hashlib.sha256(canonical_json(members)).digest())


def create_signing_key_file(path: Path) -> SigningKey:
    """Write a new Ed25519 key to ``path`` as unencrypted PEM PKCS#8 with mode 0600.

    Refuses to overwrite an existing file (``KeyMaterialError``): replacing a signing key silently
    would invalidate every verdict relying parties keep as proof.
    """
    key = SigningKey.generate()
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private_file(path, pem, "signing key")
    return key


def load_signing_key_file(path: Path) -> SigningKey:
    """Read a key written by :func:`create_signing_key_file` (any unencrypted Ed25519 PKCS#8 PEM).

    Raises ``KeyMaterialError`` naming the path when the file is missing, unreadable, or holds
    anything other than an unencrypted Ed25519 private key.
    """
    data = read_private_file(path, "signing key")  # mode 0600, a regular file, a few KB
    try:
        private_key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyMaterialError(f"{path}: the signing key is encrypted; expected none") from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyMaterialError(f"{path} is not a PEM private key") from None
    if not isinstance(private_key, Ed25519PrivateKey):
        raise KeyMaterialError(f"{path} holds a private key that is not Ed25519")
    return SigningKey.from_private_key(private_key)


def public_jwk(key: SigningKey) -> dict[str, str]:
    """The public JWK of one key, as published in the JWKS."""
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url_encode(_raw_public(key.public_key())),
        "kid": key.kid,
        "alg": SIGNING_ALG,
        "use": "sig",
    }


def public_jwks(keys: Sequence[SigningKey]) -> dict[str, list[dict[str, str]]]:
    """The JWK Set relying parties verify verdicts with (current and retired keys).

    A key listed twice appears once (equal ``kid`` means equal public key).
    """
    seen: set[str] = set()
    published: list[dict[str, str]] = []
    for key in keys:
        if key.kid not in seen:
            seen.add(key.kid)
            published.append(public_jwk(key))
    return {"keys": published}


def sign_compact(payload: Mapping[str, Any], key: SigningKey, *, typ: str = VERDICT_TYP) -> str:
    """Sign ``payload`` as a compact JWS (``header.payload.signature``).

    Header and payload are canonical JSON, so the same payload signed with the same key gives the
    same token (Ed25519 signatures are deterministic).
    """
    return sign_canonical(canonical_json(dict(payload)), key, typ=typ)


def sign_canonical(payload_json: bytes, key: SigningKey, *, typ: str = VERDICT_TYP) -> str:
    """:func:`sign_compact` of a payload already serialised by :func:`canonical_json` (so a
    caller that also sends those bytes serialises them once)."""
    header = {"alg": SIGNING_ALG, "kid": key.kid, "typ": typ}
    signing_input = f"{b64url_encode(canonical_json(header))}.{b64url_encode(payload_json)}"
    signature = key.private_key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"


def unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` object hook refusing duplicate members (``ValueError``): they are a
    classic parser-differential trick."""
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError("duplicate member")
        result[name] = value
    return result


def _json_object(data: bytes, part: str) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=unique_object)
    except (UnicodeDecodeError, ValueError):
        raise SignatureError(f"token {part} is not a JSON object") from None
    if not isinstance(value, dict):
        raise SignatureError(f"token {part} is not a JSON object")
    return value


def _verification_key(jwks: Mapping[str, Any], kid: str) -> Ed25519PublicKey:
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list):
        raise SignatureError("the key set has no 'keys' list")
    matches = [jwk for jwk in keys if isinstance(jwk, Mapping) and jwk.get("kid") == kid]
    if not matches:
        raise SignatureError(f"no key with kid {kid!r} in the key set")
    if len(matches) > 1:
        raise SignatureError(f"several keys with kid {kid!r} in the key set")
    jwk = matches[0]
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise SignatureError(f"key {kid!r} is not an Ed25519 key")
    if "use" in jwk and jwk["use"] != "sig":
        raise SignatureError(f"key {kid!r} is not a signature key")
    if "alg" in jwk and jwk["alg"] not in ACCEPTED_ALGS:
        raise SignatureError(f"key {kid!r} is for algorithm {jwk['alg']!r}")
    if "key_ops" in jwk and "verify" not in jwk["key_ops"]:
        raise SignatureError(f"key {kid!r} may not verify")
    x = jwk.get("x")
    try:
        if not isinstance(x, str):
            raise ValueError("x")
        return Ed25519PublicKey.from_public_bytes(b64url_decode(x))
    except ValueError:
        raise SignatureError(f"key {kid!r} has a malformed public value") from None


def verify_compact(
    token: str, jwks: Mapping[str, Any], *, typ: str = VERDICT_TYP
) -> dict[str, Any]:
    """Verify a compact JWS against a JWK Set and return its payload.

    Fails closed: returns only after every check passed, and raises :class:`SignatureError` on
    anything else (malformed token, header members other than alg/kid/typ, an ``alg`` outside
    :data:`ACCEPTED_ALGS`, a ``typ`` other than the expected one, a kid absent from or ambiguous
    in the set, a bad signature, a payload that is not a JSON object). Error messages never echo
    the payload.
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise SignatureError("token is not a compact JWS of acceptable size")
    parts = token.split(".")
    if len(parts) != 3:
        raise SignatureError("token is not a compact JWS (expected three parts)")
    try:
        header_bytes, payload_bytes, signature = (b64url_decode(part) for part in parts)
    except ValueError:
        raise SignatureError("token part is not canonical base64url") from None
    header = _json_object(header_bytes, "header")
    unexpected = set(header) - _HEADER_MEMBERS
    if unexpected:
        raise SignatureError(f"token header has unsupported members: {sorted(unexpected)}")
    if header.get("alg") not in ACCEPTED_ALGS:
        raise SignatureError(f"token alg {header.get('alg')!r} is not accepted")
    if header.get("typ") != typ:
        raise SignatureError(f"token typ {header.get('typ')!r} is not {typ!r}")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise SignatureError("token header has no kid")
    public_key = _verification_key(jwks, kid)
    try:
        public_key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
    except InvalidSignature:
        raise SignatureError("token signature does not verify") from None
    return _json_object(payload_bytes, "payload")
