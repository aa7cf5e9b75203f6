"""Map a dump's columns to identity fields: by header name, by sampled values, or from a file.

Header rules
    A header is folded (accents dropped, lower case, any run of non-alphanumerics → ``_``) and, for
    a nested JSON path such as ``contact.email``, only its last segment is used. The folded name is
    looked up in :data:`HEADER_ALIASES` (French and English). ``id``/``uid`` alone means
    ``account_id`` only if no other column is an account id or login.

Family names
    A plain ``nom`` is the family name. If the dump also has a birth-name column
    (``nom_naissance``...), ``nom`` is taken as the usage name and the other as the birth name:
    French forms ask for "nom de naissance" and "nom d'usage" separately, and a plain "nom" beside
    a birth name is the one in use.

Value rules
    A column whose header says nothing is sampled: if at least 80 % of its non-blank values
    validate with one canonicaliser (email, phone, NIR, IBAN, birth date), it maps to that field.
    A field already claimed by a header is not claimed again by values.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Final, Literal

import pyarrow as pa

from verrou.errors import MappingError, VerrouError
from verrou.identifiers.contact import canonical_email, canonical_phone
from verrou.identifiers.documents import canonical_iban, canonical_nir
from verrou.identifiers.names import canonical_birth_date

__all__ = [
    "HEADER_ALIASES",
    "ColumnDecision",
    "ColumnMapping",
    "Field",
    "detect_mapping",
    "fold_header",
    "load_mapping",
    "save_mapping",
]


class Field(StrEnum):
    """Identity fields a dump column can hold."""

    FAMILY_NAME = "family_name"
    BIRTH_NAME = "birth_name"
    USAGE_NAME = "usage_name"
    GIVEN_NAMES = "given_names"
    BIRTH_DATE = "birth_date"
    BIRTH_PLACE = "birth_place"
    CIVILITY = "civility"
    EMAIL = "email"
    PHONE = "phone"
    LOGIN = "login"
    ACCOUNT_ID = "account_id"
    ADDRESS = "address"
    POSTCODE = "postcode"
    CITY = "city"
    CNI = "cni"
    PASSPORT = "passport"
    DRIVING_LICENCE = "driving_licence"
    RESIDENCE_PERMIT = "residence_permit"
    NIR = "nir"
    IBAN = "iban"


@dataclass
class ColumnMapping:
    """Which dump column holds each field; ``ignored`` lists the columns left out."""

    fields: dict[Field, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


By = Literal["header", "values", "file", "none"]


@dataclass
class ColumnDecision:
    """Why a column got its field (or none); ``hit_rate`` is set for value-based detection."""

    column: str
    field: Field | None
    by: By
    hit_rate: float | None


def _aliases() -> dict[str, Field]:
    table: dict[Field, tuple[str, ...]] = {
        Field.FAMILY_NAME: (
            "nom", "nom_famille", "nom_de_famille", "family_name", "last_name", "lastname",
            "surname", "name_last", "patronyme",
        ),
        Field.BIRTH_NAME: (
            "nom_naissance", "nom_de_naissance", "birth_name", "nom_jeune_fille", "maiden_name",
        ),
        Field.USAGE_NAME: ("nom_usage", "nom_d_usage", "nom_marital", "usage_name", "married_name"),
        Field.GIVEN_NAMES: (
            "prenom", "prenoms", "first_name", "firstname", "given_name", "given_names",
            "givenname", "forename", "forenames",
        ),
        Field.BIRTH_DATE: (
            "date_naissance", "date_de_naissance", "ddn", "birth_date", "birthdate", "dob",
            "date_of_birth", "naissance", "ne_le",
        ),
        Field.BIRTH_PLACE: (
            "lieu_naissance", "lieu_de_naissance", "commune_naissance", "commune_de_naissance",
            "birth_place", "birthplace", "place_of_birth", "ville_naissance",
        ),
        Field.CIVILITY: ("civilite", "sexe", "title", "civility", "gender", "genre", "sex"),
        Field.EMAIL: (
            "mail", "email", "e_mail", "courriel", "adresse_mail", "adresse_email",
            "email_address", "mail_address", "adresse_electronique",
        ),
        Field.PHONE: (
            "tel", "telephone", "portable", "mobile", "phone", "phone_number", "num_tel",
            "numero_telephone", "numero_de_telephone", "tel_portable", "tel_mobile", "gsm",
            "cellphone", "msisdn",
        ),
        Field.ADDRESS: (
            "adresse", "address", "rue", "voie", "adresse_postale", "street", "address_line",
            "adresse_1", "address1", "ligne_adresse",
        ),
        Field.POSTCODE: (
            "cp", "code_postal", "postcode", "postal_code", "zip", "zipcode", "zip_code",
        ),
        Field.CITY: ("ville", "commune", "city", "town", "localite"),
        Field.CNI: (
            "numero_cni", "num_cni", "cni", "carte_identite", "carte_d_identite", "no_cni",
            "id_card", "id_card_number", "numero_carte_identite",
        ),
        Field.PASSPORT: (
            "passeport", "passport", "num_passeport", "numero_passeport", "passport_number",
        ),
        Field.DRIVING_LICENCE: (
            "permis", "permis_conduire", "permis_de_conduire", "numero_permis", "num_permis",
            "driving_licence", "driving_license", "driver_license", "licence_number",
        ),
        Field.RESIDENCE_PERMIT: (
            "titre_sejour", "titre_de_sejour", "residence_permit", "num_titre_sejour",
        ),
        Field.NIR: (
            "nir", "num_secu", "numero_secu", "numero_securite_sociale", "num_securite_sociale",
            "ssn", "insee", "numero_insee", "secu",
        ),
        Field.IBAN: ("iban", "rib", "bban", "compte_bancaire"),
        Field.LOGIN: (
            "login", "identifiant", "username", "user_name", "pseudo", "nom_utilisateur",
            "user_login",
        ),
        Field.ACCOUNT_ID: (
            "id_compte", "account_id", "user_id", "userid", "compte_id", "id_utilisateur",
            "numero_compte", "account_number", "id_usager",
        ),
    }  # fmt: skip
    return {alias: field_ for field_, names in table.items() for alias in names}


#: Folded header name → field.
HEADER_ALIASES: Final[dict[str, Field]] = _aliases()
#: Bare ids: an account id only when nothing better names the account.
_WEAK_ACCOUNT_IDS: Final = frozenset({"id", "uid", "pk", "_id"})
_HIT_THRESHOLD: Final = 0.8
_SAMPLE_VALUES: Final = 500
_MIN_VALUES: Final = 5


def fold_header(name: str) -> str:
    """``"Prénom(s)"`` → ``"prenom_s"``; ``"E-Mail"`` → ``"e_mail"``; last JSON path segment."""
    segment = name.rsplit(".", 1)[-1]
    decomposed = unicodedata.normalize("NFKD", segment.replace("œ", "oe").replace("Œ", "OE"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "_", plain).strip("_")


def _header_field(name: str) -> Field | None:
    folded = fold_header(name)
    hit = HEADER_ALIASES.get(folded)
    if hit is None and folded.endswith("_s"):
        hit = HEADER_ALIASES.get(folded[:-2])  # "prénom(s)"
    return hit


#: Canonicalisers used to recognise values, in the order they are tried.
_VALUE_CHECKERS: Final[tuple[tuple[Field, Callable[[str], object]], ...]] = (
    (Field.EMAIL, canonical_email),
    (Field.NIR, canonical_nir),
    (Field.IBAN, canonical_iban),
    (Field.BIRTH_DATE, canonical_birth_date),
    (Field.PHONE, canonical_phone),
)


def _hit_rate(values: list[str], check: Callable[[str], object]) -> float:
    hits = 0
    for value in values:
        try:
            check(value)
        except (VerrouError, ValueError, TypeError):
            continue
        hits += 1
    return hits / len(values) if values else 0.0


def _sample_values(sample: pa.RecordBatch, column: str) -> list[str]:
    index = sample.schema.get_field_index(column)
    if index < 0:
        return []
    values = []
    for value in sample.column(index).to_pylist():
        if value is not None and str(value).strip():
            values.append(str(value))
            if len(values) >= _SAMPLE_VALUES:
                break
    return values


def detect_mapping(
    columns: list[str], sample: pa.RecordBatch
) -> tuple[ColumnMapping, list[ColumnDecision]]:
    """Guess the mapping from header names, then from sampled values for the silent columns.

    Returns the mapping and one decision per column, in column order. See the module docstring.
    """
    by_header: dict[str, Field] = {}
    claimed: dict[Field, str] = {}
    for column in columns:
        field_ = _header_field(column)
        if field_ is not None and field_ not in claimed:
            by_header[column] = field_
            claimed[field_] = column
    # nom beside nom_naissance: the plain nom is the usage name.
    if (
        Field.FAMILY_NAME in claimed
        and Field.BIRTH_NAME in claimed
        and fold_header(claimed[Field.FAMILY_NAME]) == "nom"
    ):
        column = claimed.pop(Field.FAMILY_NAME)
        if Field.USAGE_NAME not in claimed:
            by_header[column] = Field.USAGE_NAME
            claimed[Field.USAGE_NAME] = column
        else:
            del by_header[column]

    decisions: dict[str, ColumnDecision] = {}
    for column, field_ in by_header.items():
        decisions[column] = ColumnDecision(column, field_, "header", None)

    weak: list[str] = []
    for column in columns:
        if column in decisions:
            continue
        if fold_header(column) in _WEAK_ACCOUNT_IDS:
            weak.append(column)
        values = _sample_values(sample, column)
        best: tuple[float, Field] | None = None
        if len(values) >= _MIN_VALUES:
            for field_, check in _VALUE_CHECKERS:
                if field_ in claimed:
                    continue
                rate = _hit_rate(values, check)
                if rate >= _HIT_THRESHOLD and (best is None or rate > best[0]):
                    best = (rate, field_)
        if best is not None:
            claimed[best[1]] = column
            decisions[column] = ColumnDecision(column, best[1], "values", round(best[0], 4))
            if column in weak:
                weak.remove(column)
        else:
            decisions[column] = ColumnDecision(column, None, "none", None)

    if weak and Field.ACCOUNT_ID not in claimed and Field.LOGIN not in claimed:
        column = weak[0]
        claimed[Field.ACCOUNT_ID] = column
        decisions[column] = ColumnDecision(column, Field.ACCOUNT_ID, "header", None)

    mapping = ColumnMapping(
        fields={f: c for f, c in sorted(claimed.items(), key=lambda fc: columns.index(fc[1]))},
        ignored=[c for c in columns if decisions[c].field is None],
    )
    return mapping, [decisions[c] for c in columns]


def load_mapping(path: Path, columns: list[str]) -> ColumnMapping:
    """Read a mapping file written by :func:`save_mapping` (or by hand) and check it.

    Raises :class:`MappingError` naming the unknown field or the column the dump does not have.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise MappingError(f"{Path(path).name}: cannot read the mapping file") from error
    except tomllib.TOMLDecodeError as error:
        raise MappingError(f"{Path(path).name}: not valid TOML ({error})") from error
    fields_table = data.get("fields", {})
    if not isinstance(fields_table, dict):
        raise MappingError(f"{Path(path).name}: [fields] must be a table of field = column")
    known = {f.value for f in Field}
    fields: dict[Field, str] = {}
    for key, column in fields_table.items():
        if key not in known:
            raise MappingError(
                f"{Path(path).name}: unknown field {key!r} (known: {', '.join(sorted(known))})"
            )
        if not isinstance(column, str):
            raise MappingError(f"{Path(path).name}: field {key!r} must name a column as text")
        if column not in columns:
            raise MappingError(
                f"{Path(path).name}: field {key!r} names column {column!r}, "
                "which the dump does not have"
            )
        fields[Field(key)] = column
    used = set(fields.values())
    return ColumnMapping(fields=fields, ignored=[c for c in columns if c not in used])


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04x}", escaped)
    return f'"{escaped}"'


def save_mapping(mapping: ColumnMapping, path: Path) -> None:
    """Write ``mapping`` as TOML a person can read and edit (field = "dump column")."""
    lines = [
        "# verrou column mapping: which dump column holds each identity field.",
        "# Edit the column names on the right; delete a line to leave a field out.",
        f"# Known fields: {', '.join(f.value for f in Field)}",
        "",
        "[fields]",
    ]
    for field_ in Field:
        if field_ in mapping.fields:
            lines.append(f"{field_.value} = {_toml_string(mapping.fields[field_])}")
    if mapping.ignored:
        lines.append("")
        lines.append("# Columns of the dump left out:")
        lines.extend(f"#   {_toml_string(column)}" for column in mapping.ignored)
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
