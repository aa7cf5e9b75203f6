"""Column mapping: header aliases, value-based detection, mapping files."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from verrou.errors import MappingError
from verrou.ingest.mapping import (
    ColumnMapping,
    Field,
    detect_mapping,
    fold_header,
    load_mapping,
    save_mapping,
)


def batch(columns: dict[str, list[str | None]]) -> pa.RecordBatch:
    return pa.record_batch(
        [pa.array(v, pa.string()) for v in columns.values()], names=list(columns)
    )


def empty(columns: list[str]) -> pa.RecordBatch:
    return batch({c: [] for c in columns})


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Prénom(s)", Field.GIVEN_NAMES),
        ("PRENOMS", Field.GIVEN_NAMES),
        ("first-name", Field.GIVEN_NAMES),
        ("Date de naissance", Field.BIRTH_DATE),
        ("DDN", Field.BIRTH_DATE),
        ("E-Mail", Field.EMAIL),
        ("courriel", Field.EMAIL),
        ("Téléphone", Field.PHONE),
        ("code_postal", Field.POSTCODE),
        ("Civilité", Field.CIVILITY),
        ("numero_securite_sociale", Field.NIR),
        ("num_passeport", Field.PASSPORT),
        ("permis de conduire", Field.DRIVING_LICENCE),
        ("titre_sejour", Field.RESIDENCE_PERMIT),
        ("RIB", Field.IBAN),
        ("user_name", Field.LOGIN),
        ("id_compte", Field.ACCOUNT_ID),
        ("contact.email", Field.EMAIL),
        ("identite.nom_usage", Field.USAGE_NAME),
        ("lieu_naissance", Field.BIRTH_PLACE),
        ("ville", Field.CITY),
        ("rue", Field.ADDRESS),
    ],
)
def test_header_aliases(header: str, field: Field) -> None:
    mapping, decisions = detect_mapping([header], empty([header]))
    assert mapping.fields == {field: header}
    assert decisions[0].by == "header"


def test_fold_header() -> None:
    assert fold_header("Nom  de   Naissance") == "nom_de_naissance"
    assert fold_header("a.b.Œuvre") == "oeuvre"


def test_plain_nom_beside_birth_name_is_the_usage_name() -> None:
    columns = ["nom", "nom_naissance", "prenom"]
    mapping, _ = detect_mapping(columns, empty(columns))
    assert mapping.fields == {
        Field.USAGE_NAME: "nom",
        Field.BIRTH_NAME: "nom_naissance",
        Field.GIVEN_NAMES: "prenom",
    }
    alone, _ = detect_mapping(["nom"], empty(["nom"]))
    assert alone.fields == {Field.FAMILY_NAME: "nom"}


def test_bare_id_is_an_account_id_only_if_nothing_better() -> None:
    mapping, _ = detect_mapping(["id", "email"], empty(["id", "email"]))
    assert mapping.fields[Field.ACCOUNT_ID] == "id"
    columns = ["id", "account_id"]
    mapping, decisions = detect_mapping(columns, empty(columns))
    assert mapping.fields == {Field.ACCOUNT_ID: "account_id"}
    assert decisions[0].field is None and mapping.ignored == ["id"]


def test_unknown_headers_are_ignored_not_guessed() -> None:
    columns = ["col1", "statut", "name"]
    mapping, decisions = detect_mapping(columns, empty(columns))
    assert mapping.fields == {}
    assert mapping.ignored == columns
    assert [d.by for d in decisions] == ["none", "none", "none"]


def _canonicaliser_ready(module: str, name: str, probe: str) -> bool:
    import importlib

    function = getattr(importlib.import_module(module), name, None)
    if function is None:
        return False
    try:
        function(probe)
    except NotImplementedError:
        return False
    return True


def test_value_detection_never_crashes_on_stub_canonicalisers() -> None:
    columns = ["col1", "col2"]
    sample = batch({"col1": ["x"] * 20, "col2": [None] * 20})
    mapping, decisions = detect_mapping(columns, sample)
    assert mapping.fields == {}
    assert all(d.field is None for d in decisions)


@pytest.mark.skipif(
    not _canonicaliser_ready("verrou.identifiers", "canonical_email", "zoe@example.fr"),
    reason="canonical_email is not written yet",
)
def test_emails_are_recognised_by_value_with_their_hit_rate() -> None:
    emails: list[str | None] = [f"person{i}@example.fr" for i in range(18)]
    values = [*emails, "pas un mail", None, "  "]
    columns = ["col7", "nom"]
    sample = batch({"col7": values, "nom": ["DUPONT"] * len(values)})
    mapping, decisions = detect_mapping(columns, sample)
    assert mapping.fields[Field.EMAIL] == "col7"
    assert decisions[0].by == "values"
    assert decisions[0].hit_rate == pytest.approx(18 / 19, abs=1e-3)


@pytest.mark.skipif(
    not _canonicaliser_ready("verrou.identifiers.names", "canonical_birth_date", "1980-01-02"),
    reason="canonical_birth_date is not written yet",
)
def test_birth_dates_are_recognised_by_value() -> None:
    dates: list[str | None] = [f"19{50 + i}-0{1 + i % 9}-1{i % 9}" for i in range(20)]
    mapping, decisions = detect_mapping(["c"], batch({"c": dates}))
    assert mapping.fields == {Field.BIRTH_DATE: "c"}
    assert decisions[0].hit_rate == 1.0


def test_low_hit_rate_is_not_enough() -> None:
    values: list[str | None] = ["a@example.fr", "b@example.fr"] + ["texte libre"] * 8
    mapping, _ = detect_mapping(["c"], batch({"c": values}))
    assert Field.EMAIL not in mapping.fields


def test_mapping_file_round_trip(tmp_path: Path) -> None:
    mapping = ColumnMapping(
        fields={Field.EMAIL: "contact.email", Field.FAMILY_NAME: 'nom "usuel"'},
        ignored=["col9"],
    )
    path = tmp_path / "mapping.toml"
    save_mapping(mapping, path)
    text = path.read_text()
    assert text.startswith("# verrou column mapping")
    assert 'email = "contact.email"' in text
    loaded = load_mapping(path, ["contact.email", 'nom "usuel"', "col9"])
    assert loaded.fields == mapping.fields
    assert loaded.ignored == ["col9"]


def test_mapping_file_errors_name_the_bad_key_or_column(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('[fields]\nemial = "mail"\n')
    with pytest.raises(MappingError, match="unknown field 'emial'"):
        load_mapping(path, ["mail"])
    path.write_text('[fields]\nemail = "courriel"\n')
    with pytest.raises(MappingError, match="column 'courriel'"):
        load_mapping(path, ["mail"])
    path.write_text("[fields\n")
    with pytest.raises(MappingError, match="not valid TOML"):
        load_mapping(path, ["mail"])
