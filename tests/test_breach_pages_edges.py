"""Breach pages at the edges, over a registry (SQLite and PostgreSQL) holding the test leak:
the public API (``GET /v1/breaches``, ``GET /v1/breaches/{name}``), where nothing can identify a
person, and the command line (``verrou breaches``, ``verrou breach show``, and ``verrou breach
NAME ...`` setting the timeline as it always did)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from io import StringIO

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from rich.console import Console

from conftest import LEAKED_PEOPLE
from verrou.api import create_app
from verrou.cli import breach_commands, main
from verrou.fingerprints import Fingerprinter
from verrou.keys import FingerprintKey
from verrou.registry.breaches import breach_pages
from verrou.registry.policy import Applicant, applicant_keys
from verrou.registry.records import BreachInfo
from verrou.settings import Settings
from verrou.signing import SigningKey
from verrou.store import RegistryStore

CONTAINED = datetime(2026, 4, 10, tzinfo=UTC)
DISCLOSED = datetime(2026, 4, 15, tzinfo=UTC)


# --- the public API ---------------------------------------------------------------------------

#: Every member of a page: a new one must be added here, on purpose (nothing about a person).
PAGE_MEMBERS = {
    "name",
    "title",
    "source",
    "description",
    "timeline",
    "evidence",
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


# --- the command line -------------------------------------------------------------------------


def run(database_url: str, *args: str) -> Result:
    env = {"VERROU_DATABASE_URL": database_url}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_the_command_line_prints_the_api_pages(client: TestClient, database_url: str) -> None:
    listed = run(database_url, "breaches", "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output) == client.get("/v1/breaches").json()
    shown = run(database_url, "breach", "show", "ants-2026", "--json")
    assert json.loads(shown.output) == client.get("/v1/breaches/ants-2026").json()


def test_breach_show_tells_the_figures_and_why_of_the_severity(
    leaked_store: RegistryStore, database_url: str
) -> None:
    shown = run(database_url, "breach", "show", "ants-2026")
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("ants-2026 — France Titres (ANTS)")
    output = " ".join(shown.output.split())
    assert "dwell time 37.0 days" in output
    assert "exposure window 37.0 days (to detection: containment not recorded)" in output
    assert "disclosure lag unknown" in output
    assert "severity: moderate" in output
    assert "24.7 / 40" in output and "37.0 days between the intrusion's start" in output
    assert "Email addresses" in output and "people: 3 (1 run)" in output
    missing = run(database_url, "breach", "show", "nope")
    assert missing.exit_code == 1
    assert missing.output == "error: no breach named 'nope' (`verrou breaches` lists them)\n"


def test_breaches_fit_100_columns_with_dwell_and_severity(
    leaked_store: RegistryStore, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    leaked_store.ensure_breach(BreachInfo(name="france-titres-ants-2026-followup"))
    screen = StringIO()
    monkeypatch.setattr(breach_commands, "out", Console(file=screen, width=100))
    assert run(database_url, "breaches").exit_code == 0
    lines = screen.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 100
    ants = next(line for line in lines if "ants-2026 " in line)
    assert "37 d" in ants and "moderate" in ants
    followup = next(line for line in lines if "france-titres-ants-2026-followup" in line)
    assert "low 23.3*" in followup  # unknown dwell, no dump: provisional
    assert any(line.startswith("* provisional") for line in lines)


def test_the_timeline_is_set_as_before_with_or_without_set(
    leaked_store: RegistryStore, database_url: str
) -> None:
    before = run(database_url, "breach", "--contained", "2026-04-10", "ants-2026")
    assert before.output == "breach ants-2026 saved; dwell time 37 days\n"
    explicit = run(database_url, "breach", "set", "show", "--detected", "2026-05-01")
    assert explicit.output == "breach show saved\n"  # a breach named like a command
    (page,) = breach_pages(leaked_store, "ants-2026")
    assert page.breach.contained_at == CONTAINED
    assert page.figures.exposure_window_end == "contained"
    assert breach_pages(leaked_store, "show")[0].breach.detected_at is not None


@pytest.mark.parametrize("command", [["breach"], ["breach", "show"], ["breach", "set"]])
def test_breach_help_reads_well(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage: main breach" in result.output
    if command == ["breach"]:
        assert "[set] NAME [OPTIONS] | show NAME [--json]" in result.output
        assert "set " in result.output and "show " in result.output
