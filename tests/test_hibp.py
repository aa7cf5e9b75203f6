"""The HIBP v3-compatible endpoints against real components: a registry (SQLite, and
PostgreSQL) holding two breaches ingested from small synthetic dumps, verrou under uvicorn on a
loopback port, and the ``pyhibp`` client from PyPI, unchanged but for its base URL.

An account search is a check: it is rate-limited as one, audited as one, seen by the owner of
the address and alerts them; and the address is in no answer, log line or audit entry.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyhibp
import pytest

from conftest import LEAKED_PEOPLE, free_port, ingest_leak, serving_on_loopback
from verrou.api import create_app
from verrou.fingerprints import Fingerprinter
from verrou.identifiers import Kind
from verrou.ingest.pipeline import IngestOptions, ingest_dump
from verrou.keys import FingerprintKey
from verrou.registry import citizens
from verrou.registry.audit import AuditEntry, entry_from_content
from verrou.registry.checks import utc_now
from verrou.registry.contacts import Contact, create_contact_key_file
from verrou.registry.hibp import (
    DATA_CLASSES,
    added_at,
    breach_date,
    domain_of,
    modified_at,
)
from verrou.registry.hibp import data_classes as hibp_data_classes
from verrou.registry.policy import Applicant, applicant_keys
from verrou.registry.records import Breach, BreachInfo, RelyingParty
from verrou.registry.subjects import register_contact
from verrou.settings import Settings
from verrou.signing import SigningKey
from verrou.store import RegistryStore, open_store

#: Jean Dupont's address: in both breaches.
EMAIL = LEAKED_PEOPLE[0][3]
#: Élodie's address: only in the ANTS breach.
EMAIL_ANTS_ONLY = LEAKED_PEOPLE[1][3]
STRANGER = "camille.verrouille@example.org"
NOT_AN_EMAIL = "jean.dupont-at-example.fr"
USER_AGENT = "verrou-tests/1 (pyhibp)"

#: HIBP v3's breach fields, exactly.
BREACH_FIELDS = {
    "Name",
    "Title",
    "Domain",
    "BreachDate",
    "AddedDate",
    "ModifiedDate",
    "PwnCount",
    "Description",
    "DataClasses",
    "IsVerified",
    "IsFabricated",
    "IsSensitive",
    "IsRetired",
    "IsSpamList",
    "IsMalware",
    "IsStealerLog",
    "IsSubscriptionFree",
    "LogoPath",
}
T0 = datetime(2026, 3, 2, 22, 15, tzinfo=UTC)
T1 = datetime(2026, 4, 8, tzinfo=UTC)
T2 = datetime(2026, 4, 15, tzinfo=UTC)
T3 = datetime(2026, 5, 1, 9, 30, 12, tzinfo=UTC)

#: Loggers of the test's own HTTP clients (not verrou's).
CLIENT_LOGGERS = ("httpx", "httpcore", "urllib3", "requests")
ISO_UTC_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@dataclass
class Served:
    """verrou serving a registry on loopback, and the registry's own connection."""

    base: str
    store: RegistryStore
    fingerprinter: Fingerprinter
    bank: RelyingParty
    bank_key: str
    #: A relying party allowed one check a minute.
    small_key: str


def _ingest_telco(store: RegistryStore, fingerprinter: Fingerprinter, folder: Path) -> None:
    """A second breach, a telco's customer list: Jean's email and phone, and a stranger's.
    Its source is a company name, not a domain; it has no intrusion date."""
    store.ensure_breach(
        BreachInfo(
            name="telco-2025",
            title="Opérateur Mobile customers",
            source="Opérateur Mobile",
            data_classes=("civility", "email", "phone", "contract_type"),
            detected_at=datetime(2025, 9, 14, 8, 30, tzinfo=UTC),
            disclosed_at=datetime(2025, 10, 1, tzinfo=UTC),
        )
    )
    dump = folder / "telco.csv"
    dump.write_text(
        "email;telephone\n"
        + f"{EMAIL};{LEAKED_PEOPLE[0][4]}\n"
        + "a.martin@example.net;0611111111\n",
        encoding="utf-8",
    )
    options = IngestOptions(breach="telco-2025", workers=0, report_dir=folder / "reports-telco")
    ingest_dump(store, fingerprinter, dump, options)


@pytest.fixture
def served(database_url: str, fingerprint_key: FingerprintKey, tmp_path: Path) -> Iterator[Served]:
    store = open_store(database_url)
    fingerprinter = Fingerprinter(fingerprint_key)
    try:
        ingest_leak(store, fingerprinter, tmp_path)
        store.ensure_breach(  # what the operator adds about it later
            BreachInfo(
                name="ants-2026",
                source="ants.gouv.fr",
                description="Accounts of the <ANTS> portal & their owners' details.",
                disclosed_at=datetime(2026, 4, 15, tzinfo=UTC),
            )
        )
        _ingest_telco(store, fingerprinter, tmp_path)
        bank, bank_key = store.create_relying_party("Banque Exemple", "bank")
        _, small_key = store.create_relying_party("Petite Banque", "bank", rate_limit=1)
        settings = Settings(database_url=database_url, recorder="thread", auth_cache_seconds=0)
        app = create_app(
            settings, fingerprint_key=fingerprint_key, signing_key=SigningKey.generate()
        )
        # Info level: the access log is on, so the test sees what it writes.
        with serving_on_loopback(app, free_port(), log_level="info") as base:
            yield Served(f"{base}/api/v3/", store, fingerprinter, bank, bank_key, small_key)
    finally:
        store.close()


@pytest.fixture
def hibp(served: Served, monkeypatch: pytest.MonkeyPatch) -> Served:
    """pyhibp pointed at verrou (its one module-level base URL), with a user agent and the
    bank's API key; both restored afterwards."""
    monkeypatch.setattr(pyhibp, "HIBP_API_BASE_URI", served.base)
    monkeypatch.setattr(pyhibp, "pyHIBP_HEADERS", dict(pyhibp.pyHIBP_HEADERS))
    pyhibp.set_user_agent(USER_AGENT)
    pyhibp.set_api_key(served.bank_key)
    return served


def _get(served: Served, path: str, **headers: str) -> httpx.Response:
    return httpx.get(served.base + path, headers={"user-agent": USER_AGENT, **headers}, timeout=30)


def _audit(store: RegistryStore) -> list[AuditEntry]:
    return [
        entry_from_content(e.content, prev_hash=e.prev_hash, entry_hash=e.entry_hash)
        for e in store.audit_entries()
    ]


# --- the mapping (pure) ---------------------------------------------------------------------


def test_every_identifier_kind_has_hibp_data_classes() -> None:
    assert set(Kind) <= set(DATA_CLASSES)
    assert all(DATA_CLASSES[kind] for kind in Kind)


@pytest.mark.parametrize(
    ("declared", "kinds", "expected"),
    [
        (
            ("e-mails", "Birth dates", "civility"),
            (),
            ["Dates of birth", "Email addresses", "Salutations"],
        ),
        (("Email addresses", "IP addresses"), ("email",), ["Email addresses", "IP addresses"]),
        (
            (),
            ("person", "iban", "nir"),
            ["Bank account numbers", "Dates of birth", "Names", "Social security numbers"],
        ),
        (("loyalty_points", " ", "Loyalty-points"), (), ["Loyalty points"]),
    ],
)
def test_breach_data_classes_map_to_hibp_names(
    declared: tuple[str, ...], kinds: tuple[str, ...], expected: list[str]
) -> None:
    assert hibp_data_classes(declared, kinds) == expected


@pytest.mark.parametrize(
    ("source", "domain"),
    [
        ("ants.gouv.fr", "ants.gouv.fr"),
        (" ANTS.gouv.FR. ", "ants.gouv.fr"),
        ("ANTS", ""),
        ("Opérateur Mobile", ""),
        ("https://ants.gouv.fr/", ""),
        ("localhost", ""),
        (None, ""),
    ],
)
def test_a_breach_domain_is_its_source_only_when_that_is_a_domain(
    source: str | None, domain: str
) -> None:
    assert domain_of(source) == domain


@pytest.mark.parametrize(
    ("timeline", "taken"),
    [
        ({"intrusion_started_at": T0, "detected_at": T1, "disclosed_at": T2}, T0),
        ({"detected_at": T1, "disclosed_at": T2}, T1),
        ({"disclosed_at": T2}, T2),
        ({}, T3),  # ingested
    ],
)
def test_breach_date_is_when_the_data_was_taken(
    timeline: dict[str, datetime], taken: datetime
) -> None:
    breach = Breach(name="b", ingested_at=T3, created_at=T3, **timeline)
    assert breach_date(breach) == taken.date()
    assert added_at(breach) == T3 and modified_at(breach) == T3
    later = replace(breach, ingested_at=T3 + timedelta(days=3, microseconds=7))
    assert added_at(later) == T3 and modified_at(later) == T3 + timedelta(days=3)


# --- breaches: public ---------------------------------------------------------------------------


def test_pyhibp_lists_the_breaches_in_hibp_shape(hibp: Served) -> None:
    listed = pyhibp.get_all_breaches()
    assert [b["Name"] for b in listed] == ["ants-2026", "telco-2025"]
    ants, telco = listed
    assert set(ants) == BREACH_FIELDS and set(telco) == BREACH_FIELDS

    assert ants["Title"] == "France Titres (ANTS)" and ants["Domain"] == "ants.gouv.fr"
    assert ants["BreachDate"] == "2026-03-02"  # the intrusion's start
    assert ants["PwnCount"] == len(LEAKED_PEOPLE)
    assert ants["Description"] == (
        "Accounts of the &lt;ANTS&gt; portal &amp; their owners&#x27; details."
    )
    # Declared ("names", "birth_dates", "emails", "phones") and fingerprinted kinds.
    assert ants["DataClasses"] == ["Dates of birth", "Email addresses", "Names", "Phone numbers"]

    assert telco["Domain"] == ""  # "Opérateur Mobile" is no domain
    assert telco["BreachDate"] == "2025-09-14"  # no intrusion date: its detection
    assert telco["PwnCount"] == 2
    # A class verrou has no HIBP name for is kept, made readable.
    assert telco["DataClasses"] == [
        "Contract type",
        "Email addresses",
        "Phone numbers",
        "Salutations",
    ]
    for breach in listed:
        assert ISO_UTC_SECONDS.fullmatch(breach["AddedDate"]), breach["AddedDate"]
        assert ISO_UTC_SECONDS.fullmatch(breach["ModifiedDate"]), breach["ModifiedDate"]
        assert breach["ModifiedDate"] >= breach["AddedDate"]
        assert breach["IsVerified"] is True and breach["LogoPath"] == ""
        flags = [value for name, value in breach.items() if name.startswith("Is")]
        assert flags.count(True) == 1  # IsVerified only


def test_pyhibp_filters_breaches_by_domain(hibp: Served) -> None:
    assert [b["Name"] for b in pyhibp.get_all_breaches(domain="ants.gouv.fr")] == ["ants-2026"]
    assert [b["Name"] for b in pyhibp.get_all_breaches(domain="ANTS.gouv.fr")] == ["ants-2026"]
    assert pyhibp.get_all_breaches(domain="example.org") == []


def test_pyhibp_reads_one_breach_and_an_unknown_one_is_not_found(hibp: Served) -> None:
    listed = {b["Name"]: b for b in pyhibp.get_all_breaches()}
    assert pyhibp.get_single_breach("telco-2025") == listed["telco-2025"]
    assert pyhibp.get_single_breach("no-such-breach") == {}  # pyhibp's "not found"
    unknown = _get(hibp, "breach/no-such-breach")
    assert unknown.status_code == 404 and unknown.content == b""  # as HIBP: no body


def test_latestbreach_is_the_breach_added_last(hibp: Served) -> None:
    # pyhibp 4.2 has no call for it: an HIBP client's plain request.
    listed = {b["Name"]: b for b in pyhibp.get_all_breaches()}
    latest = _get(hibp, "latestbreach")
    assert latest.status_code == 200, latest.text
    assert latest.json() == listed["telco-2025"]  # ingested after ants-2026
    assert listed["telco-2025"]["AddedDate"] >= listed["ants-2026"]["AddedDate"]


def test_pyhibp_lists_every_data_class_alphabetically(hibp: Served) -> None:
    classes = pyhibp.get_data_classes()
    assert classes == sorted(classes, key=str.casefold) and len(set(classes)) == len(classes)
    every_mapped = {name for names in DATA_CLASSES.values() for name in names}
    in_breaches = {c for b in pyhibp.get_all_breaches() for c in b["DataClasses"]}
    assert set(classes) == every_mapped | in_breaches
    assert {"Email addresses", "Government issued IDs", "Contract type"} <= set(classes)


# --- account searches: a relying party's checks -----------------------------------------------


def test_pyhibp_searches_an_account(hibp: Served) -> None:
    names = pyhibp.get_account_breaches(EMAIL, truncate_response=True)
    assert names == [{"Name": "ants-2026"}, {"Name": "telco-2025"}]

    full = pyhibp.get_account_breaches(EMAIL)  # pyhibp's default: truncate_response=False
    assert full == pyhibp.get_all_breaches()

    # Spelled as the applicant typed it: the check's canonical email (case, +tag) still matches.
    tagged = pyhibp.get_account_breaches("Jean.Dupont+banque@EXAMPLE.fr", truncate_response=True)
    assert tagged == names

    only_ants = pyhibp.get_account_breaches(EMAIL_ANTS_ONLY, truncate_response=True)
    assert only_ants == [{"Name": "ants-2026"}]
    assert pyhibp.get_account_breaches(EMAIL, include_unverified=True) == full

    # HIBP's default is a truncated answer.
    default = _get(hibp, f"breachedaccount/{EMAIL}", **{"hibp-api-key": hibp.bank_key})
    assert default.status_code == 200 and default.json() == names


def test_pyhibp_searches_an_account_on_one_domain(hibp: Served) -> None:
    on_ants = pyhibp.get_account_breaches(EMAIL, domain="ants.gouv.fr")
    assert [b["Name"] for b in on_ants] == ["ants-2026"] and set(on_ants[0]) == BREACH_FIELDS
    truncated = pyhibp.get_account_breaches(EMAIL, domain="ants.gouv.fr", truncate_response=True)
    assert truncated == [{"Name": "ants-2026"}]
    # In breaches, but none of that domain: not found.
    assert pyhibp.get_account_breaches(EMAIL, domain="example.org") == []
    assert pyhibp.get_account_breaches(EMAIL, domain="example.org", truncate_response=True) == []


def test_an_account_in_no_breach_is_not_found(hibp: Served) -> None:
    assert pyhibp.get_account_breaches(STRANGER) == []  # pyhibp's "not found"
    assert pyhibp.get_account_breaches(STRANGER, truncate_response=True) == []
    answer = _get(hibp, f"breachedaccount/{STRANGER}", **{"hibp-api-key": hibp.bank_key})
    assert answer.status_code == 404 and answer.content == b""


def test_a_bad_or_missing_key_is_refused_401(hibp: Served) -> None:
    pyhibp.set_api_key("vrp_" + "x" * 43)
    with pytest.raises(RuntimeError, match="HTTP 401"):
        pyhibp.get_account_breaches(EMAIL)
    missing = _get(hibp, f"breachedaccount/{EMAIL}")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    wrong = _get(hibp, f"breachedaccount/{EMAIL}", **{"hibp-api-key": "not-a-key"})
    assert wrong.status_code == 401 and EMAIL not in wrong.text
    # Nothing was checked with a refused key.
    assert not [entry for entry in _audit(hibp.store) if entry.action == "check"]


def test_an_account_that_is_not_an_email_is_refused_400_without_echo(hibp: Served) -> None:
    with pytest.raises(RuntimeError, match="HTTP 400"):
        pyhibp.get_account_breaches(NOT_AN_EMAIL)
    answer = _get(hibp, f"breachedaccount/{NOT_AN_EMAIL}", **{"hibp-api-key": hibp.bank_key})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_account"
    assert NOT_AN_EMAIL not in answer.text and "jean.dupont" not in answer.text
    too_long = _get(hibp, f"breachedaccount/{'a' * 400}@example.fr", **{"hibp-api-key": "x"})
    assert too_long.status_code == 401  # the key first: nothing is said to a stranger
    too_long = _get(
        hibp, f"breachedaccount/{'a' * 400}@example.fr", **{"hibp-api-key": hibp.bank_key}
    )
    assert too_long.status_code == 400 and "a" * 40 not in too_long.text


@pytest.mark.parametrize(
    "path",
    ["breaches", "breach/ants-2026", "latestbreach", "dataclasses", f"breachedaccount/{EMAIL}"],
)
def test_no_user_agent_is_refused_403(hibp: Served, path: str) -> None:
    with httpx.Client(timeout=30) as client:
        del client.headers["user-agent"]  # httpx sends its own otherwise
        answer = client.get(hibp.base + path, headers={"hibp-api-key": hibp.bank_key})
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "user_agent_required"
    blank = _get(hibp, path, **{"user-agent": "", "hibp-api-key": hibp.bank_key})
    assert blank.status_code == 403


def test_past_the_rate_limit_429_with_retry_after(hibp: Served) -> None:
    pyhibp.set_api_key(hibp.small_key)  # one check a minute
    assert pyhibp.get_account_breaches(EMAIL, truncate_response=True) == [
        {"Name": "ants-2026"},
        {"Name": "telco-2025"},
    ]
    with pytest.raises(RuntimeError, match=r"HTTP 429 .* Retry-After header was: \d+"):
        pyhibp.get_account_breaches(EMAIL)
    answer = _get(hibp, f"breachedaccount/{EMAIL}", **{"hibp-api-key": hibp.small_key})
    assert answer.status_code == 429
    assert 1 <= int(answer.headers["retry-after"]) <= 60
    assert EMAIL not in answer.text
    # The bank's own allowance is untouched; the public routes take none.
    assert pyhibp.get_all_breaches() and pyhibp.get_data_classes()
    pyhibp.set_api_key(hibp.bank_key)
    assert pyhibp.get_account_breaches(EMAIL, truncate_response=True)


def test_a_search_is_an_audited_check_its_owner_sees_and_is_alerted_of(
    hibp: Served, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The search goes where a check goes (audit log, the owner's "who checked me", the alert
    outbox), and the address goes nowhere: not in a log line (the access log included), not
    in the audit log, not in an answer."""
    (email_key,) = applicant_keys(Applicant(email=EMAIL), hibp.fingerprinter)
    contact_key = create_contact_key_file(tmp_path / "contact.key")
    register_contact(hibp.store, [email_key], Contact("email", EMAIL), contact_key, now=utc_now())
    # uvicorn's loggers do not propagate to the root logger: capture them where they write.
    uvicorn_loggers = [logging.getLogger("uvicorn"), logging.getLogger("uvicorn.access")]
    for logger in uvicorn_loggers:
        logger.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    answers: list[httpx.Response] = []
    try:
        for query in ("", "?truncateResponse=false", "?domain=ants.gouv.fr"):
            answers.append(
                _get(hibp, f"breachedaccount/{EMAIL}{query}", **{"hibp-api-key": hibp.bank_key})
            )
        answers.append(_get(hibp, f"BreachedAccount/{EMAIL}"))  # a mistyped path: a 404
    finally:
        for logger in uvicorn_loggers:
            logger.removeHandler(caplog.handler)
    assert [a.status_code for a in answers] == [200, 200, 200, 404]

    checks = [entry for entry in _audit(hibp.store) if entry.action == "check"]
    assert len(checks) == 3
    assert {entry.actor for entry in checks} == {hibp.bank.id}
    assert {entry.details["verdict"] for entry in checks} == {"step_up"}
    assert all(set(e.details["breaches"]) == {"ants-2026", "telco-2025"} for e in checks)
    assert all(email_key.fingerprint.hex() in entry.details["fingerprints"] for entry in checks)

    seen = citizens.checks_of(hibp.store, [email_key.fingerprint], limit=10)
    assert {row.check_id for row in seen} == {entry.details["check_id"] for entry in checks}
    assert {(row.relying_party_name, row.verdict) for row in seen} == {
        ("Banque Exemple", "step_up")
    }
    # The alerts of one window are coalesced: one for the owner, telling of the searches.
    assert hibp.store.outbox_status(utc_now()).by_status == {"pending": 1}

    folded = EMAIL.casefold()
    access = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert len([line for line in access if "breachedaccount/[account]" in line.lower()]) == 4
    # The test's own HTTP client logs the URLs it asks for: only the server's lines count.
    served_lines = [r for r in caplog.records if not r.name.startswith(CLIENT_LOGGERS)]
    assert {r.name for r in served_lines} >= {"uvicorn.access"}
    for record in served_lines:
        assert folded not in record.getMessage().casefold(), record.name
    for stored in hibp.store.audit_entries():
        assert folded.encode() not in stored.content.lower()
    for answer in answers:
        assert folded not in answer.text.casefold()
        assert all(folded not in value.casefold() for value in answer.headers.values())


def _hibp_routes(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {path: item for path, item in document["paths"].items() if path.startswith("/api/v3/")}


def test_the_openapi_document_declares_the_hibp_routes(hibp: Served) -> None:
    document = httpx.get(hibp.base.removesuffix("api/v3/") + "openapi.json", timeout=30).json()
    routes = _hibp_routes(document)
    assert set(routes) == {
        "/api/v3/breaches",
        "/api/v3/breach/{name}",
        "/api/v3/latestbreach",
        "/api/v3/dataclasses",
        "/api/v3/breachedaccount/{account}",
    }
    scheme = document["components"]["securitySchemes"]["hibpApiKey"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "hibp-api-key"}
    account = routes["/api/v3/breachedaccount/{account}"]["get"]
    assert account["security"] == [{"hibpApiKey": []}]
    assert {"400", "401", "403", "404", "429"} <= set(account["responses"])
    queries = {p["name"] for p in account["parameters"] if p["in"] == "query"}
    assert queries == {"truncateResponse", "includeUnverified", "domain"}
    breach_schema = document["components"]["schemas"]["HibpBreach"]
    assert set(breach_schema["properties"]) == BREACH_FIELDS
    for item in routes.values():
        assert "security" not in item["get"] or item is routes["/api/v3/breachedaccount/{account}"]
        assert "403" in item["get"]["responses"]
