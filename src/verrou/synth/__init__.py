"""Synthetic leaked dumps shaped like the April 2026 France Titres (ANTS) breach.

Used by ``verrou demo``, the tests and the benchmarks. Pools of French names, streets and communes
are built once per seed (Faker ``fr_FR`` plus hand-written lists for what Faker lacks: compound
given names, particles, Œ/Æ, real communes); rows are assembled in chunks with numpy and pyarrow
compute kernels, so a 5M-row dump is written with bounded memory.

Every file comes with its ground truth (``<out>.truth.json``), computed from construction: which
cells were deliberately broken and how, which records are malformed, which rows repeat a person.
Values generated as valid are valid per the documented formats (NIR key, RIB key and ISO 13616
check digits, phone ranges accepted by phonenumbers, ``\\d{2}[A-Z]{2}\\d{5}`` passports, ...).
"""

from verrou.synth.dump import write_dump
from verrou.synth.pools import fold_accents
from verrou.synth.spec import (
    ADDRESS_SHARE,
    BASE_COLUMNS,
    CHUNK_ROWS,
    COLUMN_KINDS,
    DOCUMENT_COLUMNS,
    DOCUMENT_SHARES,
    DUPLICATE_SHARE,
    DUPLICATE_VARIANTS,
    MARRIED_SHARE,
    PHONE_SHARE,
    SQL_ROWS_PER_INSERT,
    SQL_TABLE,
    BoolArray,
    BrokenCell,
    ByteMatrix,
    ColumnTruth,
    Defect,
    DuplicateRow,
    Encoding,
    Format,
    GroundTruth,
    IntArray,
    MalformedRecord,
    ProgressCallback,
    SynthSpec,
    truth_path,
)

__all__ = [
    "ADDRESS_SHARE",
    "BASE_COLUMNS",
    "CHUNK_ROWS",
    "COLUMN_KINDS",
    "DOCUMENT_COLUMNS",
    "DOCUMENT_SHARES",
    "DUPLICATE_SHARE",
    "DUPLICATE_VARIANTS",
    "MARRIED_SHARE",
    "PHONE_SHARE",
    "SQL_ROWS_PER_INSERT",
    "SQL_TABLE",
    "BoolArray",
    "BrokenCell",
    "ByteMatrix",
    "ColumnTruth",
    "Defect",
    "DuplicateRow",
    "Encoding",
    "Format",
    "GroundTruth",
    "IntArray",
    "MalformedRecord",
    "ProgressCallback",
    "SynthSpec",
    "fold_accents",
    "truth_path",
    "write_dump",
]
