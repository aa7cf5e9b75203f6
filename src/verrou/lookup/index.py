"""The private check's index, computed while a dump is read.

OPRF outputs cannot be derived from the keyed fingerprints: they need the canonical values, so
the ingest's batch function hands each batch's canonical values of the indexed kinds to a
:class:`LookupIndexer` beside the fingerprinter. Its entries (bucket and tag, with the kind's
code marked by :data:`~verrou.fingerprints.LOOKUP_FLAG` and the record number) are staged and
merged with the run's fingerprint entries, then kept apart in their own table; a crashed
ingest resumes them with the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from verrou.fingerprints import LOOKUP_FLAG, make_entries
from verrou.identifiers.kinds import Kind
from verrou.lookup.protocol import (
    PERSON_LOOKUP_PREFIX,
    OprfKey,
    breach_tag,
    full_bucket,
    lookup_input,
)
from verrou.oprf import Server


@dataclass(frozen=True)
class LookupIndexer:
    """Index entries of one run: the values of ``kinds`` evaluated with the OPRF key and tagged
    with the run's breach. Cheap to copy into worker processes (keys are bytes)."""

    server: Server
    breach: str
    kinds: frozenset[Kind]
    key_id: str

    @classmethod
    def for_run(cls, key: OprfKey, breach: str, kinds: Iterable[Kind]) -> LookupIndexer:
        return cls(Server(key), breach, frozenset(kinds), key.key_id)

    def indexes(self, kind: Kind) -> bool:
        return kind in self.kinds

    def entries(
        self, kind: Kind, canonicals: Sequence[str], records: npt.NDArray[np.uint32]
    ) -> npt.NDArray[np.void]:
        """Index entries of canonical values of one kind (a person by its ``first`` keys only),
        each with its record number."""
        if kind is Kind.PERSON:
            keep = [
                i for i, value in enumerate(canonicals) if value.startswith(PERSON_LOOKUP_PREFIX)
            ]
            canonicals = [canonicals[i] for i in keep]
            records = records[keep]
        evaluate = self.server.evaluate
        breach = self.breach
        keys = []
        for canonical in canonicals:
            value = lookup_input(kind, canonical)
            keys.append(full_bucket(value).to_bytes(2, "big") + breach_tag(evaluate(value), breach))
        entries = make_entries(keys, kind, records)
        entries["kind"] |= LOOKUP_FLAG
        return entries
