"""What client and server must compute alike in the private exposure check.

1. The client canonicalises its value with the canonicaliser of its kind (the same as ingest and
   checks use) and frames it as the OPRF input :func:`lookup_input`:
   ``"verrou-lookup/1" 0x1f kind 0x1f version 0x1f canonical`` (UTF-8).
2. It derives the value's **bucket**, the first ``bits`` bits of an unkeyed SHA-256 of that input
   (:func:`bucket_of`): anyone can compute a candidate's bucket, and that is all the server
   learns. The server chooses ``bits`` (:func:`bucket_bits_for`) so that a bucket holds about
   :data:`BUCKET_TARGET` indexed values, hundreds at the ANTS breach's scale, and says it in its
   configuration.
3. It blinds the input, sends kind, bucket and blinded element; the server evaluates with its
   key, proves it used its published key (VOPRF), and returns the bucket's **tags**.
4. A tag is the first :data:`TAG_BYTES` of ``SHA-512(len‖output ‖ len‖breach ‖ "verrou-tag")``
   (:func:`breach_tag`), one per (value, breach): the client finalises its output, computes its
   tag for each breach the server lists, and tests membership itself. Tags of values the client
   does not know look random, so a bucket's answer says nothing about which breaches its other
   values are in; the server pads every answer with random tags to the same count
   (:func:`padded_count`), so its size says nothing either.

The server's OPRF key is a key of its own, outside the database like the others (:class:`OprfKey`).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from verrou.errors import KeyMaterialError
from verrou.identifiers.kinds import KIND_VERSIONS, Kind
from verrou.identifiers.kinds import LOOKUP_KINDS as LOOKUP_KINDS  # declared with the others
from verrou.keys import KeyDocument
from verrou.oprf import KeyPair, derive_key_pair

PROTOCOL: Final = "verrou-lookup/1"
#: A person is indexed and asked by its ``first`` keys (birth name or usage name, first given
#: name, birth date): the key a person typed with all or only some of their given names matches.
PERSON_LOOKUP_PREFIX: Final = "first|"
#: Bits of a bucket id as the index stores it; a server serves ``bits <= MAX_BUCKET_BITS``.
MAX_BUCKET_BITS: Final = 16
#: Indexed values a bucket should hold on average: the size of the crowd a value hides in.
BUCKET_TARGET: Final = 512
#: Every answer holds at least this many tags, the real ones and random ones.
PAD_FLOOR: Final = 1024
#: Bytes of a tag sent to the client: false matches about count × breaches / 2^64.
TAG_BYTES: Final = 8
#: Bytes of a tag the index stores (with the 2-byte bucket, the 16 bytes of an index entry).
STORED_TAG_BYTES: Final = 14
#: Most elements one request may carry (a person with several family names asks several keys).
MAX_ELEMENTS: Final = 8


def lookup_input(kind: Kind, canonical: str) -> bytes:
    """The OPRF input of a canonical value: protocol, kind and canonicaliser version framed."""
    return f"{PROTOCOL}\x1f{kind.value}\x1f{KIND_VERSIONS[kind]}\x1f{canonical}".encode()


def full_bucket(value: bytes) -> int:
    """The 16-bit bucket of an OPRF input (:func:`lookup_input`), as the index stores it."""
    return int.from_bytes(hashlib.sha256(b"verrou-bucket/1\x1f" + value).digest()[:2], "big")


def bucket_of(value: bytes, bits: int) -> int:
    """The bucket of an OPRF input when the server serves ``bits``-bit buckets."""
    return full_bucket(value) >> (MAX_BUCKET_BITS - bits)


def bucket_range(bucket: int, bits: int) -> range:
    """The 16-bit buckets of the index that make up ``bucket`` at ``bits`` bits."""
    shift = MAX_BUCKET_BITS - bits
    return range(bucket << shift, (bucket + 1) << shift)


def bucket_bits_for(indexed: int) -> int:
    """The bits a server with ``indexed`` tags serves: as many as keep about
    :data:`BUCKET_TARGET` tags a bucket, at most :data:`MAX_BUCKET_BITS`. 11.7 million
    accounts with an email, a phone and a person each give 16 bits and ~540 tags a bucket."""
    if indexed < 2 * BUCKET_TARGET:
        return 0
    return min(MAX_BUCKET_BITS, int(math.log2(indexed / BUCKET_TARGET)))


def padded_count(real: int) -> int:
    """How many tags an answer with ``real`` tags carries: :data:`PAD_FLOOR`, or the next power
    of two past it for a bucket larger than that (which only happens past the index's design
    size, and then to every bucket alike)."""
    if real <= PAD_FLOOR:
        return PAD_FLOOR
    return 1 << (real - 1).bit_length()


def breach_tag(output: bytes, breach: str) -> bytes:
    """The stored tag of a value with OPRF ``output`` in ``breach`` (the client keeps the first
    :data:`TAG_BYTES`)."""
    name = breach.encode("utf-8")
    digest = hashlib.sha512(
        len(output).to_bytes(2, "big")
        + output
        + len(name).to_bytes(2, "big")
        + name
        + b"verrou-tag"
    ).digest()
    return digest[:STORED_TAG_BYTES]


# --- the server's key ------------------------------------------------------------------------

OPRF_KEY_DOCUMENT: Final = KeyDocument("verrou-oprf-key/1", id_field="key_id", what="OPRF key")
#: The RFC 9497 DeriveKeyPair ``info`` of verrou's lookup key.
_KEY_INFO: Final = b"verrou-lookup/1 key"


@dataclass(frozen=True)
class OprfKey(KeyPair):
    """The server's OPRF key pair (RFC 9497 ``DeriveKeyPair``) with the 32-byte seed its file
    holds, and a public id derived from the public key. The repr leaves the secrets out."""

    seed: bytes = field(repr=False)
    key_id: str

    @classmethod
    def from_seed(cls, seed: bytes) -> OprfKey:
        if len(seed) != 32:
            raise KeyMaterialError(f"an OPRF key seed is 32 bytes, got {len(seed)}")
        pair = derive_key_pair(seed, _KEY_INFO)
        return cls(pair.secret, pair.public, seed, public_key_id(pair.public))

    @classmethod
    def create_file(cls, path: Path) -> OprfKey:
        """Write a new random key to ``path`` (mode 0600); never over an existing file."""
        key = cls.from_seed(secrets.token_bytes(32))
        OPRF_KEY_DOCUMENT.write(path, key.key_id, key.seed)
        return key

    @classmethod
    def load_file(cls, path: Path) -> OprfKey:
        document, seed = OPRF_KEY_DOCUMENT.read(path, "; run `verrou keys init` to create it")
        key = cls.from_seed(seed)
        OPRF_KEY_DOCUMENT.refuse_altered(path, document, key.key_id)
        return key


def public_key_id(public: bytes) -> str:
    """The id of an OPRF public key (``ok-`` and 12 hex digits), which a client can recompute
    from the key it was given and compare with the one the operator publishes."""
    return "ok-" + hashlib.blake2b(public, digest_size=6, person=b"verrou-ok-id").hexdigest()
