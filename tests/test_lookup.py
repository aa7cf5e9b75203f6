"""The private exposure check end to end: the index built by a real ingest (SQLite and
PostgreSQL), the server on loopback under uvicorn, the package's client, and what the server
may learn (a bucket, nothing more)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import free_port, serving_on_loopback
from verrou.api import create_app
from verrou.errors import InvalidIdentifier, InvalidOprfElement, KeyMaterialError, LookupFailed
from verrou.fingerprints import LOOKUP_FLAG, Fingerprinter
from verrou.http.lookup import LookupClient
from verrou.identifiers.kinds import LOOKUP_KINDS, Kind
from verrou.ingest.pipeline import IngestOptions, ingest_dump
from verrou.keys import FingerprintKey
from verrou.lookup.client import (
    LookupQuery,
    document_query,
    email_query,
    nir_query,
    person_query,
    phone_query,
)
from verrou.lookup.protocol import (
    BUCKET_TARGET,
    MAX_BUCKET_BITS,
    PAD_FLOOR,
    TAG_BYTES,
    OprfKey,
    breach_tag,
    bucket_bits_for,
    bucket_of,
    bucket_range,
    full_bucket,
    lookup_input,
    padded_count,
    public_key_id,
)
from verrou.oprf import Client, Mode
from verrou.registry.lookups import LookupService, Query, directory
from verrou.settings import Settings
from verrou.signing import SigningKey
from verrou.store import RegistryStore, open_store


def _nir(base: str) -> str:
    return base + f"{97 - int(base) % 97:02d}"


#: (family, given names, birth date, email, phone, NIR, CNI, passport, driving licence,
#: residence permit) of the leak: a value of every kind the index holds by default.
PEOPLE = (
    (
        "Dupont",
        "Jean Pierre",
        "1980-05-17",
        "jean.dupont@example.fr",
        "06 12 34 56 78",
        _nir("1800575123456"),
        "X4RTBPFW4",
        "12AB34567",
        "13AA00002",
        "AB12345678",
    ),
    (
        "Martin",
        "Élodie",
        "1975-11-02",
        "elodie.martin@example.org",
        "07 98 76 54 32",
        _nir("2751169123456"),
        "Y7KLMN2P3",
        "34CD56789",
        "15BC00417",
        "CD98765432",
    ),
)
ABSENT = (
    "Inconnu",
    "Paul",
    "1990-01-01",
    "paul.inconnu@example.net",
    "06 99 88 77 66",
    _nir("1900175123456"),
    "Z9QRST4V5",
    "56EF78901",
    "17DE00555",
    "EF24681357",
)
HEADER = "nom;prenoms;date_naissance;email;telephone;nir;cni;passeport;permis;titre_sejour"
OPRF_SEED = bytes(range(100, 132))


def write_dump(path: Path) -> Path:
    path.write_text(
        "\n".join([HEADER, *(";".join(person) for person in PEOPLE)]) + "\n", encoding="utf-8"
    )
    return path


@pytest.fixture
def oprf_key() -> OprfKey:
    return OprfKey.from_seed(OPRF_SEED)


def ingest_indexed(
    store: RegistryStore,
    fingerprinter: Fingerprinter,
    folder: Path,
    key: OprfKey,
    kinds: tuple[Kind, ...] = LOOKUP_KINDS,
    breach: str = "ants-2026",
) -> dict[str, int]:
    report = ingest_dump(
        store,
        fingerprinter,
        write_dump(folder / f"{breach}.csv"),
        IngestOptions(breach=breach, report_dir=folder / "reports", lookup_kinds=kinds),
        oprf_key=key,
    )
    return report.indexed


# --- the protocol's pieces --------------------------------------------------------------------


def test_buckets_hold_hundreds_of_values_at_the_scale_of_the_ants_breach() -> None:
    ants = 11_700_000 * 3  # an email, a phone and a person an account
    bits = bucket_bits_for(ants)
    assert bits == MAX_BUCKET_BITS
    assert 300 < ants / (1 << bits) < PAD_FLOOR
    assert bucket_bits_for(0) == bucket_bits_for(2 * BUCKET_TARGET - 1) == 0
    for indexed in (5_000, 100_000, 3_000_000):
        per_bucket = indexed / (1 << bucket_bits_for(indexed))
        assert BUCKET_TARGET <= per_bucket < 2 * BUCKET_TARGET
    # Every answer the same size, unless a bucket outgrows the design.
    assert padded_count(0) == padded_count(PAD_FLOOR) == PAD_FLOOR
    assert padded_count(PAD_FLOOR + 1) == 2 * PAD_FLOOR


def test_buckets_nest_and_inputs_separate_kinds_and_versions() -> None:
    value = lookup_input(Kind.EMAIL, "jean.dupont@example.fr")
    assert value.startswith(b"verrou-lookup/1\x1femail\x1f2\x1f")
    assert lookup_input(Kind.PHONE, "x") != lookup_input(Kind.EMAIL, "x")
    for bits in range(MAX_BUCKET_BITS + 1):
        assert full_bucket(value) in bucket_range(bucket_of(value, bits), bits)
    assert bucket_of(value, 0) == 0 and len(bucket_range(0, 0)) == 1 << MAX_BUCKET_BITS


def test_the_oprf_key_file_round_trips_and_is_refused_when_altered(tmp_path: Path) -> None:
    key = OprfKey.create_file(tmp_path / "oprf.key")
    again = OprfKey.load_file(tmp_path / "oprf.key")
    assert again == key and again.key_id == public_key_id(key.public)
    assert key.seed.hex() not in repr(key) and (tmp_path / "oprf.key").stat().st_mode & 0o077 == 0
    with pytest.raises(KeyMaterialError, match="already exists"):
        OprfKey.create_file(tmp_path / "oprf.key")
    text = (tmp_path / "oprf.key").read_text().replace(key.key_id, "ok-000000000000")
    (tmp_path / "oprf.key").write_text(text)
    with pytest.raises(KeyMaterialError, match="does not match"):
        OprfKey.load_file(tmp_path / "oprf.key")


# --- the index, built by the ingest -----------------------------------------------------------


def test_the_ingest_builds_the_index_beside_the_fingerprints(
    store: RegistryStore, fingerprinter: Fingerprinter, tmp_path: Path, oprf_key: OprfKey
) -> None:
    indexed = ingest_indexed(store, fingerprinter, tmp_path, oprf_key)
    # Two people: a value of each kind each (a person by its one `first` key).
    assert indexed == {kind.value: 2 for kind in LOOKUP_KINDS}
    blobs = store.lookup_entries(range(0, 1 << MAX_BUCKET_BITS))
    entries = b"".join(blobs)
    assert len(entries) == 2 * len(LOOKUP_KINDS) * 21
    assert all(entries[i + 16] & LOOKUP_FLAG for i in range(0, len(entries), 21))
    # The registry's fingerprints are as without an index: a check still finds every key.
    summary = store.list_breaches()[0]
    assert summary.indexed_by_kind == indexed
    assert summary.fingerprints_by_kind["email"] == 2
    email = fingerprinter.fingerprint(Kind.EMAIL, "jean.dupont@example.fr")
    assert [hit.breach_name for hit in store.lookup([email])] == ["ants-2026"]


def test_the_service_answers_what_the_client_finds(
    store: RegistryStore, fingerprinter: Fingerprinter, tmp_path: Path, oprf_key: OprfKey
) -> None:
    ingest_indexed(store, fingerprinter, tmp_path, oprf_key)
    service = LookupService(oprf_key)
    current = directory(store, oprf_key)
    assert current.breaches == ("ants-2026",) and current.bucket_bits == 0
    client = Client(Mode.VOPRF, current.public_key)
    for email, exposed in (("jean.dupont@example.fr", True), ("nobody@example.fr", False)):
        value = lookup_input(Kind.EMAIL, email)
        item = client.blind(value)
        answer = service.answer(store, 0, [Query(0, item.element)])
        [output] = client.finalize([item], answer.evaluation.elements, answer.evaluation.proof)
        tags = answer.buckets[0]
        assert len(tags) == PAD_FLOOR * TAG_BYTES
        tag = breach_tag(output, "ants-2026")[:TAG_BYTES]
        assert (tag in {tags[i : i + TAG_BYTES] for i in range(0, len(tags), TAG_BYTES)}) is exposed
    # The same bucket asked twice: the same tags, padding included; every bucket, at any
    # size, answers as many tags.
    assert service.bucket_tags(store, 0, 0) == service.bucket_tags(store, 0, 0)
    assert {len(service.bucket_tags(store, b, 4)) for b in range(16)} == {PAD_FLOOR * TAG_BYTES}
    assert service.bucket_tags(store, 1, 4) != service.bucket_tags(store, 2, 4)


def test_a_run_resumed_with_another_oprf_key_is_refused(
    store: RegistryStore, fingerprinter: Fingerprinter, tmp_path: Path, oprf_key: OprfKey
) -> None:
    from verrou.ingest.pipeline import _run_indexer

    mapping = {"lookup": {"key_id": oprf_key.key_id, "kinds": ["email"]}}
    options = IngestOptions(breach="b", lookup_kinds=LOOKUP_KINDS)
    assert _run_indexer(mapping, "b", options, oprf_key) is not None
    other = OprfKey.from_seed(bytes(32))
    with pytest.raises(KeyMaterialError, match="OPRF key"):
        _run_indexer(mapping, "b", options, other)
    with pytest.raises(KeyMaterialError, match="none"):
        _run_indexer(mapping, "b", options, None)
    assert _run_indexer({}, "b", options, oprf_key) is None  # started without an index


# --- the server and the client ------------------------------------------------------------------


@dataclass
class Running:
    url: str
    store: RegistryStore


@contextmanager
def serving_lookups(
    database_url: str, fingerprint_key: FingerprintKey, tmp_path: Path, oprf_key: OprfKey
) -> Iterator[Running]:
    """verrou on loopback over :data:`PEOPLE` ingested and indexed with ``oprf_key``."""
    store = open_store(database_url, fingerprint_key_id=fingerprint_key.key_id)
    ingest_indexed(store, Fingerprinter(fingerprint_key), tmp_path, oprf_key)
    settings = Settings.from_env(
        {},
        database_url=database_url,
        signing_key_file=tmp_path / "signing.key",
        recorder="thread",
        lookup_rate_limit=600,
    )
    app = create_app(
        settings,
        fingerprint_key=fingerprint_key,
        signing_key=SigningKey.generate(),
        oprf_key=oprf_key,
    )
    try:
        with serving_on_loopback(app, free_port(), log_level="info") as url:
            yield Running(url, store)
    finally:
        store.close()


@pytest.fixture
def lookup_server(
    database_url: str,
    fingerprint_key: FingerprintKey,
    tmp_path: Path,
    oprf_key: OprfKey,
) -> Iterator[Running]:
    with serving_lookups(database_url, fingerprint_key, tmp_path, oprf_key) as running:
        yield running


def _queries(person: tuple[str, ...]) -> list[LookupQuery]:
    family, given, born, email, phone, nir, cni, passport, licence, permit = person
    return [
        email_query(email),
        phone_query(phone),
        person_query(family, given, born),
        nir_query(nir),
        document_query("cni", cni),
        document_query("passport", passport),
        document_query("driving_licence", licence),
        document_query("residence_permit", permit),
    ]


def test_the_client_finds_exposed_values_of_every_kind_and_no_absent_one(
    lookup_server: Running, oprf_key: OprfKey
) -> None:
    with LookupClient(lookup_server.url, key_id=oprf_key.key_id) as client:
        directory = client.directory()
        assert directory["breaches"] == ["ants-2026"]
        assert directory["kinds"] == [kind.value for kind in Kind if kind in LOOKUP_KINDS]
        for person in PEOPLE:
            for query in _queries(person):
                result = client.check(query)
                assert result.breaches == ("ants-2026",), query
        for query in _queries(ABSENT):
            assert client.check(query).breaches == (), query
        # Spelled otherwise, the same person: found through the same canonical keys.
        assert client.check(person_query("DUPONT", "jean", "17/05/1980")).breaches == ("ants-2026",)
        assert client.check(email_query("Jean.Dupont+banque@Example.fr")).breaches == ("ants-2026",)
        # Every answer is the same size, whatever the value and whether it is exposed.
        sizes = {client.check(q).response_bytes for q in _queries(PEOPLE[0])[:2]}
        sizes |= {client.check(q).response_bytes for q in _queries(ABSENT)[:2]}
        assert len(sizes) == 1 and sizes.pop() < 20_000


def test_a_client_refuses_a_server_with_another_key(
    lookup_server: Running, oprf_key: OprfKey
) -> None:
    with pytest.raises(InvalidOprfElement, match="pinned"):
        LookupClient(lookup_server.url, key_id="ok-000000000000").directory()
    other = OprfKey.from_seed(bytes(32))
    with pytest.raises(InvalidOprfElement, match="pinned"):
        LookupClient(lookup_server.url, public_key=other.public).directory()


def test_invalid_requests_are_refused_by_name(lookup_server: Running) -> None:
    url = lookup_server.url + "/v1/lookup"
    element = base64.b64encode(bytes(32)).decode()
    cases = [
        ({"kind": "iban", "bucket_bits": 0, "queries": [{"bucket": 0, "element": element}]}, 422),
        ({"kind": "email", "bucket_bits": 0, "queries": [{"bucket": 0, "element": element}]}, 422),
        ({"kind": "email", "bucket_bits": 3, "queries": [{"bucket": 0, "element": element}]}, 409),
        ({"kind": "email", "bucket_bits": 0, "queries": []}, 422),
        ({"kind": "email", "bucket_bits": 0, "queries": [{"bucket": 1, "element": element}]}, 422),
    ]
    for body, status in cases:
        response = httpx.post(url, json=body)
        assert response.status_code == status, (body, response.text)
    with pytest.raises(InvalidIdentifier):
        email_query("not an email")


def test_evaluations_are_rate_limited_per_address(
    database_url: str, fingerprint_key: FingerprintKey, tmp_path: Path, oprf_key: OprfKey
) -> None:
    from fastapi.testclient import TestClient

    settings = Settings.from_env(
        {},
        database_url=database_url,
        signing_key_file=tmp_path / "signing.key",
        recorder="thread",
        lookup_rate_limit=10,
    )
    store = open_store(database_url, fingerprint_key_id=fingerprint_key.key_id)
    ingest_indexed(store, Fingerprinter(fingerprint_key), tmp_path, oprf_key)
    store.close()
    app = create_app(
        settings,
        fingerprint_key=fingerprint_key,
        signing_key=SigningKey.generate(),
        oprf_key=oprf_key,
    )
    with TestClient(app) as http:
        client = LookupClient("http://testserver", http=http)  # type: ignore[arg-type]
        client.check(email_query("jean.dupont@example.fr"))  # the burst is one evaluation
        with pytest.raises(LookupFailed, match="rate_limited"):
            client.check(email_query("jean.dupont@example.fr"))
        answer = http.post(
            "/v1/lookup",
            json={"kind": "email", "bucket_bits": 0, "queries": [{"bucket": 0, "element": "AA=="}]},
        )
        assert answer.status_code == 429 and int(answer.headers["retry-after"]) >= 1


def test_without_an_oprf_key_the_routes_do_not_exist(
    database_url: str, fingerprint_key: FingerprintKey, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    settings = Settings.from_env(
        {},
        database_url=database_url,
        signing_key_file=tmp_path / "signing.key",
        oprf_key_file=tmp_path / "none.key",
        recorder="thread",
    )
    app = create_app(settings, fingerprint_key=fingerprint_key, signing_key=SigningKey.generate())
    with TestClient(app) as http:
        answer = http.get("/v1/lookup")
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "lookup_not_configured"


# --- what the server learns -----------------------------------------------------------------------


def test_the_server_learns_a_bucket_and_nothing_else(
    lookup_server: Running, oprf_key: OprfKey, caplog: pytest.LogCaptureFixture
) -> None:
    """Two values, exposed and not, in the same bucket (a small index serves one bucket):
    the server's answers differ only in the evaluated element and the proof, which depend on
    the client's random blind; nothing is audited; nothing of either value is logged."""
    audit_before = sum(1 for _ in lookup_server.store.audit_entries())
    exposed, absent = PEOPLE[0], ABSENT
    answers = []
    with caplog.at_level(logging.DEBUG), LookupClient(lookup_server.url) as client:
        for person in (exposed, absent):
            bits = client.directory()["bucket_bits"]
            value = lookup_input(Kind.EMAIL, email_query(person[3]).canonicals[0])
            item = Client(Mode.VOPRF, base64.b64decode(client.directory()["public_key"])).blind(
                value
            )
            body = {
                "kind": "email",
                "bucket_bits": bits,
                "queries": [
                    {
                        "bucket": bucket_of(value, bits),
                        "element": base64.b64encode(item.element).decode(),
                    }
                ],
            }
            answer = httpx.post(lookup_server.url + "/v1/lookup", json=body)
            assert answer.status_code == 200
            answers.append(answer.json())
        for person in (exposed, absent):
            for query in _queries(person):
                client.check(query)
    first, second = answers
    assert first["tags"] == second["tags"]
    assert first["bucket_bits"] == second["bucket_bits"]
    assert first["evaluated"] != second["evaluated"]
    assert sum(1 for _ in lookup_server.store.audit_entries()) == audit_before
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for person in (exposed, absent):
        for value in person:
            assert value not in logged
        assert person[3].split("@")[0] not in logged


def test_verrou_lookup_prints_the_breaches_and_never_the_value(
    lookup_server: Running, oprf_key: OprfKey
) -> None:
    from click.testing import CliRunner

    from verrou.cli import main

    exposed, absent = PEOPLE[0], ABSENT
    args = ["lookup", "--server", lookup_server.url, "--key-id", oprf_key.key_id]
    runner = CliRunner()
    result = runner.invoke(
        main,
        [*args, "--email", exposed[3], "--person", *exposed[:3], "--document", "cni", exposed[6]],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("exposed in ants-2026") == 3
    assert all(value not in result.output for value in exposed)
    result = runner.invoke(main, [*args, "--json", "--nir", absent[5]], catch_exceptions=False)
    assert result.exit_code == 0
    assert '"breaches": []' in result.output and absent[5] not in result.output
    # A bad value: one line naming the kind and why, without the value; no argument: usage.
    result = runner.invoke(main, [*args, "--email", "jean.dupont@"])
    assert result.exit_code != 0 and "jean.dupont@" not in result.output
    assert runner.invoke(main, args).exit_code == 2
