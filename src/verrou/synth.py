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

from __future__ import annotations

import json
import random
import unicodedata
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

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

# Defect names recorded in the ground truth.
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
class BrokenCell:
    """A cell deliberately made invalid. ``row`` is the 1-based data record number."""

    row: int
    column: str
    defect: str


@dataclass(frozen=True)
class MalformedRecord:
    """A CSV line with the wrong number of fields. ``row`` is the 1-based data record number."""

    row: int
    defect: str


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
            "broken_cells": [
                {"row": c.row, "column": c.column, "defect": c.defect} for c in self.broken_cells
            ],
            "malformed_rows": self.malformed_rows,
            "malformed": [{"row": m.row, "defect": m.defect} for m in self.malformed],
            "duplicates": [
                {"row": d.row, "of_row": d.of_row, "variant": d.variant} for d in self.duplicates
            ],
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


# --------------------------------------------------------------------------------------------
# Pools
# --------------------------------------------------------------------------------------------

_COMPOUND_MALE = (
    "Jean-François",
    "Jean-Pierre",
    "Jean-Marc",
    "Jean-Luc",
    "Jean-Claude",
    "Jean-Michel",
    "Jean-Baptiste",
    "Pierre-Yves",
    "Marc-Antoine",
    "Paul-Henri",
    "Jean-Noël",
    "Louis-Émile",
)
_COMPOUND_FEMALE = (
    "Marie-Claire",
    "Marie-Christine",
    "Anne-Sophie",
    "Marie-Laure",
    "Anne-Marie",
    "Marie-Hélène",
    "Marie-Noëlle",
    "Marie-Thérèse",
    "Marie-Ève",
    "Lætitia",
    "Cœlie",
    "Anne-Lætitia",
)
_LIGATURE_FAMILY = ("Cœur", "Lœuillet", "Le Bœuf", "Cœurdevey", "Œillet", "Sœur", "Lætitia-Roux")
_PARTICLE_FAMILY = ("de La Fontaine", "de Villiers", "du Pont", "de Gaulle", "d'Estaing", "d'Arc")

_STREET_NAMES = (
    "Victor Hugo",
    "Jean Jaurès",
    "de la République",
    "du Général de Gaulle",
    "Pasteur",
    "de la Gare",
    "des Lilas",
    "du Moulin",
    "de l'Église",
    "Émile Zola",
    "Jean Moulin",
    "Gambetta",
    "Voltaire",
    "de la Paix",
    "Nationale",
    "des Écoles",
    "du Château",
    "Anatole France",
    "Georges Clemenceau",
    "du Maréchal Foch",
    "de Verdun",
    "Saint-Exupéry",
    "des Tilleuls",
    "Pierre et Marie Curie",
    "Aristide Briand",
    "de la Libération",
    "du 8 Mai 1945",
    "Louis Pasteur",
    "de Bretagne",
    "des Acacias",
)
#: (full word, abbreviation or the full word again, weight)
_STREET_TYPES = (
    ("rue", "rue", 50),
    ("avenue", "av.", 14),
    ("boulevard", "bd", 8),
    ("place", "pl.", 5),
    ("allée", "all.", 5),
    ("chemin", "chem.", 6),
    ("impasse", "imp.", 5),
    ("route", "rte", 5),
    ("quai", "quai", 2),
)
#: Real communes (postcode, name), overseas included.
_COMMUNES = (
    ("75011", "Paris"),
    ("75015", "Paris"),
    ("75018", "Paris"),
    ("13008", "Marseille"),
    ("69003", "Lyon"),
    ("31000", "Toulouse"),
    ("06000", "Nice"),
    ("44000", "Nantes"),
    ("67000", "Strasbourg"),
    ("34000", "Montpellier"),
    ("33000", "Bordeaux"),
    ("59000", "Lille"),
    ("35000", "Rennes"),
    ("51100", "Reims"),
    ("42000", "Saint-Étienne"),
    ("83000", "Toulon"),
    ("38000", "Grenoble"),
    ("21000", "Dijon"),
    ("49000", "Angers"),
    ("30000", "Nîmes"),
    ("63000", "Clermont-Ferrand"),
    ("72000", "Le Mans"),
    ("29200", "Brest"),
    ("37000", "Tours"),
    ("80000", "Amiens"),
    ("87000", "Limoges"),
    ("74000", "Annecy"),
    ("66000", "Perpignan"),
    ("57000", "Metz"),
    ("25000", "Besançon"),
    ("45000", "Orléans"),
    ("76000", "Rouen"),
    ("14000", "Caen"),
    ("54000", "Nancy"),
    ("93200", "Saint-Denis"),
    ("92100", "Boulogne-Billancourt"),
    ("68100", "Mulhouse"),
    ("95100", "Argenteuil"),
    ("64000", "Pau"),
    ("17000", "La Rochelle"),
    ("20000", "Ajaccio"),
    ("20200", "Bastia"),
    ("97400", "Saint-Denis"),
    ("97410", "Saint-Pierre"),
    ("97110", "Pointe-à-Pitre"),
    ("97200", "Fort-de-France"),
    ("97300", "Cayenne"),
    ("97600", "Mamoudzou"),
    ("22000", "Saint-Brieuc"),
    ("56000", "Vannes"),
    ("85000", "La Roche-sur-Yon"),
    ("62100", "Calais"),
    ("71100", "Chalon-sur-Saône"),
    ("26000", "Valence"),
    ("84000", "Avignon"),
    ("11100", "Narbonne"),
    ("40100", "Dax"),
    ("02100", "Saint-Quentin"),
    ("08000", "Charleville-Mézières"),
    ("90000", "Belfort"),
    ("41000", "Blois"),
    ("12000", "Rodez"),
    ("24000", "Périgueux"),
    ("50100", "Cherbourg-en-Cotentin"),
    ("73000", "Chambéry"),
    ("88000", "Épinal"),
    ("28000", "Chartres"),
    ("60200", "Compiègne"),
    ("77100", "Meaux"),
    ("94000", "Créteil"),
)
_EMAIL_DOMAINS = (
    ("gmail.com", 30),
    ("orange.fr", 18),
    ("free.fr", 10),
    ("laposte.net", 7),
    ("sfr.fr", 7),
    ("hotmail.fr", 10),
    ("wanadoo.fr", 7),
    ("yahoo.fr", 8),
    ("outlook.fr", 3),
)
#: French banks (code banque) for IBANs.
_BANK_CODES = (
    30004,
    30003,
    30002,
    20041,
    10278,
    11306,
    16006,
    30066,
    10107,
    18206,
    13807,
    17515,
    30056,
    14505,
    12548,
)
#: Countries of birth (INSEE codes) for people born abroad (NIR department 99).
_BIRTH_COUNTRIES = (350, 352, 351, 139, 134, 127, 109, 212, 330, 341, 243, 135, 132)

#: Phone number ranges, as national significant numbers (no trunk 0) whose remaining digits up to
#: nine are free, per phonenumbers' metadata: (prefix, region, weight). Overseas numbers are written
#: in national format, so they must be parsed with their own region.
_PHONE_RANGES: tuple[tuple[str, str, float], ...] = (
    *((f"6{d}", "FR", 5.0) for d in "01245678"),
    *((f"7{d}", "FR", 2.8) for d in "3456789"),
    ("1", "FR", 9.0),
    *((f"2{d}", "FR", 1.0) for d in "01234578"),
    ("3", "FR", 8.0),
    *((f"4{d}", "FR", 0.9) for d in "123456789"),
    *((f"5{d}", "FR", 0.9) for d in "012345678"),
    *((f"262{d}", "RE", 0.1) for d in "23456789"),
    ("692", "RE", 1.2),
    ("5909", "GP", 0.4),
    ("690", "GP", 0.8),
    *((f"596{d}", "MQ", 0.1) for d in "034567"),
    ("696", "MQ", 0.4),
    ("697", "MQ", 0.4),
    *((f"594{d}", "GF", 0.08) for d in "02349"),
    *((f"694{d}", "GF", 0.1) for d in "01249"),
    ("2696", "YT", 0.2),
    *((f"639{d}", "YT", 0.1) for d in "267"),
)

_EMAIL_SEPARATORS = (".", "", "_")
#: Email local-part layouts: (first: 0 given / 1 initial / 2 family, separator index,
#: second: same codes, suffix: 0 none / 1 birth year yy / 2 random number / 3 ".yyyy", weight).
_EMAIL_LAYOUTS = (
    (0, 0, 2, 0, 35),  # jean.dupont
    (0, 0, 2, 1, 12),  # jean.dupont84
    (1, 1, 2, 0, 12),  # jdupont
    (0, 1, 2, 0, 8),  # jeandupont
    (2, 0, 0, 0, 5),  # dupont.jean
    (0, 0, 2, 2, 13),  # jean.dupont212
    (1, 0, 2, 2, 5),  # j.dupont7
    (0, 2, 2, 0, 5),  # jean_dupont
    (0, 0, 2, 3, 5),  # jean.dupont.1984
)

_ALNUM = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", dtype=np.uint8)
_LETTERS = _ALNUM[:26]


def fold_accents(text: str) -> str:
    """Drop diacritics and expand ligatures (Œ→OE, æ→ae): how a careless export respells names."""
    text = (
        text.replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae").replace("Æ", "AE")
    ).replace("ß", "ss")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _email_part(name: str) -> str:
    """Lower-case ASCII form of a name for an email local part (letters and hyphens only)."""
    folded = fold_accents(name).lower()
    return "".join(ch for ch in folded if ch.isascii() and (ch.isalnum() or ch == "-"))


@dataclass(frozen=True)
class _Pool:
    """Display strings with their email-ready folded form and initial."""

    display: pa.Array
    folded: pa.Array
    initial: pa.Array
    size: int

    @classmethod
    def of(cls, names: Sequence[str]) -> _Pool:
        folded = [_email_part(n) for n in names]
        return cls(
            display=pa.array(list(names), pa.string()),
            folded=pa.array(folded, pa.string()),
            initial=pa.array([f[0] for f in folded], pa.string()),
            size=len(names),
        )


@dataclass(frozen=True)
class _Pools:
    given: _Pool  # male names first, then female
    male_count: int
    female_count: int
    family: _Pool
    streets: pa.Array
    street_count: int
    postcodes: pa.Array
    cities: pa.Array
    domains: pa.Array
    domain_p: npt.NDArray[np.float64]


def _unique(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _build_pools(seed: int) -> _Pools:
    """Name, street and commune pools, built once per seed."""
    from faker import Faker
    from faker.providers.person.fr_FR import Provider as PersonProvider

    fake = Faker("fr_FR")
    fake.seed_instance(seed)
    pick = random.Random(seed)

    male = _unique(list(PersonProvider.first_names_male) * 3 + list(_COMPOUND_MALE) * 2)
    female = _unique(
        [n for n in PersonProvider.first_names_female if n not in {"Alex", "Nath", "Maggie"}]
    )
    # Weight compounds and ligatures up by repeating them (pools are sampled uniformly).
    male_pool = male + list(_COMPOUND_MALE) * 3
    female_pool = female + list(_COMPOUND_FEMALE) * 3

    base_family = _unique(PersonProvider.last_names)
    family = list(base_family) * 2
    family += list(_LIGATURE_FAMILY) * 2 + list(_PARTICLE_FAMILY) * 2
    family += [f"de {n}" for n in pick.sample(base_family, 40)]
    family += [f"d'{n}" for n in base_family if n[0] in "AEIOUÉ" and " " not in n][:15]
    family += [f"Le {n}" for n in pick.sample(base_family, 20) if " " not in n]
    family += [
        f"{a}-{b}"
        for a, b in zip(pick.sample(base_family, 60), pick.sample(base_family, 60), strict=True)
    ]
    family += [
        f"{a} {b}"
        for a, b in zip(pick.sample(base_family, 20), pick.sample(base_family, 20), strict=True)
    ]
    pick.shuffle(family)

    streets: list[str] = []
    names = list(_STREET_NAMES) + [f"de {fake.last_name()}" for _ in range(40)]
    names += [fake.name() for _ in range(30)]
    type_weights = [w for _, _, w in _STREET_TYPES]
    for _ in range(3000):
        full, abbr, _w = pick.choices(_STREET_TYPES, weights=type_weights)[0]
        word = abbr if pick.random() < 0.25 else full
        streets.append(f"{word} {pick.choice(names)}")

    domain_w = np.array([w for _, w in _EMAIL_DOMAINS], dtype=np.float64)
    return _Pools(
        given=_Pool.of(male_pool + female_pool),
        male_count=len(male_pool),
        female_count=len(female_pool),
        family=_Pool.of(family),
        streets=pa.array(streets, pa.string()),
        street_count=len(streets),
        postcodes=pa.array([p for p, _ in _COMMUNES], pa.string()),
        cities=pa.array([c for _, c in _COMMUNES], pa.string()),
        domains=pa.array([d for d, _ in _EMAIL_DOMAINS], pa.string()),
        domain_p=domain_w / domain_w.sum(),
    )


# --------------------------------------------------------------------------------------------
# Vectorised string building
# --------------------------------------------------------------------------------------------


# Zero-padded digits of 0..9999 as ASCII, looked up instead of divided per cell.
_DIGITS4 = np.array([list(f"{i:04d}".encode("ascii")) for i in range(10_000)], dtype=np.uint8)


def _digits(values: npt.NDArray[np.integer[Any]], width: int) -> ByteMatrix:
    """Zero-padded decimal digits of ``values`` as an (n, width) ASCII matrix."""
    v = values.astype(np.int64)
    blocks: list[ByteMatrix] = []
    remaining = width
    while remaining > 0:
        take = min(4, remaining)
        blocks.append(_DIGITS4[v % 10_000][:, 4 - take :])
        v = v // 10_000
        remaining -= take
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks[::-1], axis=1)


def _lit(n: int, text: str) -> ByteMatrix:
    return np.broadcast_to(np.frombuffer(text.encode("ascii"), dtype=np.uint8), (n, len(text)))


def _strings(*parts: ByteMatrix) -> pa.Array:
    """Concatenate fixed-width ASCII matrices column-wise into a pyarrow string array."""
    mat = np.ascontiguousarray(np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0])
    n, width = mat.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(mat))


def _take(pool: pa.Array, idx: npt.NDArray[np.integer[Any]]) -> pa.Array:
    return pool.take(pa.array(idx))


def _join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation; a null part makes the result null."""
    return pc.binary_join_element_wise(*parts, "")


def _pick(which: npt.NDArray[np.integer[Any]], *options: pa.Array) -> pa.Array:
    """Element ``i`` of ``options[which[i]]`` (pyarrow's ``choose`` is several times slower)."""
    n = len(which)
    flat = pa.concat_arrays([pa.array(o) if not isinstance(o, pa.Array) else o for o in options])
    return flat.take(pa.array(which.astype(np.int64) * n + np.arange(n, dtype=np.int64)))


def _mask_nulls(values: pa.Array, present: BoolArray) -> pa.Array:
    """Keep values where ``present``, null elsewhere."""
    return pc.if_else(pa.array(present), values, pa.scalar(None, pa.string()))


def _weighted(rng: _Draws, n: int, weights: Sequence[float]) -> IntArray:
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(p), size=n, p=p / p.sum())


# --------------------------------------------------------------------------------------------
# Check digits (construction side)
# --------------------------------------------------------------------------------------------


def _rib_table() -> npt.NDArray[np.int64]:
    table = np.zeros(256, dtype=np.int64)
    for d in range(10):
        table[48 + d] = d
    for i, letter in enumerate(range(65, 91)):
        # A..I → 1..9, J..R → 1..9, S..Z → 2..9
        table[letter] = i + 1 if i < 9 else (i - 8 if i < 18 else i - 16)
    return table


_RIB_VALUES = _rib_table()
# ISO 7064 mod 97-10 reading: a digit shifts by 10, a letter (A=10 ... Z=35) by 100.
_ISO_MULT = np.where(np.arange(256) >= 65, 100, 10).astype(np.int64)
_ISO_VALUE = np.where(np.arange(256) >= 65, np.arange(256) - 55, np.arange(256) - 48).astype(
    np.int64
)


def _rib_digit_values(chars: ByteMatrix) -> IntArray:
    """RIB transliteration of an ASCII matrix: digits as is, A/J→1, B/K/S→2, ... I/R/Z→9."""
    return _RIB_VALUES[chars]


def _iban_check_digits(bban: str) -> int:
    """ISO 13616 check digits of a French BBAN."""
    numeric = "".join(str(int(ch, 36)) for ch in bban + "FR00")
    return 98 - int(numeric) % 97


def _matrix_to_int(mat: npt.NDArray[Any]) -> IntArray:
    """Digit matrix (values 0-9 per cell) → integers; rows must fit in int64."""
    out = np.zeros(mat.shape[0], dtype=np.int64)
    for col in range(mat.shape[1]):
        out = out * 10 + mat[:, col].astype(np.int64)
    return out


def _iso_mod97(chars: ByteMatrix) -> IntArray:
    """Remainder mod 97 of an alphanumeric matrix read the ISO 7064 way (A=10 ... Z=35)."""
    rem = np.zeros(chars.shape[0], dtype=np.int64)
    for col in range(chars.shape[1]):
        c = chars[:, col]
        rem = (rem * _ISO_MULT[c] + _ISO_VALUE[c]) % 97
    return rem


# --------------------------------------------------------------------------------------------
# Chunk generation
# --------------------------------------------------------------------------------------------


@dataclass
class _Chunk:
    """One generated chunk: columns (null = blank) and construction facts, local 0-based rows."""

    columns: dict[str, pa.Array]
    ids: IntArray
    broken: list[tuple[int, str, str]]
    malformed: list[tuple[int, str]]
    duplicates: list[tuple[int, int, str]]


class _Draws:
    """Random draws for one chunk, where some rows repeat the draws of an earlier row.

    ``source[j]`` is the row whose draws row ``j`` takes (itself for most rows): this is how a
    duplicated person gets the same names, dates, phone and documents, at the cost of indexing
    small numeric arrays instead of copying string columns.
    """

    def __init__(self, rng: np.random.Generator, source: IntArray) -> None:
        self.rng = rng
        self.source = source

    def _map(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return values[self.source]

    def random(self, n: int) -> npt.NDArray[np.float64]:
        return self._map(self.rng.random(n))

    def integers(
        self, low: int, high: int, size: int | tuple[int, int], dtype: type = np.int64
    ) -> npt.NDArray[Any]:
        return self._map(self.rng.integers(low, high, size=size, dtype=dtype))

    def choice(self, k: int, size: int, p: npt.NDArray[np.float64]) -> IntArray:
        return self._map(self.rng.choice(k, size=size, p=p).astype(np.int64))

    def geometric(self, p: float, size: int) -> IntArray:
        return self._map(self.rng.geometric(p, size).astype(np.int64))


def _birth_years(rng: _Draws, n: int) -> IntArray:
    years = np.arange(1930, 2009)
    # Adults holding an ANTS account: thin before the post-war boom, flat afterwards.
    w = np.where(years < 1946, 0.15 + 0.75 * (years - 1930) / 16, 1.0)
    w = np.where(years > 2003, 0.6, w)
    return years[_weighted(rng, n, list(w))].astype(np.int64)


def _dates(rng: _Draws, n: int) -> tuple[IntArray, IntArray, IntArray]:
    years = _birth_years(rng, n)
    start = (years - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    end = (years - 1969).astype("datetime64[Y]").astype("datetime64[D]")
    length = (end - start).astype(np.int64)
    day = start + (rng.random(n) * length).astype(np.int64).astype("timedelta64[D]")
    month_start = day.astype("datetime64[M]")
    months = month_start.astype(np.int64) % 12 + 1
    days = (day - month_start.astype("datetime64[D]")).astype(np.int64) + 1
    return years, months.astype(np.int64), days


def _departments() -> tuple[ByteMatrix, IntArray]:
    """Metropolitan departments as (n, 2) chars and their NIR numeric value (2A→19, 2B→18)."""
    codes = [f"{d:02d}" for d in range(1, 96) if d != 20] + ["2A", "2B"]
    mat = np.frombuffer("".join(codes).encode("ascii"), dtype=np.uint8).reshape(-1, 2)
    values = np.array([int(c.replace("2A", "19").replace("2B", "18")) for c in codes])
    return mat.copy(), values.astype(np.int64)


_DEPT_CHARS, _DEPT_VALUES = _departments()


def _generate_chunk(
    spec: SynthSpec, pools: _Pools, generator: np.random.Generator, n: int, first_id: int
) -> _Chunk:
    plan = _plan_specials(spec, generator, n)
    person_source = np.arange(n, dtype=np.int64)
    account_source = np.arange(n, dtype=np.int64)
    for j, i, variant in plan.duplicates:
        person_source[j] = i
        if variant == "exact":
            account_source[j] = i
    rng = _Draws(generator, person_source)  # everything about the person
    account = _Draws(generator, account_source)  # the account: id and login
    cols: dict[str, pa.Array] = {}

    female = rng.random(n) < 0.52
    cols["civilite"] = pc.if_else(pa.array(female), "Mme", "M.")

    # Given names: 1-3, the first drives the email.
    def given_idx() -> IntArray:
        m = rng.integers(0, pools.male_count, n)
        f = pools.male_count + rng.integers(0, pools.female_count, n)
        return np.where(female, f, m)

    g1, g2, g3 = given_idx(), given_idx(), given_idx()
    count = _weighted(rng, n, [0.35, 0.42, 0.23]) + 1
    second = _mask_nulls(_take(pools.given.display, g2), count >= 2)
    third = _mask_nulls(_take(pools.given.display, g3), count >= 3)
    first = _take(pools.given.display, g1)
    cols["prenoms"] = pc.binary_join_element_wise(first, second, third, ", ", null_handling="skip")

    # Family name; married people (mostly women) carry a spouse's name, the birth name beside it.
    birth_f = rng.integers(0, pools.family.size, n)
    spouse_f = (birth_f + 1 + rng.integers(0, pools.family.size - 1, n)) % pools.family.size
    married = np.where(
        female,
        rng.random(n) < MARRIED_SHARE * 0.9 / 0.52,
        rng.random(n) < MARRIED_SHARE * 0.1 / 0.48,
    )
    nom_f = np.where(married, spouse_f, birth_f)
    nom = _take(pools.family.display, nom_f)
    birth_name = _take(pools.family.display, birth_f)
    # The pool holds distinct strings, but make sure a "married" name differs from the birth name.
    married &= np.asarray(pc.not_equal(nom, birth_name))
    cols["nom"] = pc.if_else(pa.array(married), nom, birth_name)
    cols["nom_naissance"] = _mask_nulls(birth_name, married)

    years, months, days = _dates(rng, n)
    cols["date_naissance"] = _strings(
        _digits(days, 2), _lit(n, "/"), _digits(months, 2), _lit(n, "/"), _digits(years, 4)
    )

    # Email from the names, accents stripped.
    fg = _take(pools.given.folded, g1)
    fi = _take(pools.given.initial, g1)
    ff = _take(pools.family.folded, nom_f)
    yy = _strings(_digits(years % 100, 2))
    yyyy = _strings(_digits(years, 4))
    rnd = pc.cast(pa.array(rng.integers(1, 1000, n)), pa.string())
    # Local part = first + separator + second + suffix, per a layout drawn for each row.
    layout = _weighted(rng, n, [w for *_, w in _EMAIL_LAYOUTS])
    table = np.array([spec_[:4] for spec_ in _EMAIL_LAYOUTS], dtype=np.int64)
    parts_by_name = {"given": fg, "initial": fi, "family": ff}
    names = ("given", "initial", "family")
    first_part = _pick(table[layout, 0], *(parts_by_name[k] for k in names))
    second_part = _pick(table[layout, 2], *(parts_by_name[k] for k in names))
    separator = _take(pa.array(_EMAIL_SEPARATORS), table[layout, 1])
    suffix = _pick(
        table[layout, 3],
        pa.nulls(n, pa.string()),
        yy,
        rnd,
        _join(".", yyyy),
    )
    local = pc.binary_join_element_wise(
        first_part, separator, second_part, suffix, "", null_handling="replace"
    )
    domain = _take(pools.domains, rng.choice(len(pools.domain_p), size=n, p=pools.domain_p))
    cols["email"] = _join(local, "@", domain)

    ids = first_id + np.cumsum(generator.integers(1, 40, n)).astype(np.int64)
    login_digits = pc.cast(pa.array(account.integers(1, 10_000, n)), pa.string())
    cols["login"] = pc.if_else(
        pa.array(account.random(n) < 0.45), cols["email"], _join(fi, ff, login_digits)
    )

    phone, national = _phones(rng, n)
    cols["telephone"] = _mask_nulls(phone, rng.random(n) < PHONE_SHARE)
    cols["_phone_national"] = national

    has_address = rng.random(n) < ADDRESS_SHARE
    number = np.minimum(rng.geometric(0.04, n), 250)
    number_s = pc.cast(pa.array(number), pa.string())
    number_s = _pick(
        _weighted(rng, n, [95, 4, 1]), number_s, _join(number_s, " bis"), _join(number_s, " ter")
    )
    sep = pc.if_else(pa.array(rng.random(n) < 0.1), ", ", " ")
    street = _take(pools.streets, rng.integers(0, pools.street_count, n))
    cols["adresse"] = _mask_nulls(_join(number_s, sep, street), has_address)
    commune = rng.integers(0, len(pools.postcodes), n)
    cols["code_postal"] = _mask_nulls(_take(pools.postcodes, commune), has_address)
    cols["ville"] = _mask_nulls(_take(pools.cities, commune), has_address)

    if spec.with_documents:
        cols.update(_documents(rng, n, female, years, months))

    chunk = _Chunk(columns=cols, ids=ids, broken=[], malformed=plan.malformed, duplicates=[])
    _apply_duplicates(chunk, plan.duplicates)
    _apply_broken(chunk, generator, plan.broken, years)
    del cols["_phone_national"]
    cols["id_compte"] = pc.cast(pa.array(chunk.ids), pa.string())
    return chunk


def _phones(rng: _Draws, n: int) -> tuple[pa.Array, pa.Array]:
    """Valid French numbers in varied layouts, and their 10-digit national form."""
    ranges = _PHONE_RANGES
    which = _weighted(rng, n, [w for _, _, w in ranges])
    prefix_mat = np.zeros((len(ranges), 9), dtype=np.uint8)
    prefix_len = np.zeros(len(ranges), dtype=np.int64)
    for i, (prefix, _region, _w) in enumerate(ranges):
        prefix_mat[i, : len(prefix)] = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
        prefix_len[i] = len(prefix)
    fixed = np.arange(9)[None, :] < prefix_len[which][:, None]
    free = rng.integers(48, 58, size=(n, 9), dtype=np.uint8)
    nsn = np.where(fixed, prefix_mat[which], free).astype(np.uint8)
    d = np.concatenate([_lit(n, "0"), nsn], axis=1)
    sp, dot = _lit(n, " "), _lit(n, ".")

    def pairs(sep: ByteMatrix) -> pa.Array:
        parts: list[ByteMatrix] = []
        for k in range(5):
            if k:
                parts.append(sep)
            parts.append(d[:, 2 * k : 2 * k + 2])
        return _strings(*parts)

    compact = _strings(d)
    intl_spaced = _strings(
        _lit(n, "+33 "),
        d[:, 1:2],
        *(x for k in range(4) for x in (sp, d[:, 2 + 2 * k : 4 + 2 * k])),
    )
    intl_compact = _strings(_lit(n, "+33"), d[:, 1:])
    overseas = np.array([r != "FR" for _, r, _ in ranges])[which]
    style = _weighted(rng, n, [35, 15, 15, 30, 5])
    # Overseas numbers stay in national format (+33 would make them wrong).
    style = np.where(overseas & (style >= 2), np.where(style == 2, 0, 3), style)
    style = np.where(overseas & (style == 4), 3, style)
    phone = _pick(style, pairs(sp), pairs(dot), intl_spaced, compact, intl_compact)
    return phone, compact


def _documents(
    rng: _Draws, n: int, female: BoolArray, years: IntArray, months: IntArray
) -> dict[str, pa.Array]:
    cols: dict[str, pa.Array] = {}
    dept_i = rng.integers(0, len(_DEPT_VALUES), n)

    # CNI: old 12-char (YYMM + office + serial, issued 1995..Aug 2021) or new 9-alnum CNIe.
    lo = np.maximum(1995, years)
    issue = lo + (rng.random(n) * (2021 - lo + 1)).astype(np.int64)
    old_ok = lo <= 2020
    issue_m = np.where(issue == 2021, rng.integers(1, 8, n), rng.integers(1, 13, n))
    office_char = _ALNUM[rng.integers(0, 36, n)][:, None]
    old_cni = _strings(
        _digits(issue % 100, 2),
        _digits(issue_m, 2),
        _DEPT_CHARS[dept_i],
        office_char,
        _digits(rng.integers(0, 100_000, n), 5),
    )
    new_cni = _strings(_ALNUM[rng.integers(0, 36, (n, 9))])
    cols["numero_cni"] = pc.if_else(pa.array(old_ok & (rng.random(n) < 0.6)), old_cni, new_cni)

    def yy_letters_serial(first: int, last: int) -> pa.Array:
        return _strings(
            _digits(rng.integers(first, last + 1, n), 2),
            _LETTERS[rng.integers(0, 26, (n, 2))],
            _digits(rng.integers(0, 100_000, n), 5),
        )

    cols["passeport"] = yy_letters_serial(6, 25)

    # Driving licence: EU card (same shape as a passport) or old paper YYMM + dept + 6 digits.
    lic_lo = np.maximum(1975, years + 18)
    lic_y = lic_lo + (rng.random(n) * np.maximum(2012 - lic_lo + 1, 1)).astype(np.int64)
    old_licence = _strings(
        _digits(lic_y % 100, 2),
        _digits(rng.integers(1, 13, n), 2),
        _DEPT_CHARS[rng.integers(0, len(_DEPT_VALUES), n)],
        _digits(rng.integers(0, 1_000_000, n), 6),
    )
    use_old = (lic_lo <= 2012) & (rng.random(n) < 0.5)
    cols["permis"] = pc.if_else(pa.array(use_old), old_licence, yy_letters_serial(13, 25))

    cols["nir"] = _nirs(rng, n, female, years, months, dept_i)
    cols["iban"] = _ibans(rng, n)

    for name, share in DOCUMENT_SHARES.items():
        cols[name] = _mask_nulls(cols[name], rng.random(n) < share)
    return cols


def _nirs(
    rng: _Draws,
    n: int,
    female: BoolArray,
    years: IntArray,
    months: IntArray,
    dept_i: IntArray,
) -> pa.Array:
    """Valid NIRs consistent with sex, birth year and month."""
    sex = np.where(female, 2, 1).astype(np.int64)
    place = _weighted(rng, n, [85, 3, 12])  # metropolitan, overseas, abroad
    dept_chars = _DEPT_CHARS[dept_i].copy()
    dept_val = _DEPT_VALUES[dept_i].copy()
    corsica = dept_chars[:, 1] >= 65  # 2A / 2B
    # Corsica was department 20 for people born before 1976.
    old_corsica = corsica & (years < 1976)
    dept_chars[old_corsica] = np.frombuffer(b"20", dtype=np.uint8)
    dept_val[old_corsica] = 20
    commune = rng.integers(1, 900, n)
    overseas_digit = rng.integers(1, 7, n)  # 971..976
    dept_val = np.where(place == 1, 97, np.where(place == 2, 99, dept_val))
    dept_chars = np.where(
        (place == 0)[:, None],
        dept_chars,
        np.where((place == 1)[:, None], _lit(n, "97"), _lit(n, "99")),
    ).astype(np.uint8)
    commune = np.where(
        place == 1,
        overseas_digit * 100 + rng.integers(1, 60, n),
        np.where(
            place == 2,
            np.asarray(_BIRTH_COUNTRIES)[rng.integers(0, len(_BIRTH_COUNTRIES), n)],
            commune,
        ),
    )
    order = rng.integers(1, 1000, n)
    number = (
        sex * 10**12
        + (years % 100) * 10**10
        + months * 10**8
        + dept_val * 10**6
        + commune * 10**3
        + order
    )
    key = 97 - number % 97
    parts = (
        _digits(sex, 1),
        _digits(years % 100, 2),
        _digits(months, 2),
        dept_chars,
        _digits(commune, 3),
        _digits(order, 3),
        _digits(key, 2),
    )
    compact = _strings(*parts)
    sp = _lit(n, " ")
    spaced = _strings(*(x for i, p in enumerate(parts) for x in ((sp, p) if i else (p,))))
    return pc.if_else(pa.array(rng.random(n) < 0.75), compact, spaced)


def _ibans(rng: _Draws, n: int) -> pa.Array:
    """FR IBANs with a correct RIB key and correct ISO 13616 check digits."""
    bank = np.asarray(_BANK_CODES, dtype=np.int64)[rng.integers(0, len(_BANK_CODES), n)]
    branch = rng.integers(0, 100_000, n)
    account = rng.integers(48, 58, size=(n, 11), dtype=np.uint8)
    # Some account numbers carry a letter (as La Banque Postale's do).
    with_letter = rng.random(n) < 0.1
    letter_pos = rng.integers(0, 11, n)
    letters = _LETTERS[rng.integers(0, 26, n)]
    rows = np.nonzero(with_letter)[0]
    account[rows, letter_pos[rows]] = letters[rows]
    acc = _matrix_to_int(_rib_digit_values(account))
    key = 97 - ((89 * bank + 15 * branch + 3 * acc) % 97)
    bban = np.concatenate([_digits(bank, 5), _digits(branch, 5), account, _digits(key, 2)], axis=1)
    check = 98 - _iso_mod97(np.concatenate([bban, _lit(n, "FR00")], axis=1))
    full = np.concatenate([_lit(n, "FR"), _digits(check, 2), bban], axis=1)
    compact = _strings(full)
    sp = _lit(n, " ")
    grouped = _strings(
        *(x for k in range(7) for x in ((sp,) if k else ()) + (full[:, 4 * k : 4 * k + 4],))
    )
    return pc.if_else(pa.array(rng.random(n) < 0.5), compact, grouped)


# --------------------------------------------------------------------------------------------
# Broken cells, malformed records and duplicated people
# --------------------------------------------------------------------------------------------


def _set_cells(arr: pa.Array, updates: dict[int, str]) -> pa.Array:
    """``arr`` with the cells of ``updates`` replaced (concat + take: faster than a mask)."""
    if not updates:
        return arr
    rows = np.fromiter(updates, dtype=np.int64, count=len(updates))
    idx = np.arange(len(arr), dtype=np.int64)
    idx[rows] = len(arr) + np.arange(len(rows), dtype=np.int64)
    extra = pa.array(list(updates.values()), pa.string())
    return pa.concat_arrays([arr, extra]).take(pa.array(idx))


@dataclass
class _SpecialRows:
    """Rows of a chunk chosen to be broken, malformed or duplicated (disjoint sets)."""

    broken: list[int]
    malformed: list[tuple[int, str]]
    duplicates: list[tuple[int, int, str]]  # (row, source row, intended variant)


def _plan_specials(spec: SynthSpec, rng: np.random.Generator, n: int) -> _SpecialRows:
    """Choose the broken, malformed and duplicated rows of a chunk; sources are clean rows."""
    n_broken = round(n * spec.broken_share)
    n_dup = round(n * DUPLICATE_SHARE) if n >= 2 else 0
    perm = rng.permutation(n)
    broken = sorted(int(i) for i in perm[:n_broken])
    dups = sorted(int(i) for i in perm[n_broken : n_broken + n_dup] if i > 0)
    n_malformed = 0
    if spec.fmt == "csv" and broken:
        n_malformed = max(1, round(len(broken) * 0.05))
    malformed_set = {int(i) for i in rng.permutation(np.asarray(broken))[:n_malformed]}
    malformed = [
        (i, MALFORMED_EXTRA_FIELD if rng.random() < 0.5 else MALFORMED_MISSING_FIELD)
        for i in broken
        if i in malformed_set
    ]
    special = np.zeros(n, dtype=bool)
    special[broken + dups] = True
    clean = np.nonzero(~special)[0]
    duplicates: list[tuple[int, int, str]] = []
    for j in dups:
        pos = int(np.searchsorted(clean, j))
        if pos == 0:
            continue
        source = int(clean[int(rng.integers(0, pos))])
        variant = "exact"
        if rng.random() >= 0.3:
            variant = DUPLICATE_VARIANTS[int(rng.integers(1, len(DUPLICATE_VARIANTS)))]
        duplicates.append((j, source, variant))
    return _SpecialRows(
        broken=[i for i in broken if i not in malformed_set],
        malformed=malformed,
        duplicates=duplicates,
    )


def _apply_duplicates(chunk: _Chunk, plan: list[tuple[int, int, str]]) -> None:
    """Respell the names of duplicated rows (their draws already repeat their source row).

    A variant that changes nothing (no accent to remove, no hyphen) falls back to ``exact``, and
    the row then repeats its source's account id and login too.
    """
    if not plan:
        return
    cols = chunk.columns
    name_cols = ("nom", "nom_naissance", "prenoms")
    rows = pa.array([j for j, _, _ in plan])
    originals = {c: cols[c].take(rows).to_pylist() for c in name_cols}
    name_updates: dict[str, dict[int, str]] = {c: {} for c in name_cols}
    fallback: list[tuple[int, int]] = []
    for k, (j, i, variant) in enumerate(plan):
        if variant != "exact":
            values = {c: originals[c][k] for c in name_cols}
            respelled = _respell(values, variant)
            if respelled == values:
                variant = "exact"
                fallback.append((j, i))
            for c, v in respelled.items():
                if v is not None and v != values[c]:
                    name_updates[c][j] = v
        chunk.duplicates.append((j, i, variant))
    for c, updates in name_updates.items():
        cols[c] = _set_cells(cols[c], updates)
    for j, i, variant in chunk.duplicates:
        if variant == "exact":
            chunk.ids[j] = chunk.ids[i]
    if fallback:
        logins = cols["login"].take(pa.array([i for _, i in fallback])).to_pylist()
        cols["login"] = _set_cells(
            cols["login"], {j: v for (j, _), v in zip(fallback, logins, strict=True)}
        )


def _apply_broken(
    chunk: _Chunk, rng: np.random.Generator, rows: list[int], years: IntArray
) -> None:
    """Break one cell in each of ``rows``, choosing among the defects its present cells allow."""
    if not rows:
        return
    cols = chunk.columns
    picked = pa.array(rows)
    optional = [
        (c, d)
        for c, d in (
            ("telephone", PHONE_TOO_SHORT),
            ("nir", NIR_WRONG_KEY),
            ("iban", IBAN_WRONG_RIB_KEY),
        )
        if c in cols
    ]
    present = {c: cols[c].take(picked).is_valid().to_pylist() for c, _ in optional}
    plan: list[tuple[int, str, str]] = []
    for k, i in enumerate(rows):
        options = [
            ("email", EMAIL_NO_AT),
            ("email", EMAIL_DOUBLE_DOT),
            ("date_naissance", DATE_IMPOSSIBLE),
        ]
        options += [(c, d) for c, d in optional if present[c][k]]
        column, defect = options[int(rng.integers(0, len(options)))]
        plan.append((i, column, defect))
    by_column: dict[str, list[tuple[int, str]]] = {}
    for i, column, defect in plan:
        source = "_phone_national" if defect == PHONE_TOO_SHORT else column
        by_column.setdefault(source, []).append((i, defect))
    for source, items in by_column.items():
        values = cols[source].take(pa.array([i for i, _ in items])).to_pylist()
        target = "telephone" if source == "_phone_national" else source
        updates = {
            i: _break(v, d, rng, int(years[i])) for (i, d), v in zip(items, values, strict=True)
        }
        cols[target] = _set_cells(cols[target], updates)
    chunk.broken.extend(plan)


def _respell(values: dict[str, str | None], variant: str) -> dict[str, str | None]:
    def apply(text: str | None, field: str) -> str | None:
        if text is None:
            return None
        if variant == "upper_case":
            return text.upper() if field != "prenoms" else text
        if variant == "lower_case":
            return text.lower()
        if variant == "accents_removed":
            return fold_accents(text)
        if variant == "hyphen_as_space":
            return text.replace("-", " ")
        return text

    return {c: apply(v, c) for c, v in values.items()}


_IMPOSSIBLE_DAYS = ("31/02", "30/02", "31/04", "31/06", "31/09", "31/11")


def _break(value: str, defect: str, rng: np.random.Generator, year: int) -> str:
    """An invalid variant of ``value`` for ``defect``; never accidentally valid."""
    if defect == EMAIL_NO_AT:
        return value.replace("@", "", 1)
    if defect == EMAIL_DOUBLE_DOT:
        local, _, domain = value.partition("@")
        if "." in local:
            local = local.replace(".", "..", 1)
        else:
            cut = int(rng.integers(1, len(local))) if len(local) > 1 else 1
            local = f"{local[:cut]}..{local[cut:]}"
        return f"{local}@{domain}"
    if defect == DATE_IMPOSSIBLE:
        options = list(_IMPOSSIBLE_DAYS)
        if not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
            options.append("29/02")
        return f"{options[int(rng.integers(0, len(options)))]}/{year:04d}"
    if defect == PHONE_TOO_SHORT:
        digits = value[: 10 - int(rng.integers(1, 3))]
        if rng.random() < 0.5:
            return digits
        return " ".join(digits[k : k + 2] for k in range(0, len(digits), 2))
    if defect == NIR_WRONG_KEY:
        key = int(value[-2:])
        wrong = (key - 1 + int(rng.integers(1, 97))) % 97 + 1
        return f"{value[:-2]}{wrong:02d}"
    if defect == IBAN_WRONG_RIB_KEY:
        grouped = " " in value
        compact = value.replace(" ", "")
        bban = compact[4:]
        key = int(bban[-2:])
        wrong = (key - 1 + int(rng.integers(1, 97))) % 97 + 1
        bban = f"{bban[:-2]}{wrong:02d}"
        # Keep the ISO check digits right, so only the RIB key gives the defect away.
        iban = f"FR{_iban_check_digits(bban):02d}{bban}"
        if grouped:
            return " ".join(iban[k : k + 4] for k in range(0, len(iban), 4))
        return iban
    raise ValueError(f"unknown defect {defect!r}")


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------


def _lines_bytes(lines: pa.Array) -> bytes:
    """The concatenated UTF-8 bytes of a non-null string array."""
    lines = pa.concat_arrays([lines]) if lines.offset else lines
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    start, end = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    data = lines.buffers()[2]
    return data.slice(start, end - start).to_pybytes() if data is not None else b""


def _csv_lines(spec: SynthSpec, chunk: _Chunk) -> pa.Array:
    cols = [chunk.columns[c] for c in spec.columns]
    lines = pc.binary_join_element_wise(*cols, ";", null_handling="replace", null_replacement="")
    if chunk.malformed:
        nom_at = spec.columns.index("nom")
        updates: dict[int, str] = {}
        for i, defect in chunk.malformed:
            parts = [c[i].as_py() or "" for c in cols]
            if defect == MALFORMED_EXTRA_FIELD:
                # A family name exported with an unquoted separator in it.
                parts[nom_at] = (
                    parts[nom_at].replace("-", ";", 1)
                    if "-" in parts[nom_at]
                    else (parts[nom_at] + "; ")
                )
            else:
                parts = parts[:-1]
            updates[i] = ";".join(parts)
        lines = _set_cells(lines, updates)
    return _join(lines, "\n")


def _json_value(arr: pa.Array) -> pa.Array:
    escaped = pc.replace_substring(pc.replace_substring(arr, "\\", "\\\\"), '"', '\\"')
    return pc.fill_null(_join('"', escaped, '"'), "null")


def _jsonl_lines(spec: SynthSpec, chunk: _Chunk) -> pa.Array:
    c = chunk.columns
    parts: list[pa.Array | str] = ['{"id_compte":', pc.cast(pa.array(chunk.ids), pa.string())]
    for name in spec.columns:
        if name == "id_compte":
            continue
        if name == "email":
            parts += [',"contact":{"email":', _json_value(c["email"])]
        elif name == "telephone":
            parts += [',"telephone":', _json_value(c["telephone"]), "}"]
        else:
            parts += [f',"{name}":', _json_value(c[name])]
    parts.append("}\n")
    return _join(*parts)


def _sql_value(arr: pa.Array) -> pa.Array:
    escaped = pc.replace_substring(pc.replace_substring(arr, "\\", "\\\\"), "'", "\\'")
    return pc.fill_null(_join("'", escaped, "'"), "NULL")


def _sql_rows(spec: SynthSpec, chunk: _Chunk, first_row: int, total: int) -> pa.Array:
    n = len(chunk.ids)
    values: list[pa.Array | str] = [pc.cast(pa.array(chunk.ids), pa.string())]
    for name in spec.columns[1:]:
        values += [",", _sql_value(chunk.columns[name])]
    pos = first_row + np.arange(n)
    opens = pos % SQL_ROWS_PER_INSERT == 0
    closes = (pos % SQL_ROWS_PER_INSERT == SQL_ROWS_PER_INSERT - 1) | (pos == total - 1)
    head = pc.if_else(pa.array(opens), f"INSERT INTO `{SQL_TABLE}` VALUES (", "(")
    tail = pc.if_else(pa.array(closes), ");\n", "),")
    return _join(head, *values, tail)


def _sql_header(spec: SynthSpec) -> str:
    defs = ["  `id_compte` bigint NOT NULL"]
    defs += [f"  `{c}` varchar(255) DEFAULT NULL" for c in spec.columns[1:]]
    body = ",\n".join(defs)
    return (
        "-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)\n"
        "--\n-- Host: localhost    Database: ants_comptes\n"
        "-- ------------------------------------------------------\n"
        "/*!40101 SET NAMES utf8mb4 */;\n\n"
        f"DROP TABLE IF EXISTS `{SQL_TABLE}`;\n"
        f"CREATE TABLE `{SQL_TABLE}` (\n{body}\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n\n"
        f"LOCK TABLES `{SQL_TABLE}` WRITE;\n"
    )


def _parquet_table(spec: SynthSpec, chunk: _Chunk) -> pa.Table:
    arrays = [pa.array(chunk.ids, pa.int64())] + [chunk.columns[c] for c in spec.columns[1:]]
    return pa.Table.from_arrays(arrays, schema=_parquet_schema(spec))


def _parquet_schema(spec: SynthSpec) -> pa.Schema:
    return pa.schema(
        [pa.field("id_compte", pa.int64(), nullable=False)]
        + [pa.field(c, pa.string()) for c in spec.columns[1:]]
    )


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


@dataclass
class _Rendered:
    """A chunk ready to write: its payload and the facts the ground truth needs."""

    rows: int
    payload: bytes | pa.Table
    non_blank: dict[str, int]
    broken: list[tuple[int, str, str]]
    malformed: list[tuple[int, str]]
    duplicates: list[tuple[int, int, str]]


def _render_chunk(spec: SynthSpec, pools: _Pools, chunk_no: int, first_row: int) -> _Rendered:
    """Generate and serialise one chunk. Depends only on (spec, chunk_no): safe to run ahead."""
    n = min(CHUNK_ROWS, spec.rows - first_row)
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, chunk_no]))
    chunk = _generate_chunk(spec, pools, rng, n, _FIRST_ACCOUNT_ID + chunk_no * _ACCOUNT_ID_SPAN)
    payload: bytes | pa.Table
    if spec.fmt == "csv":
        payload = _lines_bytes(_csv_lines(spec, chunk))
        if spec.encoding != "utf-8":
            payload = payload.decode("utf-8").encode(spec.encoding)
    elif spec.fmt == "jsonl":
        payload = _lines_bytes(_jsonl_lines(spec, chunk))
    elif spec.fmt == "sql":
        payload = _lines_bytes(_sql_rows(spec, chunk, first_row, spec.rows))
    else:
        payload = _parquet_table(spec, chunk)
    return _Rendered(
        rows=n,
        payload=payload,
        non_blank=_non_blank(spec, chunk),
        broken=chunk.broken,
        malformed=chunk.malformed,
        duplicates=chunk.duplicates,
    )


#: Account ids of chunk k start at ``_FIRST_ACCOUNT_ID + k * _ACCOUNT_ID_SPAN`` (gaps are < 40),
#: so chunks never depend on each other and can be generated concurrently.
_FIRST_ACCOUNT_ID = 10_000_000
_ACCOUNT_ID_SPAN = CHUNK_ROWS * 40
#: Chunks generated ahead of the writer (bounds memory; pyarrow and numpy release the GIL).
_WORKERS = 2
_IN_FLIGHT = 3


def write_dump(
    spec: SynthSpec, out: Path, on_progress: ProgressCallback | None = None
) -> GroundTruth:
    """Write a synthetic dump to ``out`` and its ground truth to ``<out>.truth.json``.

    The same spec (seed included) always gives byte-identical files. Memory stays bounded: rows
    are generated :data:`CHUNK_ROWS` at a time, two chunks in parallel, and written in order.
    ``on_progress`` receives the number of rows written so far after each chunk.
    """
    pools = _build_pools(spec.seed)
    columns = spec.columns
    non_blank = dict.fromkeys(columns, 0)
    invalid = dict.fromkeys(columns, 0)
    truth = GroundTruth(spec=spec, rows=spec.rows, columns={})

    parquet_writer: pq.ParquetWriter | None = None
    with open(out, "wb") as fh, ThreadPoolExecutor(max_workers=_WORKERS) as executor:
        if spec.fmt == "csv":
            fh.write((";".join(columns) + "\n").encode(spec.encoding))
        elif spec.fmt == "sql":
            fh.write(_sql_header(spec).encode("utf-8"))
        elif spec.fmt == "parquet":
            parquet_writer = pq.ParquetWriter(fh, _parquet_schema(spec), compression="snappy")

        starts = iter(enumerate(range(0, spec.rows, CHUNK_ROWS)))
        pending: deque[tuple[int, Future[_Rendered]]] = deque()
        written = 0
        while True:
            while len(pending) < _IN_FLIGHT:
                nxt = next(starts, None)
                if nxt is None:
                    break
                chunk_no, first_row = nxt
                pending.append(
                    (first_row, executor.submit(_render_chunk, spec, pools, chunk_no, first_row))
                )
            if not pending:
                break
            first_row, future = pending.popleft()
            rendered = future.result()
            if isinstance(rendered.payload, pa.Table):
                assert parquet_writer is not None
                parquet_writer.write_table(rendered.payload)
            else:
                fh.write(rendered.payload)
            _tally(rendered, first_row, non_blank, invalid, truth)
            written += rendered.rows
            if on_progress is not None:
                on_progress(written)

        if parquet_writer is not None:
            parquet_writer.close()
        elif spec.fmt == "sql":
            fh.write(b"UNLOCK TABLES;\n")

    for name in columns:
        kind, fld = COLUMN_KINDS[name]
        truth.columns[name] = ColumnTruth(
            kind=kind.value,
            field=fld,
            non_blank=non_blank[name],
            valid=non_blank[name] - invalid[name],
            invalid=invalid[name],
        )
    truth.rows_with_valid_identifier = truth.well_formed_rows
    truth_path(out).write_text(
        json.dumps(truth.to_json(), ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return truth


def _non_blank(spec: SynthSpec, chunk: _Chunk) -> dict[str, int]:
    """Non-blank cells per column over the chunk's well-formed records."""
    kept = np.ones(len(chunk.ids), dtype=bool)
    for i, _ in chunk.malformed:
        kept[i] = False
    kept_arr = pa.array(kept)
    counts: dict[str, int] = {}
    for name in spec.columns:
        arr = chunk.columns[name]
        present = pc.and_(pc.is_valid(arr), pc.not_equal(pc.fill_null(arr, ""), ""))
        counts[name] = int(pc.sum(pc.and_(present, kept_arr)).as_py() or 0)
    return counts


def _tally(
    rendered: _Rendered,
    offset: int,
    non_blank: dict[str, int],
    invalid: dict[str, int],
    truth: GroundTruth,
) -> None:
    for name, count in rendered.non_blank.items():
        non_blank[name] += count
    for i, column, defect in rendered.broken:
        invalid[column] += 1
        truth.broken_cells.append(BrokenCell(row=offset + i + 1, column=column, defect=defect))
    truth.malformed.extend(
        MalformedRecord(row=offset + i + 1, defect=d) for i, d in rendered.malformed
    )
    truth.duplicates.extend(
        DuplicateRow(row=offset + j + 1, of_row=offset + i + 1, variant=v)
        for j, i, v in rendered.duplicates
    )


__all__ = [
    "BASE_COLUMNS",
    "COLUMN_KINDS",
    "DOCUMENT_COLUMNS",
    "BrokenCell",
    "ColumnTruth",
    "DuplicateRow",
    "GroundTruth",
    "MalformedRecord",
    "SynthSpec",
    "fold_accents",
    "truth_path",
    "write_dump",
]
