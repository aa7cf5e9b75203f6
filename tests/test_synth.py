"""The synthetic dump generator: determinism, readable formats, valid and broken values, truth."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

import phonenumbers
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from email_validator import EmailNotValidError, validate_email
from stdnum import iban as std_iban
from stdnum.exceptions import ValidationError
from stdnum.fr import nir as std_nir

from verrou import synth
from verrou.synth import (
    BASE_COLUMNS,
    DOCUMENT_COLUMNS,
    GroundTruth,
    SynthSpec,
    fold_accents,
    truth_path,
    write_dump,
)

ROWS = 3000

OVERSEAS_REGIONS = {
    "262": "RE",
    "692": "RE",
    "590": "GP",
    "690": "GP",
    "596": "MQ",
    "696": "MQ",
    "697": "MQ",
    "594": "GF",
    "694": "GF",
    "269": "YT",
    "639": "YT",
}
CNI_RE = re.compile(r"(?:\d{4}[0-9][0-9AB][0-9A-Z]\d{5}|[A-Z0-9]{9})")
PASSPORT_RE = re.compile(r"\d{2}[A-Z]{2}\d{5}")
LICENCE_RE = re.compile(r"(?:\d{2}[A-Z]{2}\d{5}|\d{4}(?:\d{2}|2A|2B)\d{6})")


# ---- independent validators (written from the documented formats, not from synth) ----------


def rib_key_ok(bban: str) -> bool:
    """RIB key check, letters per the French table (A/J→1, B/K/S→2, ... I/R/Z→9)."""
    table = {c: str((i % 9) + 1) for i, c in enumerate("ABCDEFGHIJKLMNOPQR")}
    table.update({c: str(i + 2) for i, c in enumerate("STUVWXYZ")})
    digits = "".join(table.get(c, c) for c in bban)
    bank, branch, account, key = (
        int(digits[:5]),
        int(digits[5:10]),
        int(digits[10:21]),
        int(digits[21:]),
    )
    return key == 97 - (89 * bank + 15 * branch + 3 * account) % 97


def iban_ok(value: str) -> bool:
    compact = value.replace(" ", "")
    try:
        std_iban.validate(compact)
    except ValidationError:
        return False
    return compact.startswith("FR") and rib_key_ok(compact[4:])


def nir_ok(value: str) -> bool:
    try:
        std_nir.validate(value.replace(" ", ""))
    except ValidationError:
        return False
    return True


def phone_ok(value: str) -> bool:
    digits = re.sub(r"[ .]", "", value)
    if digits.startswith("+"):
        number = phonenumbers.parse(digits, None)
    else:
        region = OVERSEAS_REGIONS.get(digits[1:4], "FR")
        number = phonenumbers.parse(digits, region)
    return bool(phonenumbers.is_valid_number(number))


def email_ok(value: str) -> bool:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def date_ok(value: str) -> bool:
    try:
        day = datetime.strptime(value, "%d/%m/%Y").date()
    except ValueError:
        return False
    return date(1930, 1, 1) <= day <= date(2008, 12, 31)


VALIDATORS = {
    "email": email_ok,
    "telephone": phone_ok,
    "date_naissance": date_ok,
    "nir": nir_ok,
    "iban": iban_ok,
    "numero_cni": lambda v: CNI_RE.fullmatch(v) is not None,
    "passeport": lambda v: PASSPORT_RE.fullmatch(v) is not None,
    "permis": lambda v: LICENCE_RE.fullmatch(v) is not None,
}


# ---- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, GroundTruth]]:
    """One dump per format, with documents, same seed."""
    base = tmp_path_factory.mktemp("dumps")
    out: dict[str, tuple[Path, GroundTruth]] = {}
    for fmt in ("csv", "jsonl", "parquet", "sql"):
        path = base / f"dump.{fmt}"
        out[fmt] = (path, write_dump(SynthSpec(rows=ROWS, fmt=fmt, with_documents=True), path))
    return out


def read_parquet_rows(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


def read_jsonl_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        contact = record.pop("contact")
        record["email"] = contact["email"]
        record["telephone"] = contact["telephone"]
        rows.append(record)
    return rows


SQL_TOKEN = re.compile(r"'((?:[^'\\]|\\.)*)'|(NULL)|(-?\d+)|(\),\(|\);)")


def read_sql_rows(path: Path, columns: tuple[str, ...]) -> tuple[list[dict[str, Any]], int]:
    """A small MySQL INSERT reader: returns the rows and the number of INSERT statements."""
    rows: list[dict[str, Any]] = []
    inserts = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        prefix = "INSERT INTO `comptes` VALUES ("
        if not line.startswith(prefix):
            continue
        inserts += 1
        values: list[Any] = []
        for m in SQL_TOKEN.finditer(line, len(prefix)):
            text, null, number, end = m.groups()
            if end:
                rows.append(dict(zip(columns, values, strict=True)))
                values = []
            elif null:
                values.append(None)
            elif number is not None and text is None:
                values.append(int(number))
            else:
                values.append(re.sub(r"\\(.)", r"\1", text))
    return rows, inserts


# ---- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "sql"])
def test_same_spec_gives_byte_identical_files(tmp_path: Path, fmt: str) -> None:
    spec = SynthSpec(rows=1200, fmt=fmt, with_documents=True, seed=7)
    a, b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    write_dump(spec, a)
    write_dump(spec, b)
    assert a.read_bytes() == b.read_bytes()
    assert truth_path(a).read_bytes() == truth_path(b).read_bytes()
    other = tmp_path / f"c.{fmt}"
    write_dump(SynthSpec(rows=1200, fmt=fmt, with_documents=True, seed=8), other)
    assert other.read_bytes() != a.read_bytes()


def test_csv_reads_with_pyarrow_and_malformed_lines_are_the_recorded_ones(
    dumps: dict[str, tuple[Path, GroundTruth]],
) -> None:
    path, truth = dumps["csv"]
    skipped: list[str] = []

    def skip(row: Any) -> str:
        skipped.append(row.text)
        return "skip"

    table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(delimiter=";", invalid_row_handler=skip),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in truth.spec.columns}
        ),
    )
    assert table.column_names == list(BASE_COLUMNS + DOCUMENT_COLUMNS)
    assert truth.malformed, "a CSV dump carries malformed lines"
    assert len(skipped) == len(truth.malformed)
    assert table.num_rows == truth.well_formed_rows == ROWS - len(truth.malformed)

    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    assert len(lines) == truth.rows
    width = len(truth.spec.columns)
    wrong = {n for n, line in enumerate(lines, start=1) if line.count(";") + 1 != width}
    assert wrong == set(truth.malformed_rows)


def test_jsonl_has_nested_contact(dumps: dict[str, tuple[Path, GroundTruth]]) -> None:
    path, truth = dumps["jsonl"]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == truth.rows == ROWS
    first = json.loads(lines[0])
    assert set(first["contact"]) == {"email", "telephone"}
    assert isinstance(first["id_compte"], int)
    assert "email" not in first and "telephone" not in first
    assert truth.malformed == []


def test_parquet_reads_with_all_columns(dumps: dict[str, tuple[Path, GroundTruth]]) -> None:
    path, truth = dumps["parquet"]
    table = pq.read_table(path)
    assert table.num_rows == truth.rows == ROWS
    assert table.column_names == list(truth.spec.columns)
    assert table.schema.field("id_compte").type == pa.int64()


def test_sql_dump_has_one_insert_per_thousand_rows(
    dumps: dict[str, tuple[Path, GroundTruth]],
) -> None:
    path, truth = dumps["sql"]
    text = path.read_text(encoding="utf-8")
    assert "CREATE TABLE `comptes`" in text
    assert text.count("INSERT INTO `comptes` VALUES") == -(-ROWS // 1000)
    rows, inserts = read_sql_rows(path, truth.spec.columns)
    assert inserts == 3
    assert len(rows) == ROWS
    # Apostrophes (d'Estaing, de l'Église) must be escaped and come back intact.
    assert "\\'" in text


def test_jsonl_parquet_and_sql_carry_the_same_records(
    dumps: dict[str, tuple[Path, GroundTruth]],
) -> None:
    columns = dumps["sql"][1].spec.columns
    from_parquet = read_parquet_rows(dumps["parquet"][0])
    from_jsonl = [{c: r[c] for c in columns} for r in read_jsonl_rows(dumps["jsonl"][0])]
    from_sql, _ = read_sql_rows(dumps["sql"][0], columns)
    assert from_parquet == from_jsonl == from_sql
    assert any("'" in (r["nom"] or "") + (r["adresse"] or "") for r in from_sql)


def broken_index(truth: GroundTruth) -> dict[tuple[int, str], str]:
    return {(c.row, c.column): c.defect for c in truth.broken_cells}


def test_generated_values_are_valid_and_broken_ones_are_not(
    dumps: dict[str, tuple[Path, GroundTruth]],
) -> None:
    path, truth = dumps["parquet"]
    broken = broken_index(truth)
    assert broken, "some cells must be broken"
    checked = Counter[str]()
    for number, row in enumerate(read_parquet_rows(path), start=1):
        for column, is_valid in VALIDATORS.items():
            value = row[column]
            if value is None:
                continue
            checked[column] += 1
            expected = (number, column) not in broken
            assert is_valid(value) is expected, (number, column, broken.get((number, column)))
    assert all(checked[c] > 100 for c in VALIDATORS)
    defects = Counter(broken.values())
    for defect in (
        synth.Defect.EMAIL_NO_AT,
        synth.Defect.EMAIL_DOUBLE_DOT,
        synth.Defect.DATE_IMPOSSIBLE,
        synth.Defect.PHONE_TOO_SHORT,
        synth.Defect.NIR_WRONG_KEY,
        synth.Defect.IBAN_WRONG_RIB_KEY,
    ):
        assert defects[defect] > 0, defect


def test_broken_iban_fails_only_on_the_rib_key(
    dumps: dict[str, tuple[Path, GroundTruth]],
) -> None:
    path, truth = dumps["parquet"]
    rows = read_parquet_rows(path)
    cells = [c for c in truth.broken_cells if c.defect == synth.Defect.IBAN_WRONG_RIB_KEY]
    assert cells
    for cell in cells:
        compact = rows[cell.row - 1]["iban"].replace(" ", "")
        std_iban.validate(compact)  # ISO check digits still right
        assert not rib_key_ok(compact[4:])


def test_nir_matches_sex_and_birth_date(dumps: dict[str, tuple[Path, GroundTruth]]) -> None:
    path, truth = dumps["parquet"]
    broken = broken_index(truth)
    corsica = 0
    for number, row in enumerate(read_parquet_rows(path), start=1):
        nir = (row["nir"] or "").replace(" ", "")
        if not nir or (number, "date_naissance") in broken:
            continue
        assert nir[0] == ("2" if row["civilite"] == "Mme" else "1")
        _day, month, year = row["date_naissance"].split("/")
        assert nir[1:3] == year[2:] and nir[3:5] == month
        if nir[5:7] in ("2A", "2B"):
            corsica += 1
            assert int(year) >= 1976
    assert corsica > 0


def test_truth_counts_match_the_file(dumps: dict[str, tuple[Path, GroundTruth]]) -> None:
    path, truth = dumps["parquet"]
    rows = read_parquet_rows(path)
    reloaded = GroundTruth.load(truth_path(path))
    assert reloaded == truth
    for column, col_truth in truth.columns.items():
        present = [r[column] for r in rows if r[column] not in (None, "")]
        assert col_truth.non_blank == len(present), column
        assert col_truth.valid + col_truth.invalid == col_truth.non_blank
        invalid_cells = [c for c in truth.broken_cells if c.column == column]
        assert col_truth.invalid == len(invalid_cells), column
        if column in VALIDATORS:
            assert col_truth.valid == sum(VALIDATORS[column](v) for v in present), column
    assert truth.rows_with_valid_identifier == ROWS


def test_csv_truth_excludes_malformed_records(dumps: dict[str, tuple[Path, GroundTruth]]) -> None:
    path, truth = dumps["csv"]
    table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(delimiter=";", invalid_row_handler=lambda _: "skip"),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in truth.spec.columns},
            strings_can_be_null=False,
        ),
    )
    for column, col_truth in truth.columns.items():
        values = table.column(column).to_pylist()
        assert col_truth.non_blank == sum(1 for v in values if v), column
        if column in VALIDATORS:
            assert col_truth.valid == sum(VALIDATORS[column](v) for v in values if v), column
    malformed = set(truth.malformed_rows)
    assert not malformed & {c.row for c in truth.broken_cells}
    assert truth.rows_with_valid_identifier == ROWS - len(malformed)


def test_duplicates_repeat_the_person(dumps: dict[str, tuple[Path, GroundTruth]]) -> None:
    path, truth = dumps["parquet"]
    rows = read_parquet_rows(path)
    assert len(truth.duplicates) >= ROWS // 100 - 3
    variants = Counter(d.variant for d in truth.duplicates)
    assert variants["exact"] > 0 and len(variants) >= 3
    same_person = ("email", "date_naissance", "telephone", "adresse", "nir", "iban", "passeport")
    special = {c.row for c in truth.broken_cells}
    for dup in truth.duplicates:
        assert dup.of_row < dup.row
        assert dup.row not in special and dup.of_row not in special
        a, b = rows[dup.of_row - 1], rows[dup.row - 1]
        if dup.variant == "exact":
            assert a == b
            continue
        assert a["id_compte"] != b["id_compte"]
        assert all(a[c] == b[c] for c in same_person)
        respell = {
            "upper_case": str.upper,
            "lower_case": str.lower,
            "accents_removed": fold_accents,
            "hyphen_as_space": lambda s: s.replace("-", " "),
        }[dup.variant]
        assert respell(a["nom"]) == b["nom"]
        changed = [c for c in ("nom", "nom_naissance", "prenoms") if a[c] != b[c]]
        assert changed


def test_shares_look_like_the_leak(dumps: dict[str, tuple[Path, GroundTruth]]) -> None:
    rows = read_parquet_rows(dumps["parquet"][0])
    n = len(rows)

    def share(pred: Any) -> float:
        return sum(1 for r in rows if pred(r)) / n

    assert 0.55 < share(lambda r: r["telephone"]) < 0.65
    assert 0.35 < share(lambda r: r["adresse"]) < 0.45
    assert 0.11 < share(lambda r: r["nom_naissance"]) < 0.19
    assert all(r["nom_naissance"] != r["nom"] for r in rows if r["nom_naissance"])
    phones = [re.sub(r"[ .]", "", r["telephone"]) for r in rows if r["telephone"]]
    overseas = sum(1 for p in phones if p[1:4] in OVERSEAS_REGIONS) / len(phones)
    assert 0.02 < overseas < 0.09
    assert any(p.startswith("+33") for p in phones)
    layouts = {re.sub(r"\d", "9", r["telephone"]) for r in rows if r["telephone"]}
    assert {"99 99 99 99 99", "99.99.99.99.99", "+99 9 99 99 99 99", "9999999999"} <= layouts
    names = " ".join(r["nom"] + " " + r["prenoms"] for r in rows)
    for marker in ("œ", "æ", "-", "'", "de ", "Le "):
        assert marker in names, marker
    assert any(len(r["prenoms"].split(", ")) == 3 for r in rows)
    years = [int(r["date_naissance"][-4:]) for r in rows]
    assert min(years) >= 1930 and max(years) <= 2008
    domains = Counter(r["email"].rpartition("@")[2] for r in rows)
    assert {"gmail.com", "orange.fr", "free.fr", "laposte.net", "wanadoo.fr"} <= set(domains)
    emails = [r["email"] for r in rows]
    assert all(e.isascii() for e in emails)


def test_cp1252_csv_is_a_windows_export(tmp_path: Path) -> None:
    utf8, cp = tmp_path / "u.csv", tmp_path / "w.csv"
    write_dump(SynthSpec(rows=2000, fmt="csv"), utf8)
    write_dump(SynthSpec(rows=2000, fmt="csv", encoding="cp1252"), cp)
    raw = cp.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.decode("cp1252") == utf8.read_text(encoding="utf-8")
    assert "œ".encode("cp1252") in raw
    assert unicodedata.is_normalized("NFC", raw.decode("cp1252"))


def test_cp1252_is_only_for_csv() -> None:
    with pytest.raises(ValueError):
        SynthSpec(rows=10, fmt="jsonl", encoding="cp1252")


def test_chunks_progress_and_numbering(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("verrou.synth.dump.CHUNK_ROWS", 1000)  # where write_dump reads it
    seen: list[int] = []
    path = tmp_path / "d.sql"
    truth = write_dump(SynthSpec(rows=2500, fmt="sql"), path, on_progress=seen.append)
    assert seen == [1000, 2000, 2500]
    rows, inserts = read_sql_rows(path, truth.spec.columns)
    assert inserts == 3 and len(rows) == 2500
    ids = [r["id_compte"] for r in rows]
    exact = {d.row for d in truth.duplicates if d.variant == "exact"}
    own_ids = [i for n, i in enumerate(ids, start=1) if n not in exact]
    assert own_ids == sorted(own_ids) and len(set(own_ids)) == len(own_ids)
    assert max(d.row for d in truth.duplicates) > 2000
    assert {c.row for c in truth.broken_cells} & set(range(2001, 2501))


def test_small_and_empty_dumps(tmp_path: Path) -> None:
    empty = write_dump(SynthSpec(rows=0, fmt="csv"), tmp_path / "e.csv")
    assert empty.rows == 0
    assert (tmp_path / "e.csv").read_text(encoding="utf-8").count("\n") == 1
    one = write_dump(SynthSpec(rows=1, fmt="parquet", broken_share=0.0), tmp_path / "o.parquet")
    assert pq.read_table(tmp_path / "o.parquet").num_rows == 1
    assert one.broken_cells == [] and one.duplicates == []
