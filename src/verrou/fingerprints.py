"""Keyed fingerprints of canonical identifiers.

fingerprint = BLAKE2b-128(key, person="verrou-fp/1", kind ‖ 0x1f ‖ version ‖ 0x1f ‖ canonical)

The database only ever sees these 16-byte values. Keyed BLAKE2b is a PRF: without the key, a
stolen registry gives back nothing, not even by hashing a list of candidate identities.

Ingest packs fingerprints into fixed-size *entries* (fingerprint, kind code, record number) kept
sorted by fingerprint; the first bytes of a fingerprint are uniformly random, so they serve as the
bucket and shard key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from verrou.identifiers.kinds import KIND_CODES, KIND_VERSIONS, Kind
from verrou.keys import FingerprintKey

FINGERPRINT_BYTES = 16
PERSONALISATION = b"verrou-fp/1"

#: One entry of a fingerprint block: 16-byte fingerprint (as two big-endian words, so that
#: integer order is byte order), identifier kind code, record number within its ingest run.
ENTRY_DTYPE = np.dtype([("hi", ">u8"), ("lo", ">u8"), ("kind", "u1"), ("record", "<u4")])
ENTRY_BYTES = ENTRY_DTYPE.itemsize  # 21

#: Set in the kind byte of an entry of the private check's index (:mod:`verrou.lookup.index`):
#: its 16 bytes are a bucket and a tag, not a fingerprint. Such entries travel with the
#: fingerprint entries through a run's staging and are parted from them when the run is merged.
LOOKUP_FLAG = 0x80

#: Bits of the fingerprint prefix that name a block in the registry (65,536 blocks).
BLOCK_BITS = 16
#: Coarser prefix for the staging segments written while a run is in progress (256): few rows
#: per batch to commit, and one merge per coarse prefix when the run finishes.
SEGMENT_BITS = 8


class Fingerprinter:
    """Computes fingerprints with one key. Cheap to copy into worker processes."""

    def __init__(self, key: FingerprintKey) -> None:
        self.key_id = key.key_id
        self._key_secret = key.secret
        base = hashlib.blake2b(
            key=key.secret, digest_size=FINGERPRINT_BYTES, person=PERSONALISATION
        )
        # Domain separation by kind and version is absorbed once per kind, then copied per value:
        # copying a primed BLAKE2b state is much cheaper than re-keying for every value.
        self._primed: dict[Kind, hashlib.blake2b] = {}
        for kind in Kind:
            state = base.copy()
            state.update(f"{kind.value}\x1f{KIND_VERSIONS[kind]}\x1f".encode())
            self._primed[kind] = state

    def subject_ref(self, issuer: str, subject: str) -> bytes:
        """The keyed reference of a citizen's sign-in account (OIDC issuer and ``sub``).

        A personalisation of its own keeps it apart from every identifier fingerprint: the
        registry can tell the same account signing in again, never which account it is.
        """
        state = hashlib.blake2b(
            key=self._key_secret, digest_size=FINGERPRINT_BYTES, person=b"verrou-sub/1"
        )
        state.update(f"{issuer}\x1f{subject}".encode())
        return state.digest()

    def fingerprint(self, kind: Kind, canonical: str) -> bytes:
        """Fingerprint of one canonical value."""
        state = self._primed[kind].copy()
        state.update(canonical.encode("utf-8"))
        return state.digest()

    def fingerprint_many(self, kind: Kind, canonicals: Iterable[str]) -> list[bytes]:
        """Fingerprints of many canonical values of one kind, in order."""
        primed = self._primed[kind]
        out: list[bytes] = []
        append = out.append
        for value in canonicals:
            state = primed.copy()
            state.update(value.encode("utf-8"))
            append(state.digest())
        return out


def make_entries(
    fingerprints: Sequence[bytes], kind: Kind, records: npt.NDArray[np.uint32]
) -> npt.NDArray[np.void]:
    """Pack fingerprints of one kind with their record numbers into entries."""
    entries = np.empty(len(fingerprints), dtype=ENTRY_DTYPE)
    if len(fingerprints):
        words = np.frombuffer(b"".join(fingerprints), dtype=">u8").reshape(-1, 2)
        entries["hi"] = words[:, 0]
        entries["lo"] = words[:, 1]
    entries["kind"] = KIND_CODES[kind]
    entries["record"] = records
    return entries


def sort_entries(entries: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
    """Entries in one total order (fingerprint, record), independent of batching."""
    hi = entries["hi"].astype(np.uint64)
    records = entries["record"]
    order = np.lexsort((records, hi))
    hi_sorted = hi[order]
    same_hi = hi_sorted[1:] == hi_sorted[:-1]
    # Two different fingerprints sharing their first word (odds ~2^-64 a pair): sort on all of it.
    if same_hi.any():
        lo_sorted = entries["lo"][order]
        if np.any(same_hi & (lo_sorted[1:] != lo_sorted[:-1])):
            order = np.lexsort((records, entries["lo"].astype(np.uint64), hi))
    return entries[order]


def split_by_prefix(entries: npt.NDArray[np.void], bits: int) -> list[tuple[int, bytes]]:
    """Sorted entries cut into (prefix, packed bytes) pieces, one per non-empty prefix."""
    if len(entries) == 0:
        return []
    # numpy may promote the big-endian words to native order (np.concatenate does): the bytes
    # on disk must always be in ENTRY_DTYPE.
    entries = entries.astype(ENTRY_DTYPE, copy=False)
    prefixes = (entries["hi"] >> np.uint64(64 - bits)).astype(np.int64)
    cuts = np.flatnonzero(np.diff(prefixes)) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [len(entries)]))
    return [
        (int(prefixes[start]), entries[start:end].tobytes())
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True)
    ]


def block_prefix(fingerprint: bytes) -> int:
    """Registry block that holds a fingerprint."""
    return int.from_bytes(fingerprint[:2], "big") >> (16 - BLOCK_BITS)


def unpack_entries(blob: bytes) -> npt.NDArray[np.void]:
    """Entries stored in one block or segment."""
    return np.frombuffer(blob, dtype=ENTRY_DTYPE)


def entry_fingerprint(entry: np.void) -> bytes:
    """The 16-byte fingerprint of one entry."""
    return int(entry["hi"]).to_bytes(8, "big") + int(entry["lo"]).to_bytes(8, "big")
