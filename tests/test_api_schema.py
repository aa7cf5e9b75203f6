"""Schemathesis against the app's own OpenAPI document, in process over ASGI.

Every operation gets generated requests, valid and invalid, with a valid API key: no answer
may be a 5xx, and each must match what the document declares (status code, content type,
body schema). The backend is a real SQLite registry holding the test leak.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import LEAKED_PEOPLE, ingest_leak
from verrou.api import create_app
from verrou.api.breaches import router as breaches_router
from verrou.api.citizen_auth import router as citizen_router
from verrou.api.citizens import router as citizens_router
from verrou.api.hibp import router as hibp_router
from verrou.api.lookups import router as lookup_router
from verrou.api.reports import citizen_router as reports_citizen_router
from verrou.api.reports import party_router as reports_party_router
from verrou.api.routes import router
from verrou.fingerprints import Fingerprinter
from verrou.keys import FingerprintKey, key_id_for
from verrou.lookup.protocol import OprfKey
from verrou.settings import Settings
from verrou.signing import SigningKey
from verrou.store import open_store

CHECKED_OPERATIONS = ("/v1/checks", "/v1/checks/batch")
HIBP_ACCOUNT = "/api/v3/breachedaccount/{account}"
BREACH_PAGE = "/v1/breaches/{name}"
DECLARED_ERRORS = ("401", "422", "429", "503")


@pytest.fixture(scope="module")
def api_key_and_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FastAPI]]:
    """An app over a SQLite registry holding the test leak, and a relying party's API key."""
    folder = tmp_path_factory.mktemp("api-schema")
    secret = bytes(range(32))
    key = FingerprintKey(key_id=key_id_for(secret), secret=secret)
    url = f"sqlite:///{folder / 'registry.sqlite3'}"
    store = open_store(url)
    try:
        ingest_leak(store, Fingerprinter(key), folder)
        _, api_key = store.create_relying_party("Banque Exemple", "bank")
    finally:
        store.close()
    # A generous rate limit: the generated requests should reach the checks, not the limiter.
    app_settings = Settings.from_env(
        {},
        database_url=url,
        rate_limit=10_000_000,
        lookup_rate_limit=100_000,
        lookup_global_rate_limit=10_000_000,
    )
    yield (
        api_key,
        create_app(
            app_settings,
            fingerprint_key=key,
            signing_key=SigningKey.generate(),
            oprf_key=OprfKey.from_seed(bytes(range(32))),
        ),
    )


@pytest.fixture(scope="module")
def api_key(api_key_and_app: tuple[str, FastAPI]) -> str:
    return api_key_and_app[0]


@pytest.fixture(scope="module")
def api_schema(api_key_and_app: tuple[str, FastAPI]) -> Any:
    # from_asgi runs the app's lifespan (store, check runner) around the requests it sends.
    return schemathesis.openapi.from_asgi("/openapi.json", api_key_and_app[1])


def _keyed(api_key: str) -> dict[str, str]:
    """The relying party's key as the check API takes it, and as the HIBP routes take it."""
    return {"Authorization": f"Bearer {api_key}", "hibp-api-key": api_key}


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

#: Every operation the app serves, taken from its router (the document is checked to list
#: exactly these below). schemathesis.pytest.from_fixture is not used: with pytest 9 it fails
#: on Function._nodeid, so each operation gets its own Hypothesis test from as_strategy().
ROUTES = [
    route
    for route in [
        *router.routes,
        *citizen_router.routes,
        *citizens_router.routes,
        *reports_citizen_router.routes,
        *reports_party_router.routes,
        *lookup_router.routes,
        *hibp_router.routes,
        *breaches_router.routes,
    ]
    if isinstance(route, APIRoute) and route.include_in_schema
]
OPERATIONS = sorted((method, route.path) for route in ROUTES for method in route.methods)


def _takes_input(route: APIRoute) -> bool:
    dependant = route.dependant
    return bool(
        route.body_field
        or (route.openapi_extra or {}).get("requestBody")  # a body the route parses itself
        or dependant.query_params
        or dependant.path_params
        or dependant.header_params
        or dependant.cookie_params
    )


#: (method, path, mode): valid requests for every operation, invalid ones where there is an
#: input to make invalid (an operation without any has no negative case to generate).
CASES = sorted(
    (method, route.path, mode)
    for route in ROUTES
    for method in route.methods
    for mode in (
        [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
        if _takes_input(route)
        else [GenerationMode.POSITIVE]
    )
)


def test_the_document_lists_every_routed_operation(api_schema: Any) -> None:
    listed = sorted(
        (operation.ok().method.upper(), operation.ok().path)
        for operation in api_schema.get_all_operations()
    )
    assert listed == OPERATIONS


@pytest.mark.parametrize(
    ("method", "path", "mode"), CASES, ids=[f"{m} {p} {mode.value}" for m, p, mode in CASES]
)
def test_every_operation_conforms_to_its_schema(
    api_schema: Any, api_key: str, method: str, path: str, mode: GenerationMode
) -> None:
    """Generated requests (valid ones, and invalid ones for the negative mode) never get a
    5xx and always get an answer the document declares."""
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_declared(case: Any) -> None:
        case.call_and_validate(headers=_keyed(api_key), checks=CHECKS)

    answers_as_declared()


def test_verdicts_of_both_check_operations_conform(api_schema: Any, api_key: str) -> None:
    """Generated applicants are almost always refused by the domain (422), so the 200 answers
    are pinned here with known people: a leaked one (step_up) and a stranger (clear)."""
    family, given_names, birth, email, _ = LEAKED_PEOPLE[1]
    leaked = {"family_name": family, "given_names": given_names, "birth_date": birth}
    stranger = {"family_name": "Martin", "given_names": "Paul", "birth_date": "1964-02-29"}
    headers = {"Authorization": f"Bearer {api_key}"}

    single = api_schema["/v1/checks"]["POST"].Case(body={**leaked, "email": email})
    answer = single.call_and_validate(headers=headers, checks=CHECKS)
    assert answer.status_code == 200
    assert answer.json()["verdict"] == "step_up"

    batch = api_schema["/v1/checks/batch"]["POST"].Case(body={"applicants": [leaked, stranger]})
    answer = batch.call_and_validate(headers=headers, checks=CHECKS)
    assert answer.status_code == 200
    assert [r["verdict"] for r in answer.json()["results"]] == ["step_up", "clear"]


@pytest.mark.parametrize(
    ("query", "status"),
    [({}, 200), ({"truncateResponse": "false"}, 200), ({"domain": "example.org"}, 404)],
)
def test_hibp_account_searches_conform(
    api_schema: Any, api_key: str, query: dict[str, str], status: int
) -> None:
    """A leaked address's search (truncated, full) and one that finds nothing (an empty 404):
    generated accounts are almost never leaked, so these answers are pinned here."""
    email = LEAKED_PEOPLE[1][3]
    case = api_schema[HIBP_ACCOUNT]["GET"].Case(path_parameters={"account": email}, query=query)
    answer = case.call_and_validate(headers=_keyed(api_key), checks=CHECKS)
    assert answer.status_code == status
    if status == 200:
        assert [breach["Name"] for breach in answer.json()] == ["ants-2026"]


def test_a_breach_page_conforms(api_schema: Any) -> None:
    """Generated names are almost never a breach's: the page of one is pinned here, asked
    without any key (the breach pages are public)."""
    case = api_schema[BREACH_PAGE]["GET"].Case(path_parameters={"name": "ants-2026"})
    answer = case.call_and_validate(checks=CHECKS)
    assert answer.status_code == 200
    assert answer.json()["name"] == "ants-2026"


def test_openapi_declares_bearer_auth_and_error_answers(
    api_key_and_app: tuple[str, FastAPI],
) -> None:
    document = api_key_and_app[1].openapi()
    schemes = document["components"]["securitySchemes"]
    bearer = [
        name
        for name, scheme in schemes.items()
        if scheme.get("type") == "http" and str(scheme.get("scheme")).lower() == "bearer"
    ]
    assert len(bearer) == 1, schemes
    error_ref = "#/components/schemas/ErrorOut"
    error_body = document["components"]["schemas"]["ErrorBody"]
    assert set(error_body["required"]) == {"code", "message", "status"}
    assert document["components"]["schemas"]["ErrorOut"]["required"] == ["error"]
    for path in CHECKED_OPERATIONS:
        operation = document["paths"][path]["post"]
        assert operation["security"] == [{bearer[0]: []}], path
        for status in DECLARED_ERRORS:
            response = operation["responses"][status]
            assert response["content"]["application/json"]["schema"] == {"$ref": error_ref}, (
                path,
                status,
            )
            assert response["description"], (path, status)
