"""The spec of a synthetic dump (size, format, encoding, seed, defects) and its ground truth."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from verrou.identifiers.kinds import Kind

Format = Literal["csv", "jsonl", "parquet", "sql"]
Encoding = Literal["utf-8", "cp1252"]
ProgressCallback = Callable[[int], None]

IntArray = npt.NDArray[np.int64]
ByteMatrix = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]

#: Rows generated per chunk. A multiple of :data:`SQL_ROWS_PER_INSERT` so INSERTs never straddle.
CHUNK_ROWS = 100_000
#: Rows per multi-row INSERT statement in SQL dumps.
SQL_ROWS_PER_INSERT = 1_000
#: Table name in SQL dumps.
SQL_TABLE = "comptes"
#: Share of rows that repeat an earlier row's person (possibly respelled).
DUPLICATE_SHARE = 0.01

BASE_COLUMNS: tuple[str, ...] = (
    "id_compte",
    "login",
    "civilite",
    "nom",
    "nom_naissance",
    "prenoms",
    "date_naissance",
    "email",
    "telephone",
    "adresse",
    "code_postal",
    "ville",
)
DOCUMENT_COLUMNS: tuple[str, ...] = ("numero_cni", "passeport", "permis", "nir", "iban")

#: Column → (identifier kind, field within the kind).
COLUMN_KINDS: dict[str, tuple[Kind, str]] = {
    "id_compte": (Kind.ACCOUNT_ID, "account_id"),
    "login": (Kind.ACCOUNT_ID, "login"),
    "civilite": (Kind.PERSON, "civility"),
    "nom": (Kind.PERSON, "family_name"),
    "nom_naissance": (Kind.PERSON, "birth_name"),
    "prenoms": (Kind.PERSON, "given_names"),
    "date_naissance": (Kind.PERSON, "birth_date"),
    "email": (Kind.EMAIL, "email"),
    "telephone": (Kind.PHONE, "phone"),
    "adresse": (Kind.POSTAL_ADDRESS, "line"),
    "code_postal": (Kind.POSTAL_ADDRESS, "postcode"),
    "ville": (Kind.POSTAL_ADDRESS, "city"),
    "numero_cni": (Kind.CNI, "cni"),
    "passeport": (Kind.PASSPORT, "passport"),
    "permis": (Kind.DRIVING_LICENCE, "driving_licence"),
    "nir": (Kind.NIR, "nir"),
    "iban": (Kind.IBAN, "iban"),
}

#: Share of rows carrying each optional value.
PHONE_SHARE = 0.60
ADDRESS_SHARE = 0.40
MARRIED_SHARE = 0.15
DOCUMENT_SHARES: dict[str, float] = {
    "numero_cni": 0.55,
    "passeport": 0.30,
    "permis": 0.45,
    "nir": 0.60,
    "iban": 0.35,
}


class Defect(StrEnum):
    """The defects a dump is made with, by the names its ground truth records: a broken cell's
    (email, birth date, phone, NIR, IBAN) or a malformed CSV record's (a field too many or too
    few). One closed set, so what breaks a cell and what the truth says of it name the same."""

    EMAIL_NO_AT = "email_no_at"
    EMAIL_DOUBLE_DOT = "email_double_dot"
    DATE_IMPOSSIBLE = "date_impossible"
    PHONE_TOO_SHORT = "phone_too_short"
    NIR_WRONG_KEY = "nir_wrong_key"
    IBAN_WRONG_RIB_KEY = "iban_wrong_rib_key"
    MALFORMED_EXTRA_FIELD = "extra_field"
    MALFORMED_MISSING_FIELD = "missing_field"


DUPLICATE_VARIANTS: tuple[str, ...] = (
    "exact",
    "upper_case",
    "lower_case",
    "accents_removed",
    "hyphen_as_space",
)


@dataclass(frozen=True)
class SynthSpec:
    """What to generate: row count, file format and the knobs of the dump."""

    rows: int
    fmt: Format
    with_documents: bool = False
    seed: int = 2026
    broken_share: float = 0.02
    encoding: Encoding = "utf-8"

    def __post_init__(self) -> None:
        if self.rows < 0:
            raise ValueError("rows must be >= 0")
        if self.fmt not in ("csv", "jsonl", "parquet", "sql"):
            raise ValueError(f"unknown format {self.fmt!r}")
        if not 0.0 <= self.broken_share <= 0.5:
            raise ValueError("broken_share must be within [0, 0.5]")
        if self.encoding not in ("utf-8", "cp1252"):
            raise ValueError(f"unknown encoding {self.encoding!r}")
        if self.encoding != "utf-8" and self.fmt != "csv":
            raise ValueError("only CSV dumps can be written in cp1252")

    @property
    def columns(self) -> tuple[str, ...]:
        """Flat column names of the dump, in file order."""
        return BASE_COLUMNS + (DOCUMENT_COLUMNS if self.with_documents else ())


@dataclass(frozen=True)
class ColumnTruth:
    """Expected counts for one column, over well-formed records."""

    kind: str
    field: str
    non_blank: int
    valid: int
    invalid: int


@dataclass(frozen=True)
class RowDefect:
    """A defect written on purpose into data record ``row`` (1-based), described by ``defect``."""

    row: int
    defect: str


@dataclass(frozen=True)
class MalformedRecord(RowDefect):
    """A CSV line with the wrong number of fields."""


@dataclass(frozen=True)
class BrokenCell(RowDefect):
    """A cell of an otherwise well-formed record deliberately made invalid, in ``column``."""

    column: str


@dataclass(frozen=True)
class DuplicateRow:
    """Record ``row`` repeats the person of the earlier record ``of_row``, spelled per ``variant``.

    ``exact`` repeats the whole record (same account id and login); the other variants are a second
    account of the same person (new account id and login, same email, phone, birth date and
    documents) with the names respelled.
    """

    row: int
    of_row: int
    variant: str


@dataclass
class GroundTruth:
    """What a dump contains, by construction.

    ``rows`` counts data records written (malformed ones included). Column counts, broken cells
    and ``rows_with_valid_identifier`` cover well-formed records only (readers drop malformed ones).
    A row has a valid identifier when at least one of its cells maps to an identifier kind (account
    id, person, email, phone, address, documents) and is valid; every well-formed record has a valid
    account id, so ``rows_without_valid_identifier`` lists malformed records only.
    """

    spec: SynthSpec
    rows: int
    columns: dict[str, ColumnTruth]
    broken_cells: list[BrokenCell] = field(default_factory=list)
    malformed: list[MalformedRecord] = field(default_factory=list)
    duplicates: list[DuplicateRow] = field(default_factory=list)
    rows_with_valid_identifier: int = 0

    @property
    def malformed_rows(self) -> list[int]:
        """1-based record numbers of the malformed records."""
        return [m.row for m in self.malformed]

    @property
    def well_formed_rows(self) -> int:
        """Records a reader that drops malformed lines will see."""
        return self.rows - len(self.malformed)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form of the ground truth."""
        return {
            "spec": asdict(self.spec),
            "rows": self.rows,
            "well_formed_rows": self.well_formed_rows,
            "columns": {name: asdict(col) for name, col in self.columns.items()},
            "broken_cells": [asdict(c) for c in self.broken_cells],
            "malformed_rows": self.malformed_rows,
            "malformed": [asdict(m) for m in self.malformed],
            "duplicates": [asdict(d) for d in self.duplicates],
            "rows_with_valid_identifier": self.rows_with_valid_identifier,
            "rows_without_valid_identifier": self.malformed_rows,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GroundTruth:
        """Rebuild a ground truth from :meth:`to_json` output."""
        return cls(
            spec=SynthSpec(**data["spec"]),
            rows=data["rows"],
            columns={name: ColumnTruth(**col) for name, col in data["columns"].items()},
            broken_cells=[BrokenCell(**c) for c in data["broken_cells"]],
            malformed=[MalformedRecord(**m) for m in data["malformed"]],
            duplicates=[DuplicateRow(**d) for d in data["duplicates"]],
            rows_with_valid_identifier=data["rows_with_valid_identifier"],
        )

    @classmethod
    def load(cls, path: Path) -> GroundTruth:
        """Read a ``.truth.json`` file."""
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


def truth_path(out: Path) -> Path:
    """Where :func:`write_dump` puts the ground truth of ``out``."""
    return out.with_name(out.name + ".truth.json")
