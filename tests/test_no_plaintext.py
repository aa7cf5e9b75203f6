"""No plaintext identifier at rest: ingest a synthetic dump, then check, freeze and register
contacts for people of it through the API and the domain, then look for every raw and canonical
identifier value of it in the SQLite file's bytes, in every column of every PostgreSQL table, in
the rejects report, in the API's answers to bad input and in every log line. None may be found."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.csv as pacsv
import pytest
from fastapi.testclient import TestClient

from verrou.api import create_app
from verrou.errors import InvalidIdentifier
from verrou.fingerprints import Fingerprinter
from verrou.identifiers.columns import canonicalise_column
from verrou.identifiers.kinds import Kind
from verrou.identifiers.names import PersonParts, person_keys
from verrou.ingest.pipeline import IngestOptions, ingest_dump
from verrou.keys import FingerprintKey
from verrou.registry import subjects
from verrou.registry.contacts import Contact, ContactKey
from verrou.registry.policy import Applicant, applicant_keys
from verrou.settings import Settings
from verrou.signing import SigningKey
from verrou.store import open_store
from verrou.synth import SynthSpec, write_dump

IDENTIFIER_COLUMNS = {
    "email": Kind.EMAIL,
    "telephone": Kind.PHONE,
    "numero_cni": Kind.CNI,
    "passeport": Kind.PASSPORT,
    "permis": Kind.DRIVING_LICENCE,
    "nir": Kind.NIR,
    "iban": Kind.IBAN,
}
TEXT_COLUMNS = (
    "id_compte",
    "login",
    "nom",
    "nom_naissance",
    "prenoms",
    "date_naissance",
    "adresse",
)
#: Shorter needles could turn up by chance inside 16-byte random fingerprints.
MIN_NEEDLE = 6
NOW = datetime(2026, 11, 30, tzinfo=UTC)
#: Runs of printable text (ASCII or UTF-8 sequences) in binary data.
TEXT_RUN = re.compile(rb"(?:[\x20-\x7e]|[\xc2-\xf4][\x80-\xbf]{1,3}){4,}")


def read_dump(dump: Path) -> Any:
    """The dump's well-formed rows, every column as text."""
    return pacsv.read_csv(
        dump,
        parse_options=pacsv.ParseOptions(delimiter=";", invalid_row_handler=lambda r: "skip"),
        convert_options=pacsv.ConvertOptions(
            strings_can_be_null=True,
            column_types=dict.fromkeys([*IDENTIFIER_COLUMNS, *TEXT_COLUMNS], "string"),
        ),
    )


def needles(dump: Path) -> set[str]:
    """Every raw identifier value of the dump, and its canonical forms."""
    table = read_dump(dump)
    found: set[str] = set()
    for column in [*IDENTIFIER_COLUMNS, *TEXT_COLUMNS]:
        found.update(v.strip() for v in table.column(column).to_pylist() if v)
    for column, kind in IDENTIFIER_COLUMNS.items():
        result = canonicalise_column(kind, table.column(column))
        found.update(v for v in result.canonical.to_pylist() if v)
    for row in table.select(["nom", "prenoms", "date_naissance"]).to_pylist():
        try:
            keys = person_keys(PersonParts((row["nom"],), row["prenoms"], row["date_naissance"]))
        except InvalidIdentifier:
            continue
        found.update(keys)
        found.update(part for key in keys for part in key.split("|"))
    return {n for n in found if len(n) >= MIN_NEEDLE}


def text_of(blob: bytes) -> str:
    return "\n".join(m.decode("utf-8", "replace") for m in TEXT_RUN.findall(blob))


def postgres_text(url: str) -> tuple[str, int, set[str]]:
    """Every value of every column of every table of the database's schema, as text (the
    printable runs of binary columns): the text, the bytes of binary data read, the tables."""
    texts: list[str] = []
    binary = 0
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        ).fetchall()
        for table, column, data_type in columns:
            if data_type == "bytea":
                for (value,) in conn.execute(f'SELECT "{column}" FROM "{table}"'):
                    binary += len(value)
                    texts.append(text_of(bytes(value)))
            else:
                texts.extend(
                    str(value)
                    for (value,) in conn.execute(f'SELECT "{column}"::text FROM "{table}"')
                    if value is not None
                )
    return "\n".join(texts), binary, {table for table, _, _ in columns}


def assert_absent(haystack: str, wanted: set[str], where: str) -> None:
    upper = haystack.upper()
    leaked = sorted(n for n in wanted if n in haystack or n.upper() in upper)
    assert not leaked, f"{len(leaked)} plaintext values found in {where}"


@pytest.fixture(scope="module")
def leak(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    folder = tmp_path_factory.mktemp("leak")
    dump = folder / "ants.csv"
    write_dump(SynthSpec(rows=2000, fmt="csv", with_documents=True, broken_share=0.05), dump)
    wanted = needles(dump)
    assert len(wanted) > 10_000
    return dump, wanted


def test_the_needles_are_real(leak: tuple[Path, set[str]]) -> None:
    """The search must be able to fail: the dump itself is full of needles."""
    dump, wanted = leak
    haystack = text_of(dump.read_bytes())
    assert sum(1 for n in wanted if n in haystack) > 5000


def _ingest(url: str, dump: Path, fingerprinter: Fingerprinter, reports: Path) -> str | None:
    store = open_store(url)
    try:
        report = ingest_dump(
            store,
            fingerprinter,
            dump,
            IngestOptions(breach="ants-2026", batch_rows=1000, workers=0, report_dir=reports),
        )
    finally:
        store.close()
    assert report.invalid, "the dump must carry invalid values, so that rejects are written"
    return report.report_file


def _applicants(dump: Path, count: int) -> list[dict[str, Any]]:
    rows = read_dump(dump).slice(0, count).to_pylist()
    fields = {"nom": "family_name", "prenoms": "given_names", "date_naissance": "birth_date"}
    fields |= {"email": "email", "telephone": "phone", "nir": "nir", "iban": "iban"}
    return [
        {name: str(row[column]) for column, name in fields.items() if row.get(column)}
        for row in rows
    ]


def _use_the_registry(
    url: str,
    dump: Path,
    fingerprint_key: FingerprintKey,
    caplog: pytest.LogCaptureFixture,
) -> str:
    """Checks (valid and invalid), freezes and sealed contacts for people of the dump, the way
    a bank, an operator and a citizen would; returns the API's answers to bad input."""
    fingerprinter = Fingerprinter(fingerprint_key)
    applicants = _applicants(dump, 60)
    store = open_store(url)
    try:
        _, api_key = store.create_relying_party("Banque Exemple", "bank")
        for applicant in applicants[:10]:
            keys = applicant_keys(Applicant(email=applicant.get("email")), fingerprinter)
            subjects.place_freeze(
                store, keys, placed_by="owner", reason="owner_request", actor="owner", now=NOW
            )
            subjects.register_contact(
                store, keys, Contact("email", applicant["email"]), ContactKey.generate(), now=NOW
            )
    finally:
        store.close()
    caplog.set_level(logging.DEBUG)
    app = create_app(
        # The thread recorder: every log line of the check path is captured here.
        Settings(database_url=url, rate_limit=1_000_000, recorder="thread"),
        fingerprint_key=fingerprint_key,
        signing_key=SigningKey.generate(),
    )
    answers: list[str] = []
    headers = {"Authorization": f"Bearer {api_key}"}
    with TestClient(app) as client:
        batch = client.post(
            "/v1/checks/batch", json={"applicants": applicants[:50]}, headers=headers
        )
        assert batch.status_code in (200, 422), batch.text
        for applicant in applicants:
            answer = client.post("/v1/checks", json=applicant, headers=headers)
            assert answer.status_code in (200, 422)
            if answer.status_code == 422:
                answers.append(answer.text)
            # The same values, mangled so that they are invalid: errors must not quote them.
            broken = {k: v + "§" for k, v in applicant.items() if k != "birth_date"}
            answers.append(client.post("/v1/checks", json=broken, headers=headers).text)
    return "\n".join(answers)


def test_sqlite_file_holds_no_plaintext(
    leak: tuple[Path, set[str]],
    tmp_path: Path,
    fingerprint_key: FingerprintKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dump, wanted = leak
    db = tmp_path / "registry.sqlite3"
    fingerprinter = Fingerprinter(fingerprint_key)
    report_file = _ingest(f"sqlite:///{db}", dump, fingerprinter, tmp_path / "reports")
    answers = _use_the_registry(f"sqlite:///{db}", dump, fingerprint_key, caplog)
    assert "fields" in answers
    assert_absent(answers, wanted, "the API's error answers")
    assert_absent(caplog.text, wanted, "the log")
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("registry.sqlite3*"))
    assert len(blob) > 100_000
    assert_absent(text_of(blob), wanted, "the SQLite registry")
    assert report_file is not None
    assert_absent(Path(report_file).read_text(encoding="utf-8"), wanted, "the rejects report")


def test_postgres_holds_no_plaintext(
    leak: tuple[Path, set[str]],
    postgres_url: str,
    tmp_path: Path,
    fingerprint_key: FingerprintKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dump, wanted = leak
    _ingest(postgres_url, dump, Fingerprinter(fingerprint_key), tmp_path / "reports")
    answers = _use_the_registry(postgres_url, dump, fingerprint_key, caplog)
    assert_absent(answers, wanted, "the API's error answers")
    assert_absent(caplog.text, wanted, "the log")
    text, binary, tables = postgres_text(postgres_url)
    assert tables >= {
        "breaches",
        "ingest_runs",
        "exposure_blocks",
        "audit_log",
        "freezes",
        "contacts",
        "alert_outbox",  # with its coalescing columns (owner_ref, window, checks)
        "registry_key",
    }
    assert binary > 100_000
    assert_absent(text, wanted, "PostgreSQL")
