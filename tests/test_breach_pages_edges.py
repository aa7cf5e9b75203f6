"""Breach pages at the edges, over a registry (SQLite and PostgreSQL) holding the test leak:
the public API (``GET /v1/breaches``, ``GET /v1/breaches/{name}``), where nothing can identify a
person."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from conftest import LEAKED_PEOPLE
from verrou.api import create_app
from verrou.fingerprints import Fingerprinter
from verrou.keys import FingerprintKey
from verrou.registry.policy import Applicant, applicant_keys
from verrou.registry.records import BreachInfo
from verrou.settings import Settings
from verrou.signing import SigningKey
from verrou.store import RegistryStore

DISCLOSED = datetime(2026, 4, 15, tzinfo=UTC)


# --- the public API ---------------------------------------------------------------------------

#: Every member of a page: a new one must be added here, on purpose (nothing about a person).
PAGE_MEMBERS = {
    "name",
    "title",
    "source",
    "description",
    "timeline",
    "figures",
    "severity",
    "data_classes",
    "fingerprints_by_kind",
    "people",
    "runs",
    "ingested",
}


@pytest.fixture
def client(
    leaked_store: RegistryStore, database_url: str, fingerprint_key: FingerprintKey
) -> Iterator[TestClient]:
    leaked_store.ensure_breach(
        BreachInfo(name="ants-2026", source="ants.gouv.fr", disclosed_at=DISCLOSED)
    )
    leaked_store.ensure_breach(BreachInfo(name="rumour-2026", title="Not confirmed yet"))
    settings = Settings(database_url=database_url, recorder="thread")
    app = create_app(settings, fingerprint_key=fingerprint_key, signing_key=SigningKey.generate())
    with TestClient(app) as served:
        yield served


def personal_values(store: RegistryStore, fingerprinter: Fingerprinter) -> list[str]:
    """What must never be in a breach page: the leaked people's values as written and
    canonical, their fingerprints (hex and base64) and their records' ids."""
    values: list[str] = []
    fingerprints: list[bytes] = []
    for family, given, birth, email, phone in LEAKED_PEOPLE:
        values += [family, given, birth, email, phone, phone.replace(" ", "")]
        applicant = Applicant(
            family_name=family, given_names=given, birth_date=birth, email=email, phone=phone
        )
        fingerprints += [key.fingerprint for key in applicant_keys(applicant, fingerprinter)]
    hits = store.lookup(fingerprints)
    assert hits, "the leak's fingerprints are in the registry"
    values += [hit.record_id for hit in hits]
    for fingerprint in fingerprints:
        values += [fingerprint.hex(), base64.b64encode(fingerprint).decode()]
        values.append(base64.urlsafe_b64encode(fingerprint).decode().rstrip("="))
    return values


def test_the_list_and_each_page_are_public_and_say_nothing_about_a_person(
    client: TestClient, leaked_store: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    listed = client.get("/v1/breaches")  # no key: public
    assert listed.status_code == 200
    assert listed.headers["cache-control"] == "no-store"
    ants, rumour = listed.json()
    assert set(ants) == set(rumour) == PAGE_MEMBERS
    assert ants["name"] == "ants-2026" and ants["source"] == "ants.gouv.fr"
    assert ants["people"] == len(LEAKED_PEOPLE) and ants["runs"] == 1
    timeline = ants["timeline"]
    assert timeline["intrusion_started_at"] == "2026-03-02T00:00:00Z"
    assert timeline["disclosed_at"] == "2026-04-15T00:00:00Z"
    assert ants["ingested"] == [timeline["first_ingested_at"]] == [timeline["ingested_at"]]
    assert ants["figures"]["dwell_days"] == 37.0
    assert ants["figures"]["disclosure_lag_days"] == 7.0
    assert ants["figures"]["ingest_lag_start"] == "disclosed"
    severity = ants["severity"]
    assert [f["factor"] for f in severity["factors"]] == ["dwell_time", "data_classes", "people"]
    assert severity["score"] == round(sum(f["points"] for f in severity["factors"]), 1)
    assert severity["level"] == "moderate" and not severity["provisional"]
    by_name = {c["name"]: c for c in ants["data_classes"]}
    assert by_name["Email addresses"] == {
        "name": "Email addresses",
        "weight": 4,
        "declared": True,
        "kinds": ["email"],
        "fingerprints": len(LEAKED_PEOPLE),
    }
    assert rumour["people"] is None and rumour["severity"]["provisional"]

    one = client.get("/v1/breaches/ants-2026")
    assert one.status_code == 200 and one.json() == ants

    forbidden = personal_values(leaked_store, fingerprinter)
    for answer in (listed.text, one.text):
        leaked = [value for value in forbidden if value.casefold() in answer.casefold()]
        assert leaked == []


def test_an_unknown_breach_is_a_404_in_the_api_error_shape(client: TestClient) -> None:
    answer = client.get("/v1/breaches/jean.dupont@example.fr")
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert (error["code"], error["status"]) == ("not_found", 404)
    assert "jean.dupont" not in answer.text  # what was asked is never echoed
    too_long = client.get("/v1/breaches/" + "x" * 201)
    assert too_long.status_code == 422
    assert too_long.json()["error"]["code"] == "invalid_request"
