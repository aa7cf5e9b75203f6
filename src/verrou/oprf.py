"""RFC 9497 oblivious pseudorandom functions, suite ristretto255-SHA512, OPRF and VOPRF modes.

Built on libsodium's ristretto255 functions (through ``rbcl``, which bundles libsodium); this
module only writes the protocol around them, to the letter of the RFC:

- ``HashToGroup`` is ``expand_message_xmd`` (SHA-512, 64 bytes) then the one-way map
  ``crypto_core_ristretto255_from_hash``; ``HashToScalar`` is the same expansion reduced modulo
  the group order; scalars are 32 bytes little-endian, elements their canonical 32-byte
  encoding; the identity element is refused wherever the RFC refuses it;
- in VOPRF mode the server proves, with a discrete-log-equivalence proof over the whole batch
  (``GenerateProof`` with ``ComputeCompositesFast``), that it evaluated every element with the
  key whose public half the client knows. A client that pins the published key cannot be
  singled out with a key of the server's choosing.

Cost of one server evaluation of a batch of ``n`` elements, with its proof: ``2n + 3`` scalar
multiplications (``n`` evaluations, ``n`` for the composite ``M``, ``Z = k·M``, ``t2 = r·G`` on the
base point and ``t3 = r·M``): 5 for a single element. The client's proof check costs ``2n + 4``.

The test vectors of the RFC's Appendix A (ristretto255-SHA512, both modes) are in the tests.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

import rbcl

from verrou.errors import InvalidOprfElement

SUITE: Final = "ristretto255-SHA512"
#: Bytes of a serialised element (Ne) and of a serialised scalar (Ns).
ELEMENT_BYTES: Final = 32
SCALAR_BYTES: Final = 32
#: Bytes of an OPRF output (Nh: SHA-512).
OUTPUT_BYTES: Final = 64
#: The RFC's limit on an input's length (it is framed with a two-byte length).
MAX_INPUT_BYTES: Final = 0xFFFF
_IDENTITY: Final = bytes(ELEMENT_BYTES)


class Mode(IntEnum):
    OPRF = 0x00
    VOPRF = 0x01


def _i2osp(value: int, length: int) -> bytes:
    return value.to_bytes(length, "big")


def _framed(*parts: bytes) -> bytes:
    """Each part with its two-byte big-endian length first, as the RFC frames transcripts."""
    return b"".join(_i2osp(len(part), 2) + part for part in parts)


def expand_message_xmd(message: bytes, dst: bytes, length: int = 64) -> bytes:
    """RFC 9380 section 5.3.1 with SHA-512 (b_in_bytes 64, s_in_bytes 128)."""
    if len(dst) > 255:
        raise ValueError("a domain separation tag is at most 255 bytes here")
    ell = -(-length // 64)
    if ell > 255 or length > 0xFFFF:
        raise ValueError("expand_message_xmd: length too large")
    dst_prime = dst + _i2osp(len(dst), 1)
    b0 = hashlib.sha512(bytes(128) + message + _i2osp(length, 2) + b"\x00" + dst_prime).digest()
    blocks = [hashlib.sha512(b0 + b"\x01" + dst_prime).digest()]
    for i in range(2, ell + 1):
        mixed = bytes(a ^ b for a, b in zip(b0, blocks[-1], strict=True))
        blocks.append(hashlib.sha512(mixed + _i2osp(i, 1) + dst_prime).digest())
    return b"".join(blocks)[:length]


def context_string(mode: Mode) -> bytes:
    """``"OPRFV1-" || I2OSP(mode, 1) || "-" || identifier`` (RFC 9497 section 3.1)."""
    return b"OPRFV1-" + _i2osp(mode, 1) + b"-" + SUITE.encode("ascii")


def _scalar_mul(scalar: bytes, element: bytes) -> bytes:
    return rbcl.crypto_scalarmult_ristretto255(scalar, element)


def _is_zero(scalar: bytes) -> bool:
    return not any(scalar)


@dataclass(frozen=True)
class Suite:
    """The suite in one mode: its domain separation tags, hashing to the group and to scalars."""

    mode: Mode

    @property
    def context(self) -> bytes:
        return context_string(self.mode)

    def hash_to_group(self, message: bytes) -> bytes:
        uniform = expand_message_xmd(message, b"HashToGroup-" + self.context)
        return rbcl.crypto_core_ristretto255_from_hash(uniform)

    def hash_to_scalar(self, message: bytes, dst: bytes | None = None) -> bytes:
        dst = b"HashToScalar-" + self.context if dst is None else dst
        return rbcl.crypto_core_ristretto255_scalar_reduce(expand_message_xmd(message, dst))

    def input_element(self, value: bytes) -> bytes:
        """``HashToGroup(input)``, refusing the identity (InvalidInputError)."""
        if len(value) > MAX_INPUT_BYTES:
            raise InvalidOprfElement(f"an OPRF input is at most {MAX_INPUT_BYTES:,} bytes")
        element = self.hash_to_group(value)
        if element == _IDENTITY:  # odds ~2^-252: the RFC still says to refuse it
            raise InvalidOprfElement("the input maps to the identity element")
        return element

    def finalize_hash(self, value: bytes, unblinded: bytes) -> bytes:
        return hashlib.sha512(_framed(value, unblinded) + b"Finalize").digest()

    # --- the proof (RFC 9497 section 2.2) ---------------------------------------------------

    def _composite_weights(
        self, public: bytes, blinded: Sequence[bytes], evaluated: Sequence[bytes]
    ) -> list[bytes]:
        seed = hashlib.sha512(_framed(public, b"Seed-" + self.context)).digest()
        return [
            self.hash_to_scalar(
                _i2osp(len(seed), 2) + seed + _i2osp(i, 2) + _framed(c, d) + b"Composite"
            )
            for i, (c, d) in enumerate(zip(blinded, evaluated, strict=True))
        ]

    def _challenge(self, public: bytes, m: bytes, z: bytes, t2: bytes, t3: bytes) -> bytes:
        return self.hash_to_scalar(_framed(public, m, z, t2, t3) + b"Challenge")

    def generate_proof(
        self,
        secret: bytes,
        public: bytes,
        blinded: Sequence[bytes],
        evaluated: Sequence[bytes],
        r: bytes | None = None,
    ) -> bytes:
        """``c || s`` proving that ``evaluated[i] = secret·blinded[i]`` for every ``i`` and
        ``public = secret·G`` (``ComputeCompositesFast``: ``Z = secret·M``). ``r`` is the
        proof's random scalar, given only by the test vectors."""
        weights = self._composite_weights(public, blinded, evaluated)
        m = _weighted_sum(weights, blinded)
        z = _scalar_mul(secret, m)
        r = rbcl.crypto_core_ristretto255_scalar_random() if r is None else r
        t2 = rbcl.crypto_scalarmult_ristretto255_base(r)
        t3 = _scalar_mul(r, m)
        c = self._challenge(public, m, z, t2, t3)
        s = rbcl.crypto_core_ristretto255_scalar_sub(
            r, rbcl.crypto_core_ristretto255_scalar_mul(c, secret)
        )
        return c + s

    def verify_proof(
        self, public: bytes, blinded: Sequence[bytes], evaluated: Sequence[bytes], proof: bytes
    ) -> None:
        """Raise :class:`InvalidOprfElement` unless ``proof`` shows that every ``evaluated[i]`` is
        ``blinded[i]`` times the secret key of ``public``."""
        if len(proof) != 2 * SCALAR_BYTES:
            raise InvalidOprfElement("a proof is two scalars")
        c, s = proof[:SCALAR_BYTES], proof[SCALAR_BYTES:]
        weights = self._composite_weights(public, blinded, evaluated)
        m = _weighted_sum(weights, blinded)
        z = _weighted_sum(weights, evaluated)
        t2 = _add(rbcl.crypto_scalarmult_ristretto255_base_allow_scalar_zero(s), _times(c, public))
        t3 = _add(_times(s, m), _times(c, z))
        if not hmac.compare_digest(self._challenge(public, m, z, t2, t3), c):
            raise InvalidOprfElement("the server's proof does not verify against its public key")


def _times(scalar: bytes, element: bytes) -> bytes:
    """``scalar·element``, the identity when the product is (libsodium refuses to return it)."""
    if _is_zero(scalar) or element == _IDENTITY:
        return _IDENTITY
    return rbcl.crypto_scalarmult_ristretto255_allow_scalar_zero(scalar, element)


def _add(p: bytes, q: bytes) -> bytes:
    if p == _IDENTITY:
        return q
    if q == _IDENTITY:
        return p
    return rbcl.crypto_core_ristretto255_add(p, q)


def _weighted_sum(weights: Sequence[bytes], elements: Sequence[bytes]) -> bytes:
    total = _IDENTITY
    for weight, element in zip(weights, elements, strict=True):
        total = _add(total, _times(weight, element))
    return total


def deserialize_element(data: bytes) -> bytes:
    """A received element: its canonical encoding of a group element other than the identity
    (RFC 9497 section 4.1's DeserializeElement and the check that follows it)."""
    if len(data) != ELEMENT_BYTES or data == _IDENTITY:
        raise InvalidOprfElement("not a ristretto255 element")
    if not rbcl.crypto_core_ristretto255_is_valid_point(data):
        raise InvalidOprfElement("not a ristretto255 element")
    return data


def deserialize_scalar(data: bytes) -> bytes:
    """A scalar in canonical form (below the group order), not zero."""
    if len(data) != SCALAR_BYTES or _is_zero(data):
        raise InvalidOprfElement("not a ristretto255 scalar")
    if rbcl.crypto_core_ristretto255_scalar_reduce(data + bytes(32)) != data:
        raise InvalidOprfElement("not a ristretto255 scalar")
    return data


# --- keys ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPair:
    """A server key: the secret scalar and the public element ``secret·G``. The repr leaves
    the secret out."""

    secret: bytes = field(repr=False)
    public: bytes

    @classmethod
    def from_secret(cls, secret: bytes) -> KeyPair:
        secret = deserialize_scalar(secret)
        return cls(secret, rbcl.crypto_scalarmult_ristretto255_base(secret))


def derive_key_pair(seed: bytes, info: bytes, mode: Mode = Mode.VOPRF) -> KeyPair:
    """RFC 9497 section 3.2.1's ``DeriveKeyPair``: the same seed and info give the same key."""
    if len(seed) != 32:
        raise ValueError("a key seed is 32 bytes")
    suite = Suite(mode)
    derive_input = seed + _framed(info)
    for counter in range(256):
        secret = suite.hash_to_scalar(
            derive_input + _i2osp(counter, 1), dst=b"DeriveKeyPair" + suite.context
        )
        if not _is_zero(secret):
            return KeyPair(secret, rbcl.crypto_scalarmult_ristretto255_base(secret))
    raise InvalidOprfElement("DeriveKeyPair found no key")  # pragma: no cover - odds 2^-64000


# --- the client ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Blinded:
    """What the client keeps of one input while the server evaluates it."""

    value: bytes
    blind: bytes
    element: bytes  # the blinded element sent to the server


class Client:
    """The client of a server whose public key it knows (VOPRF), or of a plain OPRF server."""

    def __init__(self, mode: Mode = Mode.VOPRF, public_key: bytes | None = None) -> None:
        if mode is Mode.VOPRF:
            if public_key is None:
                raise ValueError("a VOPRF client needs the server's public key")
            public_key = deserialize_element(public_key)
        self.suite = Suite(mode)
        self.public_key = public_key

    def blind(self, value: bytes, blind: bytes | None = None) -> Blinded:
        """``Blind(input)``: a random scalar times ``HashToGroup(input)``. ``blind`` is given
        only by the test vectors."""
        blind = rbcl.crypto_core_ristretto255_scalar_random() if blind is None else blind
        element = _scalar_mul(blind, self.suite.input_element(value))
        return Blinded(value, blind, element)

    def finalize(
        self, blinded: Sequence[Blinded], evaluated: Sequence[bytes], proof: bytes | None = None
    ) -> list[bytes]:
        """The OPRF outputs of a batch, after checking the proof in VOPRF mode."""
        if len(evaluated) != len(blinded):
            raise InvalidOprfElement("the server evaluated another number of elements than sent")
        evaluated = [deserialize_element(e) for e in evaluated]
        if self.suite.mode is Mode.VOPRF:
            assert self.public_key is not None
            if proof is None:
                raise InvalidOprfElement("a VOPRF evaluation comes with a proof")
            self.suite.verify_proof(self.public_key, [b.element for b in blinded], evaluated, proof)
        outputs = []
        for item, element in zip(blinded, evaluated, strict=True):
            inverse = rbcl.crypto_core_ristretto255_scalar_invert(item.blind)
            unblinded = _scalar_mul(inverse, element)
            outputs.append(self.suite.finalize_hash(item.value, unblinded))
        return outputs


# --- the server ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """A server's answer to a batch: the evaluated elements and, in VOPRF mode, the proof."""

    elements: tuple[bytes, ...]
    proof: bytes | None


class Server:
    """The server side: blind evaluation for clients, direct evaluation for building an index."""

    def __init__(self, key: KeyPair, mode: Mode = Mode.VOPRF) -> None:
        self.key = key
        self.suite = Suite(mode)

    def blind_evaluate(self, blinded: Sequence[bytes], r: bytes | None = None) -> Evaluation:
        """``BlindEvaluate`` of every element (already deserialised by
        :func:`deserialize_element`), with one batch proof in VOPRF mode."""
        secret = self.key.secret
        evaluated = tuple(_scalar_mul(secret, element) for element in blinded)
        proof = None
        if self.suite.mode is Mode.VOPRF:
            proof = self.suite.generate_proof(secret, self.key.public, blinded, evaluated, r)
        return Evaluation(evaluated, proof)

    def evaluate(self, value: bytes) -> bytes:
        """``Evaluate(input)``: the output a client obtains for ``value``, without blinding."""
        issued = _scalar_mul(self.key.secret, self.suite.input_element(value))
        return self.suite.finalize_hash(value, issued)
