"""Ingest end to end on synthetic dumps, against real SQLite and PostgreSQL registries."""

from __future__ import annotations

import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from verrou.errors import DumpError
from verrou.fingerprints import Fingerprinter
from verrou.identifiers.kinds import Kind
from verrou.ingest.pipeline import IngestOptions, IngestReport, dry_run, ingest_dump
from verrou.lookup.protocol import OprfKey
from verrou.store import RegistryStore, open_store
from verrou.synth import SynthSpec, write_dump

ROWS = 3000


@pytest.fixture(scope="module")
def dump_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dumps")


def synth(
    dump_dir: Path, fmt: str = "csv", rows: int = ROWS, **extra: Any
) -> tuple[Path, dict[str, Any]]:
    suffix = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet", "sql": "sql"}[fmt]
    name = f"ants-{rows}-{fmt}-{'-'.join(f'{k}{v}' for k, v in sorted(extra.items()))}.{suffix}"
    path = dump_dir / name
    if not path.exists():
        write_dump(SynthSpec(rows=rows, fmt=fmt, with_documents=True, **extra), path)  # type: ignore[arg-type]
    truth = json.loads(path.with_name(path.name + ".truth.json").read_text())
    return path, truth


def options(tmp_path: Path, breach: str = "ants-2026") -> IngestOptions:
    return IngestOptions(
        breach=breach, service="ants", batch_rows=1000, workers=0, report_dir=tmp_path / "reports"
    )


def expected_by_kind(truth: dict[str, Any]) -> tuple[Counter[str], Counter[str]]:
    """Valid and invalid counts per identifier kind, from the generator's ground truth."""
    valid: Counter[str] = Counter()
    invalid: Counter[str] = Counter()
    for column in truth["columns"].values():
        kind, field = column["kind"], column["field"]
        if kind == "person" and field != "birth_date":
            continue  # a person is counted once per row, on the field that decides it
        if kind == "postal_address" and field != "line":
            continue
        valid[kind] += column["valid"]
        invalid[kind] += column["invalid"]
    return valid, invalid


def check_against_truth(report: IngestReport, truth: dict[str, Any]) -> None:
    valid, invalid = expected_by_kind(truth)
    assert report.rows_read == truth["rows"]
    assert report.rows_malformed == len(truth["malformed_rows"])
    assert report.rows_with_identifier == truth["rows_with_valid_identifier"]
    assert report.valid == {k: v for k, v in valid.items() if v}
    assert {k: v for k, v in report.invalid.items() if v} == {k: v for k, v in invalid.items() if v}


def test_csv_ingest_matches_ground_truth(
    store: RegistryStore, fingerprinter: Fingerprinter, dump_dir: Path, tmp_path: Path
) -> None:
    path, truth = synth(dump_dir)
    report = ingest_dump(store, fingerprinter, path, options(tmp_path))
    assert report.status == "complete"
    check_against_truth(report, truth)

    # Every broken cell and every malformed record is listed in the rejects report, by row.
    assert report.report_file is not None
    lines = Path(report.report_file).read_text(encoding="utf-8").splitlines()[1:]
    listed = {(int(line.split(",")[0]), line.split(",")[1]) for line in lines}
    for cell in truth["broken_cells"]:
        assert (cell["row"], cell["column"]) in listed
    for row in truth["malformed_rows"]:
        assert (row, "*") in listed

    # Duplicated people (same data, second account) are counted as duplicate values.
    assert report.duplicates.get("email", 0) >= sum(
        1 for d in truth["duplicates"] if d["variant"] != "exact"
    )
    summary = store.list_breaches()[0]
    assert summary.breach.name == "ants-2026"
    assert summary.fingerprints_by_kind == report.fingerprints


def test_the_same_file_twice_adds_nothing(
    store: RegistryStore, fingerprinter: Fingerprinter, dump_dir: Path, tmp_path: Path
) -> None:
    path, _ = synth(dump_dir)
    first = ingest_dump(store, fingerprinter, path, options(tmp_path))
    before = store.list_breaches()
    again = ingest_dump(store, fingerprinter, path, options(tmp_path))
    assert again.status == "already_ingested"
    assert again.run_id == first.run_id
    assert store.list_breaches() == before


def test_leaked_values_are_found_by_their_canonical_fingerprint(
    store: RegistryStore, fingerprinter: Fingerprinter, dump_dir: Path, tmp_path: Path
) -> None:
    import pyarrow.csv as pacsv

    from verrou.identifiers import canonical
    from verrou.identifiers.names import PersonParts, person_keys

    path, truth = synth(dump_dir)
    ingest_dump(store, fingerprinter, path, options(tmp_path))
    table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(delimiter=";", invalid_row_handler=lambda r: "skip"),
        convert_options=pacsv.ConvertOptions(
            strings_can_be_null=True, column_types={c: "string" for c in truth["columns"]}
        ),
    )
    row = next(r for r in table.to_pylist() if r["email"] and r["telephone"] and r["nir"])
    # The applicant writes their data differently from the dump.
    email = row["email"].upper()
    phone = (
        "+33 " + row["telephone"].replace(" ", "")[1:]
        if row["telephone"].startswith("0")
        else row["telephone"]
    )
    nir = row["nir"].replace(" ", "")
    wanted = {
        fingerprinter.fingerprint(Kind.EMAIL, canonical(Kind.EMAIL, email)): "email",
        fingerprinter.fingerprint(Kind.NIR, canonical(Kind.NIR, nir)): "nir",
    }
    if not row["telephone"].startswith(("0262", "0269", "059", "069", "063")):
        wanted[fingerprinter.fingerprint(Kind.PHONE, canonical(Kind.PHONE, phone))] = "phone"
    given = row["prenoms"].replace(",", " ").lower()
    keys = person_keys(PersonParts((row["nom"].upper(),), given, row["date_naissance"]))
    wanted[fingerprinter.fingerprint(Kind.PERSON, keys[0])] = "person"
    hits = store.lookup(list(wanted))
    assert {wanted[h.fingerprint] for h in hits} == set(wanted.values())
    # They all come from the same leaked record.
    assert len({h.record for h in hits if wanted[h.fingerprint] != "person"}) == 1

    # Another person sharing only the family name matches nothing.
    other = person_keys(PersonParts((row["nom"],), "Zéphyrin", "01/01/1901"))
    assert store.lookup([fingerprinter.fingerprint(Kind.PERSON, k) for k in other]) == []


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "sql"])
def test_other_formats_match_their_ground_truth(
    fmt: str, sqlite_url: str, fingerprinter: Fingerprinter, dump_dir: Path, tmp_path: Path
) -> None:
    path, truth = synth(dump_dir, fmt)
    store = open_store(sqlite_url)
    try:
        report = ingest_dump(store, fingerprinter, path, options(tmp_path))
    finally:
        store.close()
    check_against_truth(report, truth)


def test_compressed_and_cp1252_dumps(
    sqlite_url: str, fingerprinter: Fingerprinter, dump_dir: Path, tmp_path: Path
) -> None:
    path, truth = synth(dump_dir, "csv", encoding="cp1252")
    gz = tmp_path / "dump.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    archive = tmp_path / "dump.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(path, "export/comptes.csv")
    store = open_store(sqlite_url)
    try:
        reports = [
            ingest_dump(store, fingerprinter, p, options(tmp_path, breach=f"b{i}"))
            for i, p in enumerate([gz, archive])
        ]
    finally:
        store.close()
    for report in reports:
        assert report.encoding == "cp1252"
        check_against_truth(report, truth)
    assert reports[0].fingerprints == reports[1].fingerprints


def options_breach(tmp_path: Path, breach: str, workers: int = 0) -> IngestOptions:
    return IngestOptions(
        breach=breach, service="ants", batch_rows=1000, workers=workers, report_dir=tmp_path
    )


def test_worker_processes_give_the_same_registry(
    sqlite_url: str, fingerprinter: Fingerprinter, dump_dir: Path, tmp_path: Path
) -> None:
    path, _ = synth(dump_dir)
    store = open_store(sqlite_url)
    try:
        serial = ingest_dump(store, fingerprinter, path, options_breach(tmp_path, "serial"))
        parallel = ingest_dump(
            store, fingerprinter, path, options_breach(tmp_path, "parallel", workers=2)
        )
    finally:
        store.close()
    assert serial.fingerprints == parallel.fingerprints
    assert serial.duplicates == parallel.duplicates
    assert blocks(sqlite_url, serial.run_id) == blocks(sqlite_url, parallel.run_id)


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the registry directly, on either backend (tests only)."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0.5) as db:
            return db.execute(sql, params).fetchall()
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(sql.replace("?", "%s"), params).fetchall()  # type: ignore[arg-type]
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows]


def blocks(url: str, run_id: int, table: str = "exposure_blocks") -> list[tuple[int, bytes]]:
    return query(  # type: ignore[return-value]
        url, f"SELECT prefix, entries FROM {table} WHERE run_id = ? ORDER BY prefix", run_id
    )


def test_unreadable_file_leaves_the_registry_unchanged(
    store: RegistryStore, fingerprinter: Fingerprinter, tmp_path: Path
) -> None:
    bad = tmp_path / "leak.csv.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage that is not gzip")
    with pytest.raises(DumpError) as caught:
        ingest_dump(store, fingerprinter, bad, options(tmp_path))
    assert "leak.csv.gz" in str(caught.value)
    assert store.list_breaches() == []
    no_identifier = tmp_path / "colours.csv"
    no_identifier.write_text("colour;size\nred;3\nblue;4\n")
    with pytest.raises(DumpError, match="no column maps to an identifier"):
        ingest_dump(store, fingerprinter, no_identifier, options(tmp_path))
    assert store.list_breaches() == []


def test_headerless_dump_of_names_is_refused_without_echoing_its_first_row(
    store: RegistryStore, fingerprinter: Fingerprinter, tmp_path: Path
) -> None:
    # Regression: a dump without a header whose first row holds only names was refused with
    # "no column maps to an identifier (columns: Dupont, Jean-Baptiste)": a leaked person in
    # an error message and every log it reaches.
    headerless = tmp_path / "names.csv"
    headerless.write_text("Dupont;Jean-Baptiste\nMartin;Marie-Christine\n", encoding="utf-8")
    with pytest.raises(DumpError, match="no column maps to an identifier") as caught:
        ingest_dump(store, fingerprinter, headerless, options(tmp_path))
    message = str(caught.value)
    assert "2 columns" in message
    for value in ("Dupont", "Jean-Baptiste", "Martin", "Marie-Christine"):
        assert value not in message


def test_dry_run_writes_nothing(tmp_path: Path, dump_dir: Path) -> None:
    path, _ = synth(dump_dir)
    report, mapping = dry_run(path, options(tmp_path))
    assert not (tmp_path / "reports").exists()
    by_column = {c.column: c for c in report.columns}
    assert by_column["email"].field == "email"
    assert by_column["email"].hit_rate is not None and by_column["email"].hit_rate > 0.9
    assert all("@" not in sample for sample in by_column["email"].samples)
    assert set(report.kinds) >= {"email", "phone", "person", "nir", "iban", "postal_address"}
    assert mapping.fields


# --- crash safety --------------------------------------------------------------------------


def _snapshot(url: str) -> dict[str, Any]:
    """Everything a run leaves in the registry, without ids and timestamps."""
    store = open_store(url)
    try:
        summaries = store.list_breaches()
        run = store.find_run(summaries[0].breach.id, _only_sha(url))
        assert run is not None
        return {
            "status": run.status,
            "counts": run.counts,
            "records": summaries[0].breach.record_count,
            "rejects": list(store.rejects(run.id)),
            "blocks": blocks(url, run.id),
            "lookup_blocks": blocks(url, run.id, "lookup_blocks"),
        }
    finally:
        store.close()


def _only_sha(url: str) -> str:
    return str(query(url, "SELECT file_sha256 FROM ingest_runs")[0][0])


def _cli(
    url: str, key_hex: str, *args: str, report_dir: Path, oprf_key: Path | None = None
) -> subprocess.Popen[str]:
    env = dict(
        os.environ,
        VERROU_DATABASE_URL=url,
        VERROU_KEY=key_hex,
        VERROU_WORKERS="2",
        VERROU_BATCH_ROWS="1000",
        VERROU_REPORT_DIR=str(report_dir),
    )
    if oprf_key is not None:
        env["VERROU_OPRF_KEY_FILE"] = str(oprf_key)
    return subprocess.Popen(
        [sys.executable, "-m", "verrou.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_sigkill_at_any_point_then_rerun_gives_the_uninterrupted_state(
    dump_dir: Path, tmp_path: Path, database_url: str
) -> None:
    path, _ = synth(dump_dir, rows=20_000)
    key_hex = "5a" * 32
    # The private check's index is built in the same batches: it resumes with them.
    oprf_key = tmp_path / "oprf.key"
    OprfKey.create_file(oprf_key)

    def ingest(url: str, reports: Path) -> subprocess.Popen[str]:
        return _cli(
            url,
            key_hex,
            "ingest",
            str(path),
            "--breach",
            "ants",
            "--json",
            report_dir=reports,
            oprf_key=oprf_key,
        )

    reference = f"sqlite:///{tmp_path / 'reference.sqlite3'}"
    proc = ingest(reference, tmp_path / "r0")
    assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
    expected = _snapshot(reference)
    assert expected["status"] == "complete"
    assert expected["counts"]["indexed"]["email"] > 0 and expected["lookup_blocks"]

    crashed = database_url  # SQLite or PostgreSQL
    # Kill after 3 and after 9 committed batches, then let the third run finish.
    for kill_after in (3, 9):
        proc = ingest(crashed, tmp_path / "r1")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if _batches_done(crashed) >= kill_after:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the ingest finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert query(crashed, "SELECT status FROM ingest_runs")[0][0] == "running"
    proc = ingest(crashed, tmp_path / "r1")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert json.loads(out)["resumed"] is True
    assert _snapshot(crashed) == expected


def _batches_done(url: str) -> int:
    try:
        rows = query(url, "SELECT MAX(batches_done) FROM ingest_runs")
    except Exception:  # not created yet, or locked for a moment
        return 0
    return int(rows[0][0] or 0) if rows else 0
