"""Citizen sign-in against a real OpenID provider on loopback (oidc-provider-mock), end to end.

The provider is real: discovery, its authorization page (completed by posting the subject, as
its form does), its token endpoint, JWKS and userinfo. What a test controls is the citizen's
claims at the provider (``PUT /users/{sub}``; claims set there also override the ID token's
own, which is how a wrong nonce, audience or issuer is arranged) and, for tampering, the hop
between verrou and the provider (:class:`ProviderHop`, an httpx transport that passes every
request on and can rewrite one answer, as a hostile network or a FranceConnect-shaped
provider would). The clock of the sessions is the test's (:class:`Clock`). verrou runs in
process (starlette's TestClient) over a real SQLite file, and over PostgreSQL where marked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import psycopg
import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from oidc_provider_mock import run_server_in_thread

from verrou.api import create_app
from verrou.api.citizen_auth import (
    CSRF_HEADER,
    CitizenSession,
    citizen_auth_from,
    recent_citizen_session,
)
from verrou.errors import ConfigError, Conflict, SignInFailed
from verrou.keys import FingerprintKey
from verrou.oidc import OidcClient, VerifiedClaims, verified_claims
from verrou.registry.contacts import create_contact_key_file
from verrou.registry.sessions import (
    CitizenSessionRecord,
    SessionKey,
    create_session_key_file,
    open_token,
    seal_token,
    secret_hash,
)
from verrou.settings import Settings
from verrou.signing import SigningKey
from verrou.store import open_store

CLIENT_ID = "verrou-test"
CLIENT_SECRET = "client-secret-" + "x" * 32  # long enough to key an HS256 forgery
PUBLIC_URL = "http://127.0.0.1:8000"  # the default; a TestClient base URL as well
#: The test provider gives names under the standard scopes, not FranceConnect's per-claim ones.
SCOPE = "openid profile email"

#: A citizen as the provider knows them. Distinctive values, so that finding one anywhere
#: (database, logs, error bodies) cannot be a coincidence.
IDENTITY: dict[str, str] = {
    "given_name": "Aurélien Bastien",
    "family_name": "Quérillac",
    "preferred_username": "Vasseur-Ombredane",
    "birthdate": "1983-07-21",
    "birthplace": "2A004",
    "birthcountry": "99100",
    "gender": "male",
    "email": "aurelien.querillac@example.fr",
}
PERSONAL = ("Aurélien", "Bastien", "Quérillac", "Vasseur-Ombredane", "1983-07-21", "querillac")
DISPLAY_NAME = "Aurélien Bastien Vasseur-Ombredane"


def _encodings(value: str) -> list[bytes]:
    """How a value could sit in bytes: UTF-8, JSON-escaped, hex (PostgreSQL's bytea text)."""
    encoded = value.encode()
    escaped = json.dumps(value)[1:-1].encode()
    return [encoded, escaped, encoded.hex().encode()]


def assert_nothing_personal(text: str | bytes, where: str) -> None:
    data = text.encode() if isinstance(text, str) else text
    for value in PERSONAL:
        for form in _encodings(value):
            assert form not in data, f"{value!r} found in {where}"


# --- the provider, the hop, the clock ---------------------------------------------------------


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """A real OpenID provider on a free loopback port: its issuer URL."""
    with run_server_in_thread(port=0) as server:
        yield f"http://localhost:{server.server_port}"


def put_user(provider: str, **claims: Any) -> str:
    """A new subject at the provider with :data:`IDENTITY`, ``acr`` eidas2 and the ``claims``
    given (None removes one): its ``sub``."""
    sub = f"sub-{secrets.token_hex(6)}"
    body: dict[str, Any] = {**IDENTITY, "acr": "eidas2", **claims}
    body = {name: value for name, value in body.items() if value is not None}
    answer = httpx.put(f"{provider}/users/{sub}", json=body, timeout=5)
    assert answer.status_code == 204, answer.text
    return sub


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


@dataclass
class ProviderHop(httpx.AsyncBaseTransport):
    """The network between verrou and the provider: passes every request on, records what
    verrou sent, and rewrites the ID token, the userinfo answer or the key set when told."""

    id_token: Callable[[str], str] | None = None
    discovery: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    userinfo: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    extra_keys: list[dict[str, Any]] = field(default_factory=list)
    sent: list[httpx.Request] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        async with httpx.AsyncHTTPTransport() as network:
            answer = await network.handle_async_request(request)
            await answer.aread()
        path = request.url.path
        if path == "/oauth2/token" and self.id_token is not None and answer.status_code == 200:
            body = json.loads(answer.content)
            body["id_token"] = self.id_token(body["id_token"])
            return httpx.Response(200, json=body)
        if path.endswith("/openid-configuration") and self.discovery is not None:
            return httpx.Response(200, json=self.discovery(json.loads(answer.content)))
        if path == "/userinfo" and self.userinfo is not None and answer.status_code == 200:
            return httpx.Response(200, json=self.userinfo(json.loads(answer.content)))
        if path == "/jwks" and self.extra_keys:
            keys = json.loads(answer.content)
            keys["keys"] = [*keys["keys"], *self.extra_keys]
            return httpx.Response(200, json=keys)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    async def aclose(self) -> None:
        """Each request opened and closed its own connection: nothing to close."""


class Clock:
    """The sessions' clock: the real time, moved forward when a test says so."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


# --- verrou, and a citizen's browser --------------------------------------------------------


@dataclass
class Verrou:
    client: TestClient
    hop: ProviderHop
    clock: Clock
    provider: str
    database_url: str

    def login(self) -> httpx.Response:
        answer = self.client.get("/v1/citizen/login", follow_redirects=False)
        assert answer.status_code == 302, answer.text
        return answer

    def authorize(self, sub: str) -> str:
        """Follow the sign-in to the provider and sign in there as ``sub``: the callback URL
        the provider sends the browser back to."""
        location = self.login().headers["location"]
        approved = httpx.post(location, data={"sub": sub}, follow_redirects=False, timeout=5)
        assert approved.status_code == 302, approved.text
        callback: str = approved.headers["location"]
        assert callback.startswith(PUBLIC_URL + "/v1/citizen/callback?")
        return callback

    def sign_in(self, sub: str) -> httpx.Response:
        return self.client.get(self.authorize(sub), follow_redirects=False)

    def signed_in(self, sub: str) -> dict[str, Any]:
        answer = self.sign_in(sub)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def stored(self) -> bytes:
        """Every byte the registry holds: the SQLite files, or every PostgreSQL row as text."""
        if self.database_url.startswith("sqlite:///"):
            path = Path(self.database_url.removeprefix("sqlite:///"))
            return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        with psycopg.connect(self.database_url) as db:
            tables = db.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            ).fetchall()
            rows = [
                str(row[0])
                for (table,) in tables
                for row in db.execute(f'SELECT t::text FROM "{table}" t').fetchall()
            ]
        return "\n".join(rows).encode()


def _settings(database_url: str, provider: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "recorder": "thread",
        "public_url": PUBLIC_URL,
        "oidc_scope": SCOPE,
    }
    if provider is not None:
        values |= {
            "oidc_issuer": provider,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": CLIENT_SECRET,
        }
    return Settings.from_env({}, **(values | overrides))


@pytest.fixture
def make_verrou(
    provider: str, fingerprint_key: FingerprintKey, tmp_path: Path
) -> Iterator[Callable[..., Verrou]]:
    """Start verrou on ``database_url`` against the provider; settings may be overridden;
    ``base_url`` is the browser's view of it. A sensitive route is added for the tests of
    :func:`require_recent` (POST /test/sensitive)."""
    stack: list[TestClient] = []
    key_file = tmp_path / "keys" / "session.key"
    create_session_key_file(key_file)
    contact_key_file = tmp_path / "keys" / "contact.key"
    create_contact_key_file(contact_key_file)

    def make(database_url: str, base_url: str = PUBLIC_URL, **overrides: Any) -> Verrou:
        settings = _settings(
            database_url,
            provider,
            session_key_file=key_file,
            contact_key_file=contact_key_file,
            **({"public_url": base_url} | overrides),
        )
        hop, clock = ProviderHop(), Clock()
        citizen = citizen_auth_from(settings, transport=hop, clock=clock)
        app = create_app(
            settings,
            fingerprint_key=fingerprint_key,
            signing_key=SigningKey.generate(),
            citizen_auth=citizen,
        )

        @app.post("/test/sensitive")
        async def sensitive(
            current: CitizenSession = Depends(recent_citizen_session),  # noqa: B008
        ) -> dict[str, str]:
            return {"citizen_id": current.citizen_id}

        client = TestClient(app, base_url=base_url)
        client.__enter__()
        stack.append(client)
        return Verrou(client, hop, clock, provider, database_url)

    try:
        yield make
    finally:
        for client in reversed(stack):
            client.__exit__(None, None, None)


@pytest.fixture
def verrou(make_verrou: Callable[..., Verrou], sqlite_url: str) -> Verrou:
    return make_verrou(sqlite_url)


def _cookies(answer: httpx.Response) -> dict[str, str]:
    """Each Set-Cookie header of an answer by cookie name, whole."""
    return {header.split("=", 1)[0]: header for header in answer.headers.get_list("set-cookie")}


def cookie_header(name: str, value: str) -> dict[str, str]:
    """A Cookie header sending only this cookie (as a thief replaying a copied one would)."""
    return {"Cookie": f"{name}={value}"}


def _error(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == code, error
    assert_nothing_personal(answer.text, "an error body")
    return error


# --- the happy path ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_citizen_signs_in_and_nothing_personal_is_kept_or_logged(
    backend: str,
    make_verrou: Callable[..., Verrou],
    provider: str,
    sqlite_url: str,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = sqlite_url if backend == "sqlite" else request.getfixturevalue("postgres_url")
    verrou = make_verrou(url)
    sub = put_user(provider)

    login = verrou.login()
    sent_to = urlsplit(login.headers["location"])
    query = {name: values[0] for name, values in parse_qs(sent_to.query).items()}
    assert f"{sent_to.scheme}://{sent_to.netloc}" == provider
    assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == PUBLIC_URL + "/v1/citizen/callback"
    assert query["scope"] == SCOPE and query["acr_values"] == "eidas1 eidas2 eidas3"
    assert query["code_challenge_method"] == "S256"
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    sign_in_cookie = _cookies(login)["verrou_sign_in"]
    for attribute in ("HttpOnly", "Max-Age=600", "Path=/v1/citizen/callback", "SameSite=lax"):
        assert attribute in sign_in_cookie, sign_in_cookie
    assert "Secure" not in sign_in_cookie  # plain http on loopback
    assert query["state"] not in sign_in_cookie and query["nonce"] not in sign_in_cookie

    approved = httpx.post(login.headers["location"], data={"sub": sub}, follow_redirects=False)
    answer = verrou.client.get(approved.headers["location"], follow_redirects=False)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    # The registry's own sign-in: a random id, the same on every sign-in of this account.
    assert re.fullmatch(r"ct-[0-9a-f]{24}", body["citizen_id"])
    assert set(body) == {"citizen_id", "expires_at", "csrf_token"}
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(minutes=60)
    assert answer.headers["cache-control"] == "no-store"
    cookies = _cookies(answer)
    session_cookie = cookies["verrou_session"]
    for attribute in ("HttpOnly", "Max-Age=3600", "Path=/", "SameSite=lax"):
        assert attribute in session_cookie, session_cookie
    assert "Secure" not in session_cookie
    assert "Max-Age=0" in cookies["verrou_sign_in"]  # the sign-in in progress is over

    # PKCE: the token request proved the verifier behind the challenge.
    (exchange,) = [r for r in verrou.hop.sent if r.url.path == "/oauth2/token"]
    verifier = parse_qs(exchange.content.decode())["code_verifier"][0]
    challenge = _b64(hashlib.sha256(verifier.encode()).digest())
    assert challenge == query["code_challenge"]
    assert exchange.headers["authorization"].startswith("Basic ")  # client_secret_basic

    who = verrou.client.get("/v1/citizen/session")
    assert who.status_code == 200, who.text
    assert who.json() == {
        "citizen_id": body["citizen_id"],
        "display_name": DISPLAY_NAME,
        "acr": "eidas2",
        "auth_time": who.json()["auth_time"],
        "expires_at": who.json()["expires_at"],
        "via": "cookie",
    }

    assert_nothing_personal(verrou.stored(), f"the {backend} registry")
    assert_nothing_personal(caplog.text, "the logs")
    assert any("signed in" in r.getMessage() for r in caplog.records if r.name.startswith("verrou"))


def test_over_https_the_cookies_are_secure_and_host_prefixed(
    make_verrou: Callable[..., Verrou], provider: str, sqlite_url: str
) -> None:
    verrou = make_verrou(sqlite_url, base_url="https://verrou.test")
    sign_in_cookie = _cookies(verrou.login())["__Secure-verrou_sign_in"]
    assert "Secure" in sign_in_cookie and "Path=/v1/citizen/callback" in sign_in_cookie
    location = verrou.login().headers["location"]
    assert parse_qs(urlsplit(location).query)["redirect_uri"] == [
        "https://verrou.test/v1/citizen/callback"
    ]
    approved = httpx.post(location, data={"sub": put_user(provider)}, follow_redirects=False)
    answer = verrou.client.get(approved.headers["location"])
    assert answer.status_code == 200, answer.text
    session_cookie = _cookies(answer)["__Host-verrou_session"]
    for attribute in ("Secure", "HttpOnly", "Path=/", "SameSite=lax", "Max-Age=3600"):
        assert attribute in session_cookie
    assert "Domain" not in session_cookie


def test_identity_comes_from_userinfo_when_the_id_token_lacks_it(
    verrou: Verrou, provider: str
) -> None:
    """FranceConnect's shape: the ID token carries no identity; userinfo does. The hop
    re-issues the provider's ID token without identity claims, signed by a key it publishes."""
    hop_key = RSAKey.generate_key(2048, parameters={"kid": "hop-1"})
    verrou.hop.extra_keys.append(hop_key.as_dict(private=False))

    def without_identity(token: str) -> str:
        claims = {k: v for k, v in _payload(token).items() if k not in IDENTITY}
        return jwt.encode({"alg": "RS256", "kid": "hop-1"}, claims, hop_key)

    verrou.hop.id_token = without_identity
    verrou.signed_in(put_user(provider))
    assert [r.url.path for r in verrou.hop.sent if r.url.path == "/userinfo"] == ["/userinfo"]
    assert verrou.client.get("/v1/citizen/session").json()["display_name"] == DISPLAY_NAME

    # A userinfo answer about someone else is never used.
    verrou.hop.userinfo = lambda info: {**info, "sub": "someone-else"}
    error = _error(verrou.sign_in(put_user(provider)), 401, "sign_in_failed")
    assert "another subject" in error["message"]


# --- what a sign-in refuses -------------------------------------------------------------------


def test_a_callback_without_the_browsers_sign_in_or_with_another_state_is_refused(
    verrou: Verrou, provider: str, make_verrou: Callable[..., Verrou], sqlite_url: str
) -> None:
    callback = verrou.authorize(put_user(provider))
    parts = urlsplit(callback)
    query = parse_qs(parts.query)
    forged = f"{PUBLIC_URL}{parts.path}?code={query['code'][0]}&state={'x' * 43}"
    error = _error(verrou.client.get(forged), 401, "sign_in_failed")
    assert "state" in error["message"]

    # Another browser (no sign-in cookie: a login CSRF) cannot use this callback at all.
    stranger = make_verrou(sqlite_url)
    error = _error(stranger.client.get(callback), 401, "sign_in_failed")
    assert "no sign-in in progress" in error["message"]

    # The provider said no.
    denied = f"{PUBLIC_URL}{parts.path}?error=access_denied&state={query['state'][0]}"
    error = _error(verrou.client.get(denied), 401, "sign_in_failed")
    assert "access_denied" in error["message"]


def test_a_sign_in_cookie_older_than_ten_minutes_is_refused(verrou: Verrou, provider: str) -> None:
    callback = verrou.authorize(put_user(provider))
    verrou.clock.advance(minutes=11)
    error = _error(verrou.client.get(callback), 401, "sign_in_failed")
    assert "took too long" in error["message"]


def test_a_replayed_code_is_refused_by_the_provider(verrou: Verrou, provider: str) -> None:
    callback = verrou.authorize(put_user(provider))
    sign_in_cookie = verrou.client.cookies.get("verrou_sign_in")
    assert sign_in_cookie is not None
    assert verrou.client.get(callback).status_code == 200
    # The same browser state again (as an attacker who copied it would send it): the code is
    # spent at the provider.
    replayed = verrou.client.get(callback, headers=cookie_header("verrou_sign_in", sign_in_cookie))
    error = _error(replayed, 401, "sign_in_failed")
    assert "invalid_grant" in error["message"]


@pytest.mark.parametrize(
    ("override", "claim"),
    [
        ({"nonce": "a-nonce-from-another-sign-in"}, "nonce"),
        ({"aud": "another-client"}, "aud"),
        ({"iss": "https://impostor.example"}, "iss"),
        ({"azp": "another-client"}, "azp"),
        ({"exp": 1_000_000_000}, "expired"),
        ({"iat": 1_000_000_000}, "too long ago"),
        ({"auth_time": -(10**12)}, "auth_time"),
        ({"auth_time": 4_000_000_000}, "auth_time"),
    ],
    ids=["nonce", "aud", "iss", "azp", "exp", "iat", "auth_time-absurd", "auth_time-future"],
)
def test_an_id_token_with_a_wrong_claim_is_refused(
    verrou: Verrou, provider: str, override: dict[str, Any], claim: str
) -> None:
    # Claims set at the provider override the ID token's own: the provider itself signs them.
    error = _error(verrou.sign_in(put_user(provider, **override)), 401, "sign_in_failed")
    assert claim in error["message"]


def _foreign_key(token: str) -> str:
    return jwt.encode({"alg": "RS256"}, _payload(token), RSAKey.generate_key(2048))


def _unknown_kid(token: str) -> str:
    return jwt.encode(
        {"alg": "RS256", "kid": "attacker"}, _payload(token), RSAKey.generate_key(2048)
    )


def _alg_none(token: str) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{token.split('.')[1]}."


def _mac_with_client_secret(token: str) -> str:
    key = OctKey.import_key(CLIENT_SECRET.encode())
    return jwt.encode({"alg": "HS256"}, _payload(token), key, algorithms=["HS256"])


def _altered_payload(token: str) -> str:
    header, _, signature = token.split(".")
    claims = {**_payload(token), "sub": "sub-of-someone-else"}
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


@pytest.mark.parametrize(
    ("tamper", "said"),
    [
        (_foreign_key, "does not verify"),
        (_unknown_kid, "key the provider does not publish"),
        (_alg_none, "does not verify"),
        (_mac_with_client_secret, "does not verify"),
        (_altered_payload, "does not verify"),
        (lambda token: "not-a-jwt", "not a valid JWT"),
    ],
    ids=["foreign-key", "unknown-kid", "alg-none", "hs256-client-secret", "altered", "garbage"],
)
def test_a_tampered_id_token_is_refused(
    verrou: Verrou, provider: str, tamper: Callable[[str], str], said: str
) -> None:
    verrou.hop.id_token = tamper
    error = _error(verrou.sign_in(put_user(provider)), 401, "sign_in_failed")
    assert said in error["message"], error
    assert verrou.client.cookies.get("verrou_session") is None


def test_an_assurance_level_not_accepted_is_refused(
    make_verrou: Callable[..., Verrou], provider: str, sqlite_url: str
) -> None:
    verrou = make_verrou(sqlite_url, oidc_acr="eidas2 eidas3")
    assert "acr_values=eidas2+eidas3" in verrou.login().headers["location"]
    error = _error(verrou.sign_in(put_user(provider, acr="eidas1")), 403, "insufficient_assurance")
    assert "eidas1 is not accepted" in error["message"]
    error = _error(verrou.sign_in(put_user(provider, acr=None)), 403, "insufficient_assurance")
    assert "does not state" in error["message"]
    assert verrou.signed_in(put_user(provider, acr="eidas3"))["citizen_id"].startswith("ct-")


def test_missing_or_malformed_identity_claims_are_named_never_quoted(
    verrou: Verrou, provider: str
) -> None:
    error = _error(verrou.sign_in(put_user(provider, birthdate=None)), 401, "sign_in_failed")
    assert error["message"] == "the identity provider did not give: birthdate"
    error = _error(
        verrou.sign_in(put_user(provider, birthdate="1983-02-30", birthplace="Quérillac")),
        401,
        "sign_in_failed",
    )
    assert error["message"] == "the identity provider gave invalid claims: birthdate, birthplace"


def test_an_unreachable_provider_is_a_502_and_no_sign_in(
    make_verrou: Callable[..., Verrou], sqlite_url: str, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    verrou = make_verrou(sqlite_url, oidc_issuer=f"http://127.0.0.1:{port}")
    error = _error(
        verrou.client.get("/v1/citizen/login", follow_redirects=False),
        502,
        "identity_provider_unavailable",
    )
    assert "ConnectError" in error["message"]


def test_without_an_issuer_every_citizen_route_says_sign_in_is_not_configured(
    fingerprint_key: FingerprintKey, sqlite_url: str
) -> None:
    app = create_app(
        _settings(sqlite_url, None),
        fingerprint_key=fingerprint_key,
        signing_key=SigningKey.generate(),
    )
    with TestClient(app) as client:
        for method, path in [
            ("GET", "/v1/citizen/login"),
            ("GET", "/v1/citizen/callback?code=x&state=y"),
            ("GET", "/v1/citizen/session"),
            ("POST", "/v1/citizen/token"),
            ("POST", "/v1/citizen/logout"),
        ]:
            answer = client.request(method, path, follow_redirects=False)
            _error(answer, 404, "sign_in_not_configured")


def test_an_issuer_without_a_client_or_a_session_key_refuses_to_start(
    fingerprint_key: FingerprintKey, sqlite_url: str, tmp_path: Path, provider: str
) -> None:
    settings = _settings(sqlite_url, provider, oidc_client_secret=None)
    assert settings.oidc_client_secret is None
    with pytest.raises(ConfigError, match="set VERROU_OIDC_CLIENT_SECRET too"):
        create_app(settings, fingerprint_key=fingerprint_key, signing_key=SigningKey.generate())
    settings = _settings(sqlite_url, provider, session_key_file=tmp_path / "none.key")
    with pytest.raises(ConfigError, match=r"no session key at .*none\.key"):
        create_app(settings, fingerprint_key=fingerprint_key, signing_key=SigningKey.generate())


@pytest.mark.parametrize(
    ("variables", "refusal"),
    [
        ({"VERROU_OIDC_ISSUER": "http://idp.example"}, "must be https://"),
        ({"VERROU_OIDC_ISSUER": "https://idp.example/?x=1"}, "no user, password, query"),
        ({"VERROU_PUBLIC_URL": "ftp://verrou.example"}, "must be an https:// URL"),
        ({"VERROU_OIDC_ACR": "eidas2 substantial"}, "levels among eidas1 eidas2 eidas3"),
        ({"VERROU_OIDC_SCOPE": "profile email"}, "must include openid"),
        ({"VERROU_SESSION_MINUTES": "2"}, "between 5 and 1,440"),
    ],
)
def test_citizen_settings_are_validated_at_start(variables: dict[str, str], refusal: str) -> None:
    with pytest.raises(ConfigError, match=refusal):
        Settings.from_env(variables)


# --- sessions ---------------------------------------------------------------------------------


def test_a_session_expires(verrou: Verrou, provider: str) -> None:
    verrou.signed_in(put_user(provider))
    assert verrou.client.get("/v1/citizen/session").status_code == 200
    verrou.clock.advance(minutes=60, seconds=1)
    error = _error(verrou.client.get("/v1/citizen/session"), 401, "unauthorized")
    assert "expired" in error["message"]


def test_state_changing_requests_on_the_cookie_need_the_csrf_token(
    verrou: Verrou, provider: str
) -> None:
    mine = verrou.signed_in(put_user(provider))
    _error(verrou.client.post("/v1/citizen/token"), 403, "csrf_rejected")
    _error(
        verrou.client.post("/v1/citizen/token", headers={CSRF_HEADER: "x" * 43}),
        403,
        "csrf_rejected",
    )
    # Another session's CSRF token is not this one's.
    mine_cookie = cookie_header("verrou_session", verrou.client.cookies["verrou_session"])
    theirs = verrou.signed_in(put_user(provider))
    forged = {**mine_cookie, CSRF_HEADER: theirs["csrf_token"]}
    _error(verrou.client.post("/v1/citizen/logout", headers=forged), 403, "csrf_rejected")
    # Reading is not changing: no token needed.
    assert verrou.client.get("/v1/citizen/session", headers=mine_cookie).status_code == 200
    mine_csrf = {**mine_cookie, CSRF_HEADER: mine["csrf_token"]}
    answer = verrou.client.post("/v1/citizen/logout", headers=mine_csrf)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_logout_revokes_the_session_and_every_token_issued_from_it(
    backend: str,
    make_verrou: Callable[..., Verrou],
    provider: str,
    sqlite_url: str,
    request: pytest.FixtureRequest,
) -> None:
    url = sqlite_url if backend == "sqlite" else request.getfixturevalue("postgres_url")
    verrou = make_verrou(url)
    signed = verrou.signed_in(put_user(provider))
    csrf = {CSRF_HEADER: signed["csrf_token"]}
    issued = verrou.client.post("/v1/citizen/token", headers=csrf)
    assert issued.status_code == 200, issued.text
    bearer = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    cookie = cookie_header("verrou_session", verrou.client.cookies["verrou_session"])

    answer = verrou.client.post("/v1/citizen/logout", headers=csrf)
    assert answer.status_code == 200 and answer.json() == {"status": "signed_out"}
    assert "Max-Age=0" in _cookies(answer)["verrou_session"]
    assert verrou.client.cookies.get("verrou_session") is None

    # The old cookie, sent again (as a thief who copied it would), and its token: both dead.
    _error(verrou.client.get("/v1/citizen/session", headers=cookie), 401, "unauthorized")
    _error(
        verrou.client.post("/v1/citizen/logout", headers={**cookie, **csrf}), 401, "unauthorized"
    )
    _error(verrou.client.get("/v1/citizen/session", headers=bearer), 401, "unauthorized")


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_bearer_token_needs_no_csrf_token_and_expires(
    backend: str,
    make_verrou: Callable[..., Verrou],
    provider: str,
    sqlite_url: str,
    request: pytest.FixtureRequest,
) -> None:
    url = sqlite_url if backend == "sqlite" else request.getfixturevalue("postgres_url")
    verrou = make_verrou(url, citizen_token_seconds=300)
    signed = verrou.signed_in(put_user(provider))
    issued = verrou.client.post("/v1/citizen/token", headers={CSRF_HEADER: signed["csrf_token"]})
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    token = body["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    verrou.client.cookies.clear()  # a script: no cookie, no CSRF token

    who = verrou.client.get("/v1/citizen/session", headers=bearer)
    assert who.status_code == 200, who.text
    assert who.json()["via"] == "bearer" and who.json()["display_name"] == DISPLAY_NAME
    assert who.json()["citizen_id"] == signed["citizen_id"]
    # A token does not make more tokens; nor does it open as a cookie session.
    _error(verrou.client.post("/v1/citizen/token", headers=bearer), 401, "unauthorized")
    as_cookie = cookie_header("verrou_session", token)
    _error(verrou.client.get("/v1/citizen/session", headers=as_cookie), 401, "unauthorized")
    # A state-changing request with the token alone, no CSRF token: accepted.
    assert verrou.client.post("/test/sensitive", headers=bearer).status_code == 200

    verrou.clock.advance(seconds=301)
    _error(verrou.client.get("/v1/citizen/session", headers=bearer), 401, "unauthorized")
    _error(
        verrou.client.get("/v1/citizen/session", headers={"Authorization": "Basic eDp5"}),
        401,
        "unauthorized",
    )


def test_a_bearer_token_never_outlives_its_session(
    make_verrou: Callable[..., Verrou], provider: str, sqlite_url: str
) -> None:
    verrou = make_verrou(sqlite_url, session_minutes=5, citizen_token_seconds=3600)
    signed = verrou.signed_in(put_user(provider))
    issued = verrou.client.post("/v1/citizen/token", headers={CSRF_HEADER: signed["csrf_token"]})
    assert issued.json()["expires_in"] <= 300
    assert issued.json()["expires_at"] == signed["expires_at"]


def test_sensitive_operations_need_a_recent_sign_in_at_eidas2(
    verrou: Verrou, provider: str
) -> None:
    signed = verrou.signed_in(put_user(provider))
    csrf = {CSRF_HEADER: signed["csrf_token"]}
    assert verrou.client.post("/test/sensitive", headers=csrf).status_code == 200
    _error(verrou.client.post("/test/sensitive"), 403, "csrf_rejected")
    verrou.clock.advance(minutes=10, seconds=1)
    error = _error(
        verrou.client.post("/test/sensitive", headers=csrf), 403, "reauthentication_required"
    )
    assert "within the last 10 minutes" in error["message"]
    assert verrou.client.get("/v1/citizen/session").status_code == 200  # still signed in

    # Authenticated at the provider an hour ago (a long-lived provider session): not recent.
    hour_ago = int((datetime.now(UTC) - timedelta(hours=1)).timestamp())
    signed = verrou.signed_in(put_user(provider, auth_time=hour_ago))
    _error(
        verrou.client.post("/test/sensitive", headers={CSRF_HEADER: signed["csrf_token"]}),
        403,
        "reauthentication_required",
    )
    # eidas1 (plain FranceConnect) never suffices.
    signed = verrou.signed_in(put_user(provider, acr="eidas1"))
    error = _error(
        verrou.client.post("/test/sensitive", headers={CSRF_HEADER: signed["csrf_token"]}),
        403,
        "reauthentication_required",
    )
    assert "eidas2 or above" in error["message"]


def test_the_sign_in_hook_names_the_citizen(
    make_verrou: Callable[..., Verrou], provider: str, sqlite_url: str
) -> None:
    from verrou.api import api_state

    verrou = make_verrou(sqlite_url)
    seen: list[VerifiedClaims] = []

    def sign_in(claims: VerifiedClaims, now: datetime) -> str:
        seen.append(claims)
        return "ct-from-the-domain"

    state = api_state(verrou.client.app)  # type: ignore[arg-type]
    assert state.citizen is not None
    from dataclasses import replace

    state.citizen = replace(state.citizen, on_sign_in=sign_in)
    sub = put_user(provider)
    assert verrou.signed_in(sub)["citizen_id"] == "ct-from-the-domain"
    (claims,) = seen
    assert (claims.subject, claims.issuer, claims.acr) == (sub, provider, "eidas2")
    assert (claims.given_name, claims.family_name) == ("Aurélien Bastien", "Quérillac")
    assert (claims.birthplace, claims.birthcountry, claims.gender) == ("2A004", "99100", "male")
    assert claims.email == IDENTITY["email"] and claims.birthdate == "1983-07-21"
    assert abs(claims.auth_time - datetime.now(UTC)) < timedelta(minutes=1)
    assert_nothing_personal(repr(claims), "the repr of the claims")
    assert sub not in repr(claims)


# --- the pieces -------------------------------------------------------------------------------


def test_verified_claims_take_what_the_id_token_lacks_from_userinfo_and_check_shapes() -> None:
    now = datetime(2026, 4, 2, 9, 30, tzinfo=UTC)
    id_token = {"sub": "s1", "iss": "https://idp.example", "auth_time": 1_775_000_000}
    userinfo = {**IDENTITY, "sub": "s1", "birthplace": "", "preferred_username": ""}
    claims = verified_claims("https://idp.example", id_token, userinfo, acr="eidas1", now=now)
    assert claims.birthplace == "" and claims.preferred_username is None  # born abroad
    assert claims.display_name == "Aurélien Bastien Quérillac"
    assert claims.auth_time == datetime.fromtimestamp(1_775_000_000, UTC)
    without_time = verified_claims("i", {"sub": "s1"}, userinfo, acr="eidas1", now=now)
    assert without_time.auth_time == now
    # The ID token wins where both say something.
    both = verified_claims("i", {"sub": "s1", "gender": "female"}, userinfo, acr="e", now=now)
    assert both.gender == "female"
    for bad in ({"birthcountry": "France"}, {"birthplace": "2C004"}, {"given_name": "a\nb"}):
        with pytest.raises(SignInFailed) as refused:
            verified_claims("i", {"sub": "s1"}, {**userinfo, **bad}, acr="e", now=now)
        assert next(iter(bad)) in refused.value.message
        assert next(iter(bad.values())) not in refused.value.message


def test_sealed_tokens_open_only_for_their_purpose_and_key() -> None:
    key, other = SessionKey.generate(), SessionKey.generate()
    token = seal_token(key, "session:cookie", {"s": "sid", "n": DISPLAY_NAME})
    assert open_token(key, "session:cookie", token) == {"s": "sid", "n": DISPLAY_NAME}
    assert_nothing_personal(token, "a sealed token")
    assert open_token(key, "session:bearer", token) is None
    assert open_token(other, "session:cookie", token) is None
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert open_token(key, "session:cookie", flipped) is None
    for junk in ("", "!!!", "A" * 5000, "é"):
        assert open_token(key, "session:cookie", junk) is None
    # Padded: a long name and a short one seal to tokens of the same length.
    short = seal_token(key, "p", {"n": "Al"})
    longer = seal_token(key, "p", {"n": "Aurélien"})
    assert len(short) == len(longer)


def test_the_session_store_keeps_hashes_and_revokes_tokens_with_their_session(
    database_url: str,
) -> None:
    now = datetime(2026, 4, 2, 9, 30, tzinfo=UTC)
    parent = CitizenSessionRecord(
        sid_hash=secret_hash("parent"),
        citizen_id="ct-1",
        kind="cookie",
        acr="eidas2",
        auth_time=now - timedelta(minutes=1),
        created_at=now,
        expires_at=now + timedelta(hours=1),
        csrf_hash=secret_hash("csrf"),
    )
    child = CitizenSessionRecord(
        sid_hash=secret_hash("child"),
        citizen_id="ct-1",
        kind="bearer",
        acr="eidas2",
        auth_time=parent.auth_time,
        created_at=now,
        expires_at=now + timedelta(minutes=15),
        issued_from=parent.sid_hash,
    )
    store = open_store(database_url)
    try:
        store.create_session(parent)
        store.create_session(child)
        with pytest.raises(Conflict):
            store.create_session(parent)
        assert store.get_session(parent.sid_hash) == parent
        assert store.get_session(child.sid_hash) == child
        assert store.get_session(secret_hash("nobody")) is None
        assert store.revoke_session(parent.sid_hash, at=now + timedelta(minutes=2))
        assert not store.revoke_session(parent.sid_hash, at=now + timedelta(minutes=3))
        revoked = store.get_session(child.sid_hash)
        assert revoked is not None and revoked.revoked_at == now + timedelta(minutes=2)
        assert not revoked.usable_at(now + timedelta(minutes=5))
        assert store.purge_expired(now + timedelta(minutes=30)) == 1
        assert store.purge_expired(now + timedelta(hours=2)) == 1
        assert store.get_session(parent.sid_hash) is None
    finally:
        store.close()
    with pytest.raises(ValueError, match="CSRF"):
        CitizenSessionRecord(
            sid_hash=b"x" * 32,
            citizen_id="ct-1",
            kind="bearer",
            acr="eidas2",
            auth_time=now,
            created_at=now,
            expires_at=now + timedelta(minutes=1),
            csrf_hash=b"y" * 32,
        )


def test_a_provider_whose_discovery_names_another_issuer_is_refused(
    verrou: Verrou,
) -> None:
    verrou.hop.discovery = lambda document: {**document, "issuer": "https://impostor.example"}
    error = _error(
        verrou.client.get("/v1/citizen/login", follow_redirects=False),
        502,
        "identity_provider_unavailable",
    )
    assert "names another issuer" in error["message"]


def test_the_client_repr_shows_no_secret(provider: str) -> None:
    client = OidcClient(
        issuer=provider,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=PUBLIC_URL + "/v1/citizen/callback",
        scope=SCOPE,
        accepted_acr=("eidas2",),
    )
    assert CLIENT_SECRET not in repr(client) and CLIENT_ID in repr(client)


# --- sign-in for the portal's pages -----------------------------------------------------------


def _authorize_to(verrou: Verrou, sub: str, login_path: str) -> tuple[httpx.Response, str]:
    login = verrou.client.get(login_path, follow_redirects=False)
    assert login.status_code == 302, login.text
    approved = httpx.post(
        login.headers["location"], data={"sub": sub}, follow_redirects=False, timeout=5
    )
    return login, approved.headers["location"]


def test_a_sign_in_asked_by_a_page_comes_back_to_it_with_the_session(
    verrou: Verrou, provider: str
) -> None:
    _, callback = _authorize_to(verrou, put_user(provider), "/v1/citizen/login?next=/me/thaw")
    back = verrou.client.get(callback, follow_redirects=False)
    assert back.status_code == 303
    assert back.headers["location"] == "/me/thaw"
    assert "verrou_session" in _cookies(back)
    assert back.headers["cache-control"] == "no-store"
    assert verrou.client.get("/v1/citizen/session").status_code == 200


@pytest.mark.parametrize(
    "target", ["//evil.example/me", "https://evil.example/", "/\\evil.example", "me", "/a b"]
)
def test_a_sign_in_never_sends_the_browser_to_another_site(
    verrou: Verrou, provider: str, target: str
) -> None:
    _, callback = _authorize_to(
        verrou, put_user(provider), f"/v1/citizen/login?next={quote(target)}"
    )
    back = verrou.client.get(callback, follow_redirects=False)
    assert back.status_code == 200  # the JSON answer: no redirect at all
    assert "csrf_token" in back.json()


def test_a_fresh_sign_in_asks_the_provider_to_authenticate_again(verrou: Verrou) -> None:
    plain = parse_qs(urlsplit(verrou.login().headers["location"]).query)
    assert "prompt" not in plain and "max_age" not in plain
    fresh = verrou.client.get("/v1/citizen/login?fresh=true", follow_redirects=False)
    query = parse_qs(urlsplit(fresh.headers["location"]).query)
    assert query["prompt"] == ["login"] and query["max_age"] == ["0"]
