"""The server side of the private exposure check (protocol: :mod:`verrou.lookup.protocol`).

The server learns a kind, a bucket and blinded elements; it answers its evaluations with one
proof, and each bucket's tags padded to the same count. Nothing here is recorded: no audit
entry, no log line, nothing that depends on the value beyond its bucket. The padding tags are
derived from the OPRF key, the bucket and their rank, so asking the same bucket twice gets the
same answer and the real tags cannot be told from the padding by comparing answers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from verrou.errors import Conflict, InvalidLookup
from verrou.fingerprints import ENTRY_BYTES
from verrou.identifiers.kinds import Kind
from verrou.lookup.protocol import (
    MAX_BUCKET_BITS,
    MAX_ELEMENTS,
    TAG_BYTES,
    OprfKey,
    bucket_bits_for,
    bucket_range,
    padded_count,
)
from verrou.oprf import Evaluation, Server, deserialize_element
from verrou.store.protocols import LookupIndexStore

#: Where a tag sits in an index entry: after the 2-byte bucket.
_TAG_AT = 2


@dataclass(frozen=True)
class Directory:
    """What a client needs before it asks: the key to verify proofs with, the bucket size, the
    kinds indexed and the breaches to compute tags for."""

    public_key: bytes
    key_id: str
    bucket_bits: int
    kinds: tuple[Kind, ...]
    breaches: tuple[str, ...]
    indexed: int


def directory(store: LookupIndexStore, key: OprfKey) -> Directory:
    """The current directory: breaches whose runs built the index, and how much it holds."""
    kinds: set[str] = set()
    breaches: list[str] = []
    indexed = 0
    for summary in store.list_breaches():
        if summary.indexed_by_kind:
            breaches.append(summary.breach.name)
            kinds.update(summary.indexed_by_kind)
            indexed += sum(summary.indexed_by_kind.values())
    ordered = tuple(kind for kind in Kind if kind.value in kinds)
    return Directory(
        key.public, key.key_id, bucket_bits_for(indexed), ordered, tuple(breaches), indexed
    )


class Query(NamedTuple):
    """One element to evaluate, and the bucket whose tags the client wants with it."""

    bucket: int
    element: bytes


@dataclass(frozen=True)
class Answer:
    """The evaluations with their proof, and each distinct bucket's padded, sorted tags."""

    evaluation: Evaluation
    buckets: dict[int, bytes]


class LookupService:
    """Answers lookups with one OPRF key over one index."""

    def __init__(self, key: OprfKey) -> None:
        self.key = key
        self.server = Server(key)
        self._pad_key = hashlib.blake2b(key.seed, digest_size=32, person=b"verrou-pad/1").digest()

    def refuse_invalid(
        self, current: Directory, kind: Kind, bits: int, queries: Sequence[Query]
    ) -> None:
        """:class:`InvalidApplicant` naming the field, or :class:`Conflict` when the client's
        bucket size is not the server's any more (the index grew: fetch the directory again)."""
        problems: dict[str, str] = {}
        if kind not in current.kinds:
            indexed = ", ".join(k.value for k in current.kinds) or "none"
            problems["kind"] = f"not indexed here (indexed: {indexed})"
        if not 1 <= len(queries) <= MAX_ELEMENTS:
            problems["queries"] = f"1 to {MAX_ELEMENTS} elements a request"
        if any(not 0 <= q.bucket < (1 << bits) for q in queries):
            problems["queries"] = f"a bucket is a number below 2^{bits}"
        if problems:
            raise InvalidLookup(problems)
        if bits != current.bucket_bits:
            raise Conflict(
                f"the index now has {current.bucket_bits}-bit buckets, not {bits}: "
                "fetch GET /v1/lookup again"
            )
        for query in queries:
            deserialize_element(query.element)

    def answer(self, store: LookupIndexStore, bits: int, queries: Sequence[Query]) -> Answer:
        """Evaluate every element (one batch proof) and gather each bucket's tags."""
        if not 0 <= bits <= MAX_BUCKET_BITS:
            raise InvalidLookup({"bucket_bits": f"0 to {MAX_BUCKET_BITS}"})
        evaluation = self.server.blind_evaluate([q.element for q in queries])
        buckets = {q.bucket: self.bucket_tags(store, q.bucket, bits) for q in queries}
        return Answer(evaluation, buckets)

    def bucket_tags(self, store: LookupIndexStore, bucket: int, bits: int) -> bytes:
        """The bucket's distinct tags with its padding, sorted, :data:`TAG_BYTES` each."""
        blobs = store.lookup_entries(bucket_range(bucket, bits))
        joined = b"".join(blobs)
        entries = np.frombuffer(joined, dtype=np.uint8).reshape(-1, ENTRY_BYTES)
        tags = np.unique(
            np.ascontiguousarray(entries[:, _TAG_AT : _TAG_AT + TAG_BYTES]).view(">u8").ravel()
        )
        pads = self._padding(bucket, bits, padded_count(len(tags)) - len(tags))
        return np.sort(np.concatenate([tags, pads])).astype(">u8").tobytes()

    def _padding(self, bucket: int, bits: int, count: int) -> np.ndarray:
        """``count`` tags that look like real ones, the same for the same bucket each time."""
        seed = hashlib.blake2b(
            f"{bits}:{bucket}".encode(), key=self._pad_key, digest_size=16
        ).digest()
        stream = hashlib.shake_256(seed).digest(count * TAG_BYTES)
        return np.frombuffer(stream, dtype=">u8")
