"""From a column mapping to what the batch function computes, and the pure batch function.

``fingerprint_batch`` takes an Arrow record batch and returns packed fingerprint entries, counts
and rejects. It touches no database and no global state, so the same function runs in a local
worker process or inside Spark's ``mapInArrow`` for dumps past one machine.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from verrou.fingerprints import (
    SEGMENT_BITS,
    Fingerprinter,
    make_entries,
    sort_entries,
    split_by_prefix,
)
from verrou.identifiers.address import address_column
from verrou.identifiers.columns import canonicalise_column
from verrou.identifiers.kinds import Kind
from verrou.identifiers.names import person_key_columns
from verrou.ingest.mapping import ColumnMapping, Field
from verrou.lookup.index import LookupIndexer
from verrou.masking import mask_value
from verrou.registry.records import Reject

#: Dump fields that are one identifier each.
SINGLE_FIELD_KINDS: dict[Field, Kind] = {
    Field.EMAIL: Kind.EMAIL,
    Field.PHONE: Kind.PHONE,
    Field.LOGIN: Kind.ACCOUNT_ID,
    Field.ACCOUNT_ID: Kind.ACCOUNT_ID,
    Field.CNI: Kind.CNI,
    Field.PASSPORT: Kind.PASSPORT,
    Field.DRIVING_LICENCE: Kind.DRIVING_LICENCE,
    Field.RESIDENCE_PERMIT: Kind.RESIDENCE_PERMIT,
    Field.NIR: Kind.NIR,
    Field.IBAN: Kind.IBAN,
}
#: Family-name fields, birth name first: each yields its own matching keys.
FAMILY_FIELDS = (Field.BIRTH_NAME, Field.FAMILY_NAME, Field.USAGE_NAME)

_DIGITS = re.compile(r"\d+")


def service_slug(text: str) -> str:
    """Namespace of account ids and logins: the breached service, as ``[a-z0-9-]``."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "service"


@dataclass(frozen=True)
class SingleColumn:
    column: str
    kind: Kind
    namespace: str | None


@dataclass(frozen=True)
class IngestPlan:
    """Which dump columns feed which identifier kinds."""

    single: tuple[SingleColumn, ...]
    family: tuple[str, ...] = ()
    given_names: str | None = None
    birth_date: str | None = None
    birth_place: str | None = None
    address: str | None = None
    postcode: str | None = None
    city: str | None = None

    @classmethod
    def from_mapping(cls, mapping: ColumnMapping, service: str) -> IngestPlan:
        slug = service_slug(service)
        fields = mapping.fields
        single = []
        for dump_field, kind in SINGLE_FIELD_KINDS.items():
            if dump_field in fields:
                namespace = None
                if kind is Kind.ACCOUNT_ID:
                    suffix = "login" if dump_field is Field.LOGIN else "account"
                    namespace = f"{slug}-{suffix}"
                single.append(SingleColumn(fields[dump_field], kind, namespace))
        return cls(
            single=tuple(single),
            family=tuple(fields[f] for f in FAMILY_FIELDS if f in fields),
            given_names=fields.get(Field.GIVEN_NAMES),
            birth_date=fields.get(Field.BIRTH_DATE),
            birth_place=fields.get(Field.BIRTH_PLACE),
            address=fields.get(Field.ADDRESS),
            postcode=fields.get(Field.POSTCODE),
            city=fields.get(Field.CITY),
        )

    @property
    def has_person(self) -> bool:
        return bool(self.family) and self.given_names is not None and self.birth_date is not None

    @property
    def kinds(self) -> list[Kind]:
        kinds = [s.kind for s in self.single]
        if self.has_person:
            kinds.append(Kind.PERSON)
        if self.address is not None:
            kinds.append(Kind.POSTAL_ADDRESS)
        return list(dict.fromkeys(kinds))

    @property
    def is_empty(self) -> bool:
        return not self.kinds


@dataclass
class BatchOutcome:
    """What one batch yields: entries cut into staging segments, counts and rejects."""

    rows: int
    segments: list[tuple[int, bytes]]
    valid: Counter[str] = field(default_factory=Counter)
    invalid: Counter[str] = field(default_factory=Counter)
    fingerprints: Counter[str] = field(default_factory=Counter)
    #: Entries of the private check's index, per kind (see :mod:`verrou.lookup.index`).
    indexed: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)  # "kind: reason pattern" -> count
    rows_with_identifier: int = 0
    rejected_rows: int = 0
    rejects: list[Reject] = field(default_factory=list)


def _column(batch: pa.RecordBatch, name: str | None) -> pa.Array | None:
    if name is None:
        return None
    index = batch.schema.get_field_index(name)
    if index < 0:
        return pa.nulls(batch.num_rows, pa.string())
    return batch.column(index)


def fingerprint_batch(
    batch: pa.RecordBatch,
    plan: IngestPlan,
    fingerprinter: Fingerprinter,
    records: npt.NDArray[np.uint32],
    indexer: LookupIndexer | None = None,
) -> BatchOutcome:
    """Canonicalise and fingerprint every identifier of a batch, and with an ``indexer`` add
    the private check's index entries of the kinds it indexes.

    ``records`` holds the dump record number of each row of the batch (rows need not be
    consecutive records: unparseable records are left out); entries carry those numbers, and
    rejects name them as row numbers.
    """
    n = batch.num_rows
    assert len(records) == n
    has_identifier = np.zeros(n, dtype=bool)
    rejected = np.zeros(n, dtype=bool)
    parts: list[npt.NDArray[np.void]] = []
    outcome = BatchOutcome(rows=n, segments=[])

    def add_keys(kind: Kind, canonical: pa.Array) -> npt.NDArray[np.bool_] | None:
        if canonical.null_count == len(canonical):
            return None
        valid_mask: npt.NDArray[np.bool_] = pc.is_valid(canonical).to_numpy(zero_copy_only=False)
        has_identifier[valid_mask] = True
        values = canonical.drop_null().to_pylist()  # same rows as valid_mask, in order
        fps = fingerprinter.fingerprint_many(kind, values)
        parts.append(make_entries(fps, kind, records[valid_mask]))
        outcome.fingerprints[kind.value] += len(fps)
        if indexer is not None and indexer.indexes(kind):
            index_entries = indexer.entries(kind, values, records[valid_mask])
            parts.append(index_entries)
            outcome.indexed[kind.value] += len(index_entries)
        return valid_mask

    def add_errors(kind: Kind, column: str, errors: list[tuple[int, str]], raw: pa.Array) -> None:
        if not errors:
            return
        outcome.invalid[kind.value] += len(errors)
        for index, reason in errors:
            rejected[index] = True
            outcome.reasons[f"{kind.value}: {_DIGITS.sub('#', reason)}"] += 1
            value = raw[index].as_py()
            outcome.rejects.append(
                Reject(int(records[index]), column, kind.value, reason, mask_value(value))
            )

    for single in plan.single:
        raw = _column(batch, single.column)
        assert raw is not None
        result = canonicalise_column(single.kind, raw, namespace=single.namespace)
        outcome.valid[single.kind.value] += len(result.canonical) - result.canonical.null_count
        add_keys(single.kind, result.canonical)
        add_errors(single.kind, single.column, result.errors, raw)

    if plan.has_person:
        family = [_column(batch, c) for c in plan.family]
        given = _column(batch, plan.given_names)
        born = _column(batch, plan.birth_date)
        place = _column(batch, plan.birth_place)
        assert given is not None and born is not None
        person = person_key_columns([f for f in family if f is not None], given, born, place)
        # Key slots are mostly null (one per family field × family key × key name); a person is
        # valid in a row when any of its slots is set.
        person_rows = np.zeros(n, dtype=bool)
        for keys in person.keys:
            mask = add_keys(Kind.PERSON, keys)
            if mask is not None:
                person_rows |= mask
        outcome.valid[Kind.PERSON.value] += int(person_rows.sum())
        part_columns = {
            "family_name": plan.family[0],
            "given_names": plan.given_names,
            "birth_date": plan.birth_date,
            "birth_place": plan.birth_place or plan.birth_date,
        }
        for index, part, reason in person.errors:
            column = part_columns.get(part) or plan.family[0]
            raw_part = _column(batch, column)
            assert raw_part is not None
            add_errors(Kind.PERSON, column, [(index, reason)], raw_part)

    if plan.address is not None:
        line = _column(batch, plan.address)
        assert line is not None
        canonical, errors = address_column(
            line, _column(batch, plan.postcode), _column(batch, plan.city)
        )
        outcome.valid[Kind.POSTAL_ADDRESS.value] += len(canonical) - canonical.null_count
        add_keys(Kind.POSTAL_ADDRESS, canonical)
        add_errors(Kind.POSTAL_ADDRESS, plan.address, errors, line)

    if parts:
        entries = sort_entries(np.concatenate(parts))
        outcome.segments = split_by_prefix(entries, SEGMENT_BITS)
    outcome.rows_with_identifier = int(has_identifier.sum())
    outcome.rejected_rows = int(rejected.sum())
    return outcome


def merge_counts(total: dict[str, Any], outcome: BatchOutcome, malformed: int) -> dict[str, Any]:
    """Cumulative run counters after one more batch (JSON-ready, stored with the batch)."""

    def add(name: str, more: Counter[str]) -> dict[str, int]:
        merged = Counter(total.get(name, {}))
        merged.update(more)
        return dict(sorted(merged.items()))

    return {
        "rows_read": total.get("rows_read", 0) + outcome.rows + malformed,
        "rows_malformed": total.get("rows_malformed", 0) + malformed,
        "rows_with_identifier": total.get("rows_with_identifier", 0) + outcome.rows_with_identifier,
        "rows_rejected": total.get("rows_rejected", 0) + outcome.rejected_rows + malformed,
        "valid": add("valid", outcome.valid),
        "invalid": add("invalid", outcome.invalid),
        "fingerprints": add("fingerprints", outcome.fingerprints),
        "indexed": add("indexed", outcome.indexed),
        "reasons": add("reasons", outcome.reasons),
    }
