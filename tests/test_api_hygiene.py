"""Request hygiene of the check API: what a 422 may say, duplicate members, the headers every
answer carries, documentation served from the package, who may read /metrics, the burst of
the rate limit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from verrou.api import create_app
from verrou.api.runtime import RateLimiter
from verrou.errors import ConfigError
from verrou.keys import FingerprintKey
from verrou.registry.records import RelyingParty
from verrou.settings import Settings
from verrou.signing import SigningKey
from verrou.store import open_store

METRICS_TOKEN = "t" * 43

#: Submitted content that must never come back: member names as well as values.
SECRET_NAME = "nir_1_80_05_75_123_456_78"
SECRET_VALUE = "1 80 05 75 123 456 78"


@pytest.fixture
def served(
    sqlite_url: str, fingerprint_key: FingerprintKey
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    store = open_store(sqlite_url)
    _, key = store.create_relying_party("Banque Exemple", "bank")
    store.close()
    app = create_app(
        Settings(database_url=sqlite_url, recorder="thread", metrics_token=METRICS_TOKEN),
        fingerprint_key=fingerprint_key,
        signing_key=SigningKey.generate(),
    )
    with TestClient(app) as client:
        yield client, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def _error(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 422, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == "invalid_request"
    return error


@pytest.mark.parametrize(
    ("path", "body", "fields"),
    [
        ("/v1/checks", f'{{"{SECRET_NAME}": "x"}}', {"body": "unknown field"}),
        (
            "/v1/checks",
            f'{{"document": {{"type": "cni", "number": "1", "{SECRET_NAME}": 1}}}}',
            {"document": "unknown field"},
        ),
        (
            "/v1/checks",
            f'{{"postal_address": {{"line": "x", "{SECRET_NAME}": null}}}}',
            {"postal_address": "unknown field"},
        ),
        (  # a name of ours where it does not belong is not a schema path either
            "/v1/checks",
            '{"document": {"type": "cni", "number": "1", "email": "x"}}',
            {"document": "unknown field"},
        ),
        (
            "/v1/checks/batch",
            f'{{"applicants": [{{}}, {{"{SECRET_NAME}": "{SECRET_VALUE}"}}]}}',
            {"applicants.1": "unknown field"},
        ),
        (
            "/v1/checks/batch",
            f'{{"{SECRET_NAME}": []}}',
            {"applicants": "Field required", "body": "unknown field"},
        ),
        ("/v1/checks", f'{{"nir": ["{SECRET_VALUE}"]}}', {"nir": "Input should be a valid string"}),
        ("/v1/checks", f'{{"document": "{SECRET_VALUE}"}}', None),
        ("/v1/checks", f'{{"document": {{"type": "{SECRET_VALUE}", "number": "1"}}}}', None),
        ("/v1/checks", f'{{"nir": "{SECRET_VALUE}" "{SECRET_NAME}"}}', {"body": "not valid JSON"}),
        ("/v1/checks", f'["{SECRET_VALUE}"]', None),
        (  # pydantic's sentence would say how many were sent
            "/v1/checks/batch",
            '{"applicants": [' + ",".join(["{}"] * 173) + "]}",
            {"applicants": "at most 100 items"},
        ),
    ],
)
def test_a_422_never_quotes_a_submitted_member_name_or_value(
    served: tuple[TestClient, dict[str, str]],
    path: str,
    body: str,
    fields: dict[str, str] | None,
) -> None:
    client, headers = served
    answer = client.post(path, content=body.encode(), headers=headers)
    error = _error(answer)
    if fields is not None:
        assert error["fields"] == fields
    for secret in (SECRET_NAME, SECRET_VALUE, "80 05", "173", "input", "url", "ctx"):
        assert secret not in answer.text
    # Every field named is one of our schema's paths (names we defined, positions).
    for name in error["fields"]:
        assert re.fullmatch(r"[a-z_]+(\.([a-z_]+|\d+))*", name), name


def test_a_body_that_is_not_utf8_or_nested_without_end_is_a_422(
    served: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = served
    for body in (b'{"nir": "\xff\xfe"}', b"[" * 100_000 + b"]" * 100_000):
        assert _error(client.post("/v1/checks", content=body, headers=headers))["fields"] == {
            "body": "not UTF-8 text" if body.startswith(b"{") else "nested too deeply"
        }


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/checks", '{"email": "a@example.net", "email": "b@example.net"}'),
        ("/v1/checks", '{"document": {"type": "cni", "type": "passport", "number": "1"}}'),
        ("/v1/checks/batch", '{"applicants": [{"email": "a@example.net"}], "applicants": []}'),
        ("/v1/checks/batch", '{"applicants": [{"phone": "0612345678", "phone": "0700000000"}]}'),
    ],
)
def test_duplicate_members_are_refused_at_any_depth_not_last_one_wins(
    served: tuple[TestClient, dict[str, str]], path: str, body: str
) -> None:
    client, headers = served
    answer = client.post(path, content=body.encode(), headers=headers)
    assert _error(answer)["fields"] == {"body": "duplicate member"}
    assert "example.net" not in answer.text and "0700000000" not in answer.text


def _assert_hardened(answer: Any) -> None:
    assert answer.headers["cache-control"] == "no-store", answer.request.url
    assert answer.headers["x-content-type-options"] == "nosniff", answer.request.url


def test_every_answer_has_no_store_and_nosniff_verdicts_and_errors_alike(
    served: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = served
    metrics = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    answers = [
        client.post("/v1/checks", json={"email": "a@example.net"}, headers=headers),
        client.post("/v1/checks/batch", json={"applicants": [{}]}, headers=headers),
        client.post(
            "/v1/checks/batch", json={"applicants": [{"email": "a@example.net"}]}, headers=headers
        ),
        client.post("/v1/checks", json={}),
        client.post("/v1/checks", content=b"{", headers=headers),
        client.post("/v1/checks", content=b"x" * (600 * 1024), headers=headers),
        client.get("/v1/checks"),
        client.get("/nowhere"),
        client.get("/healthz"),
        client.get("/readyz"),
        client.get("/.well-known/jwks.json"),
        client.get("/openapi.json"),
        client.get("/docs"),
        client.get("/docs/assets/swagger-ui.css"),
        client.get("/metrics", headers=metrics),
        client.get("/metrics"),
    ]
    statuses = {answer.status_code for answer in answers}
    assert {200, 401, 404, 405, 413, 422} <= statuses
    for answer in answers:
        _assert_hardened(answer)


def test_docs_load_nothing_from_a_public_cdn(served: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = served
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle" in page.text
    # Every URL the page loads is on this server: no scheme, no host.
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(
        r"url: '([^']+)'", page.text
    )
    assert len(sources) >= 4, sources
    for source in sources:
        assert source.startswith("/") and not source.startswith("//"), source
        asset = client.get(source)
        assert asset.status_code == 200, source
        assert len(asset.content) > 1000, source
    assert not re.search(r"https?://", page.text.replace("http://www.w3.org", ""))
    assert '"validatorUrl": null' in page.text  # its badge would be fetched from swagger.io
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self' 'sha256-" in policy
    assert "http" not in policy and "*" not in policy
    assert client.get("/docs/assets/..%2F..%2Fpyproject.toml").status_code == 404
    assert client.get("/docs/assets/swagger-ui.js.map").status_code == 404
    assert client.get("/redoc").status_code == 404  # redoc would load from a CDN: not served


def test_metrics_are_open_only_to_the_metrics_token(
    served: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = served
    client.post("/v1/checks", json={"email": "a@example.net"}, headers=headers)
    good = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert good.status_code == 200
    assert 'verrou_checks_total{sector="bank",verdict="clear"} 1.0' in good.text
    for refused in (
        {},
        {"Authorization": headers["Authorization"]},  # an API key is not the metrics token
        {"Authorization": f"Bearer {METRICS_TOKEN}x"},
        {"Authorization": f"Basic {METRICS_TOKEN}"},
    ):
        answer = client.get("/metrics", headers=refused)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthorized"
        assert "verrou_checks" not in answer.text


def test_metrics_without_a_token_set_are_open_to_nobody(
    sqlite_url: str, fingerprint_key: FingerprintKey
) -> None:
    app = create_app(
        Settings(database_url=sqlite_url, recorder="thread"),
        fingerprint_key=fingerprint_key,
        signing_key=SigningKey.generate(),
    )
    with TestClient(app) as client:
        for headers in ({}, {"Authorization": f"Bearer {METRICS_TOKEN}"}):
            answer = client.get("/metrics", headers=headers)
            assert answer.status_code == 404
            assert answer.json()["error"]["code"] == "not_found"
            assert "verrou_" not in answer.text


def test_a_weak_metrics_token_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="VERROU_METRICS_TOKEN"):
        Settings.from_env({"VERROU_METRICS_TOKEN": "short"})
    assert Settings.from_env({"VERROU_METRICS_TOKEN": METRICS_TOKEN}).metrics_token == (
        METRICS_TOKEN
    )


def _party(limit: int) -> RelyingParty:
    store = open_store("sqlite:///:memory:")
    try:
        party, _ = store.create_relying_party("Banque", "bank", rate_limit=limit)
    finally:
        store.close()
    return party


@pytest.mark.parametrize(("limit", "burst"), [(1, 1), (10, 1), (600, 60), (6000, 600)])
def test_the_burst_is_a_tenth_of_a_minute_not_a_whole_minute(limit: int, burst: int) -> None:
    now = [1000.0]
    limiter = RateLimiter(600, lambda: now[0])
    party = _party(limit)
    assert all(limiter.take(party, 1) is None for _ in range(burst))
    wait = limiter.take(party, 1)
    assert wait is not None and wait == pytest.approx(60 / limit)
    now[0] += 60 / limit * 1.001  # one check's worth of time: one more check
    assert limiter.take(party, 1) is None
    assert limiter.take(party, 1) is not None
    # A batch larger than the burst waits for a full bucket, then passes and leaves it in
    # debt: the next check waits until the refill has paid for the whole batch.
    wait = limiter.take(party, burst + 1)
    assert wait is not None and wait == pytest.approx(burst * 60 / limit, rel=1e-3)
    now[0] += wait * 1.001
    assert limiter.take(party, burst + 1) is None
    wait = limiter.take(party, 1)
    assert wait is not None and wait == pytest.approx(2 * 60 / limit)  # one of debt, one asked


def test_a_batch_of_100_passes_at_the_default_limit_and_the_average_stays_under_it() -> None:
    now = [1000.0]
    limiter = RateLimiter(600, lambda: now[0])
    party = _party(600)
    sent = 0
    for _ in range(600):  # ten simulated minutes, one attempt a second
        if limiter.take(party, 100) is None:
            sent += 100
        now[0] += 1.0
    assert sent >= 100
    assert sent <= 600 * 10 + 100  # never more than the limit, plus the one batch of debt


def test_the_readme_states_the_burst_the_code_allows() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert "bursts up to a tenth of it" in readme
    assert RateLimiter(600).capacity(600) == 60
