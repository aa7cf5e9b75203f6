"""The check API in process (ASGI client, real SQLite and PostgreSQL stores)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jws
from joserfc.jwk import KeySet

from conftest import LEAKED_PEOPLE, ingest_leak
from verrou.api import create_app
from verrou.fingerprints import Fingerprinter
from verrou.keys import FingerprintKey
from verrou.registry.policy import Applicant, Freeze, applicant_keys
from verrou.settings import Settings
from verrou.signing import SigningKey
from verrou.store import RegistryStore, open_store
from verrou.store.base import AuditDraft

NOW = datetime(2026, 11, 30, tzinfo=UTC)
METRICS_TOKEN = "metrics-reader-" + "m" * 32


class Api:
    def __init__(self, client: TestClient, store: RegistryStore, key: str, party_id: str) -> None:
        self.client = client
        self.store = store
        self.key = key
        self.party_id = party_id

    def check(self, body: dict[str, Any], key: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return self.client.post("/v1/checks", json=body, headers=headers)


def _person(n: int) -> dict[str, str]:
    family, given, birth, _, _ = LEAKED_PEOPLE[n]
    return {"family_name": family, "given_names": given, "birth_date": birth}


def _app(database_url: str, fingerprint_key: FingerprintKey, **settings: Any) -> Any:
    return create_app(
        Settings(
            database_url=database_url,
            auth_cache_seconds=0,
            **{"recorder": "thread", **settings},  # no spawn per test; test_api_recorder.py
        ),
        fingerprint_key=fingerprint_key,
        signing_key=SigningKey.generate(),
    )


@pytest.fixture
def api(
    database_url: str,
    fingerprint_key: FingerprintKey,
    fingerprinter: Fingerprinter,
    tmp_path: Path,
) -> Iterator[Api]:
    store = open_store(database_url)
    ingest_leak(store, fingerprinter, tmp_path)
    party, key = store.create_relying_party("Banque Exemple", "bank")
    try:
        app = _app(database_url, fingerprint_key, metrics_token=METRICS_TOKEN)
        with TestClient(app) as client:
            yield Api(client, store, key, party.id)
    finally:
        store.close()


def _freeze_person(api: Api, fingerprinter: Fingerprinter, n: int) -> None:
    family, given, birth, _, _ = LEAKED_PEOPLE[n]
    applicant = Applicant(family_name=family, given_names=given, birth_date=birth)
    for key in applicant_keys(applicant, fingerprinter):
        api.store.place_freeze(
            Freeze(key.fingerprint, "owner", "owner_request", NOW),
            audit=AuditDraft("freeze.place", "owner", key.fingerprint.hex(), {}, NOW),
        )


def test_leaked_frozen_and_unknown_applicants_get_their_verdicts(
    api: Api, fingerprinter: Fingerprinter
) -> None:
    leaked = api.check({**_person(0), "email": LEAKED_PEOPLE[0][3]})
    assert leaked.status_code == 200, leaked.text
    assert leaked.json()["verdict"] == "step_up"
    assert {r["attribute"] for r in leaked.json()["reasons"]} == {"person", "email"}
    assert leaked.json()["breaches"][0]["name"] == "ants-2026"

    _freeze_person(api, fingerprinter, 1)
    frozen = api.check(_person(1))
    assert frozen.json()["verdict"] == "deny"
    assert "frozen" in {r["code"] for r in frozen.json()["reasons"]}

    unknown = api.check({"family_name": "Martin", "given_names": "Luc", "birth_date": "1990-01-01"})
    assert unknown.json()["verdict"] == "clear"
    assert unknown.json()["reasons"] == []


#: Jean Pierre Dupont (LEAKED_PEOPLE[0]) and his email as a fraudster types them past a naive
#: registry: one look-alike letter of another script, or an invisible character.
SPOOFED_DUPONT = [
    pytest.param({"family_name": "Dup\u043ent"}, id="cyrillic-o-family"),
    pytest.param({"family_name": "Dup\u03bfnt"}, id="greek-omicron-family"),
    pytest.param({"family_name": "\U0001d403upont"}, id="mathematical-bold-d"),
    pytest.param({"given_names": "Jean\u3164 Pierre"}, id="hangul-filler-given"),
    pytest.param({"given_names": "Pierre\uffa0Jean"}, id="halfwidth-filler-as-the-blank"),
    pytest.param({"given_names": "J\u200bean Pi\u00aderre"}, id="zero-width-and-soft-hyphen"),
    pytest.param({"family_name": "\u202eDupont\u202c"}, id="bidi-override"),
    pytest.param({"email": "j\u0435an.dupont@example.fr"}, id="cyrillic-e-email-local-part"),
    pytest.param({"email": "jean.dupont+bank@ex\u0430mple.fr"}, id="tag-and-cyrillic-a-domain"),
]


@pytest.mark.parametrize("spoof", SPOOFED_DUPONT)
def test_a_frozen_identity_spoofed_with_lookalikes_or_invisibles_is_still_denied(
    api: Api, fingerprinter: Fingerprinter, spoof: dict[str, str]
) -> None:
    family, given, birth, email, _ = LEAKED_PEOPLE[0]
    owner = Applicant(family_name=family, given_names=given, birth_date=birth, email=email)
    for key in applicant_keys(owner, fingerprinter):
        api.store.place_freeze(
            Freeze(key.fingerprint, "owner", "owner_request", NOW),
            audit=AuditDraft("freeze.place", "owner", key.fingerprint.hex(), {}, NOW),
        )
    body = {**_person(0), **spoof} if "email" not in spoof else spoof
    answer = api.check(body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["verdict"] == "deny"
    assert "frozen" in {reason["code"] for reason in answer.json()["reasons"]}


def test_the_verdict_verifies_against_the_published_jwks(api: Api) -> None:
    answer = api.check(_person(2)).json()
    key_set = KeySet.import_key_set(api.client.get("/.well-known/jwks.json").json())
    token = jws.deserialize_compact(answer["jws"], key_set, algorithms=["EdDSA", "Ed25519"])
    payload = json.loads(token.payload)
    assert payload == {k: v for k, v in answer.items() if k != "jws"}
    assert payload["aud"] == api.party_id and payload["verdict"] == "step_up"
    assert token.protected["kid"] == key_set.keys[0].kid


def test_batch_answers_each_applicant_in_order(api: Api) -> None:
    body = {"applicants": [_person(0), {"email": "nobody@example.net"}, _person(2)]}
    answer = api.client.post(
        "/v1/checks/batch", json=body, headers={"Authorization": f"Bearer {api.key}"}
    )
    assert answer.status_code == 200, answer.text
    assert [r["verdict"] for r in answer.json()["results"]] == ["step_up", "clear", "step_up"]
    assert len({r["check_id"] for r in answer.json()["results"]}) == 3


def test_a_batch_over_100_or_with_a_bad_applicant_is_refused_naming_it(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.key}"}
    too_many = {"applicants": [{"email": "a@example.net"}] * 101}
    answer = api.client.post("/v1/checks/batch", json=too_many, headers=headers)
    assert answer.status_code == 422
    assert answer.json()["error"]["fields"].keys() == {"applicants"}

    bad = {"applicants": [_person(0), {"nir": "2 84 12 75 123 456 99"}]}
    answer = api.client.post("/v1/checks/batch", json=bad, headers=headers)
    assert answer.status_code == 422
    assert list(answer.json()["error"]["fields"]) == ["applicants.1.nir"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"nir": "2 84 12 75 123 456 99"}, {"nir"}),
        ({"email": "jean.dupont@@example.fr"}, {"email"}),
        ({"family_name": "Dupont", "birth_date": "1980-05-17"}, {"given_names"}),
        ({"document": {"type": "cni", "number": "X"}}, {"document_number"}),
        ({}, {"applicant"}),
        ({"phone": 612345678}, {"phone"}),
        ({"shoe_size": "44"}, {"body"}),
    ],
)
def test_invalid_input_names_the_field_and_never_echoes_the_value(
    api: Api, body: dict[str, Any], fields: set[str]
) -> None:
    answer = api.check(body)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["status"] == 422 and error["code"] in ("invalid_applicant", "invalid_request")
    assert set(error["fields"]) == fields
    for value in ("2 84 12 75 123 456 99", "jean.dupont@@example.fr", "612345678", "44"):
        assert value not in answer.text


_PROTECTED = [("POST", "/v1/checks"), ("POST", "/v1/checks/batch")]
_PUBLIC = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
]
_BODIES = {"/v1/checks": {"email": "nobody@example.net"}, "/v1/checks/batch": None}


@pytest.mark.parametrize("credential", ["none", "malformed", "unknown", "revoked", "valid"])
@pytest.mark.parametrize(("method", "path"), _PROTECTED + _PUBLIC)
def test_authorization_matrix(api: Api, method: str, path: str, credential: str) -> None:
    revoked_party, revoked_key = api.store.create_relying_party("Ancienne Banque", "bank")
    api.store.revoke_relying_party(revoked_party.id)
    headers = {
        "none": {},
        "malformed": {"Authorization": "Basic dXNlcjpwYXNz"},
        "unknown": {"Authorization": "Bearer vrp_" + "A" * 43},
        "revoked": {"Authorization": f"Bearer {revoked_key}"},
        "valid": {"Authorization": f"Bearer {api.key}"},
    }[credential]
    body = _BODIES.get(path) or {"applicants": [{"email": "nobody@example.net"}]}
    answer = api.client.request(
        method, path, headers=headers, json=body if method == "POST" else None
    )
    if (method, path) in _PUBLIC or credential == "valid":
        assert answer.status_code == 200, answer.text
    else:
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        assert answer.json()["error"]["code"] == "unauthorized"
        assert revoked_key not in answer.text


def test_the_rate_limit_answers_429_with_retry_after(
    database_url: str, fingerprint_key: FingerprintKey
) -> None:
    store = open_store(database_url)
    _, key = store.create_relying_party("Petite Banque", "bank", rate_limit=10)
    store.close()
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(_app(database_url, fingerprint_key)) as client:
        answers = [
            client.post("/v1/checks", json={"email": "a@example.net"}, headers=headers)
            for _ in range(2)
        ]
        assert [a.status_code for a in answers[:1]] == [200]  # a burst of 10 / 10 = 1
        limited = answers[1]
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["Retry-After"]) >= 1
        batch = {"applicants": [{"email": "a@example.net"}] * 2}
        too_big = client.post("/v1/checks/batch", json=batch, headers=headers)
        assert too_big.status_code == 429


def test_every_error_has_the_one_shape(api: Api) -> None:
    answers = [
        api.client.post("/v1/checks", json={}),  # 401
        api.client.get("/nowhere"),  # 404
        api.client.get("/v1/checks"),  # 405
        api.check({"nir": "1"}),  # 422 (ours)
        api.check({"nir": ["1"]}),  # 422 (request validation)
        api.client.post(
            "/v1/checks",
            content=b"{not json",
            headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
        ),
    ]
    for answer in answers:
        error = answer.json()["error"]
        assert set(error) <= {"code", "message", "status", "fields"}
        assert {"code", "message", "status"} <= set(error)
        assert error["status"] == answer.status_code >= 400
        assert answer.headers["content-type"] == "application/json"


def test_metrics_count_checks_by_verdict_and_sector(api: Api) -> None:
    api.check(_person(0))
    api.check({"email": "nobody@example.net"})
    text = api.client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    assert 'verrou_checks_total{sector="bank",verdict="step_up"} 1.0' in text
    assert 'verrou_checks_total{sector="bank",verdict="clear"} 1.0' in text
    assert "verrou_check_request_seconds_bucket" in text
    assert "verrou_check_group_size_count" in text
    # The breach's running totals, read from the registry's outcome counts at each scrape.
    outcome = 'verrou_breach_outcomes_total{breach="ants-2026",measure="%s",sector="bank"} %s'
    assert outcome % ("checks", "1.0") in text and outcome % ("step_up", "1.0") in text
    assert outcome % ("deny", "0.0") in text


def test_health_and_docs(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").json() == {"status": "ready"}
    assert "swagger" in api.client.get("/docs").text.lower()
    paths = api.client.get("/openapi.json").json()["paths"]
    assert {"/v1/checks", "/v1/checks/batch", "/.well-known/jwks.json"} <= set(paths)


def test_a_body_over_the_limit_is_refused_before_it_is_read_whole(api: Api) -> None:
    from verrou.api import MAX_BODY_BYTES

    body = b'{"email": "' + b"a" * MAX_BODY_BYTES + b'@example.fr"}'
    answer = api.client.post(
        "/v1/checks",
        content=body,
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "body_too_large"
