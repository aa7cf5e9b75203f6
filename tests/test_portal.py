"""The portal's foundation: its languages and catalogs, the headers of every page, the
language switch, page errors as pages (the API's staying JSON), the operator accounts and
their sessions on both backends, and the operator sign-in's own CSRF and rate limit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from verrou.errors import Conflict, InvalidOperator, Unauthorized
from verrou.keys import FingerprintKey
from verrou.registry import operators
from verrou.settings import Settings
from verrou.signing import SigningKey
from verrou.store import RegistryStore, open_store
from verrou.web import catalog, portal_app
from verrou.web.forms import operator_csrf
from verrou.web.i18n import Formats, language_of
from verrou.web.pages import CONTENT_SECURITY_POLICY

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
PASSWORD = "correct horse battery staple"


@pytest.fixture
def portal(sqlite_url: str, fingerprint_key: FingerprintKey) -> Iterator[TestClient]:
    settings = Settings.from_env(
        {}, database_url=sqlite_url, recorder="thread", operator_sign_in_rate_limit=5
    )
    app = portal_app(settings, fingerprint_key=fingerprint_key, signing_key=SigningKey.generate())
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield client


# --- languages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cookie", "accept", "expected"),
    [
        (None, None, "fr"),
        (None, "en-US,en;q=0.9,fr;q=0.8", "en"),
        (None, "fr-CA,fr;q=0.9", "fr"),
        (None, "de-DE,de;q=0.9", "fr"),
        (None, "de;q=0.9,en;q=0.5", "en"),
        (None, "en;q=0,fr", "fr"),
        ("en", "fr", "en"),
        ("xx", "en", "en"),
        (None, "en;q=nonsense", "fr"),
    ],
)
def test_a_request_is_in_its_cookie_language_else_its_browser_s_else_french(
    cookie: str | None, accept: str | None, expected: str
) -> None:
    assert language_of(cookie, accept) == expected


def test_dates_and_numbers_are_written_as_each_language_writes_them() -> None:
    moment = datetime(2026, 4, 2, 7, 5, tzinfo=UTC)  # 09:05 in Paris (summer time)
    french, english = Formats("fr"), Formats("en")
    assert french.number(11_700_000) == "11\u202f700\u202f000"
    assert english.number(11_700_000) == "11,700,000"
    assert french.date(moment) == "2 avr. 2026"
    assert english.date(moment) == "Apr 2, 2026"
    assert "09:05" in french.datetime(moment)
    assert "9:05" in english.datetime(moment)
    assert french.number(None) == english.date(None) == "—"


def test_every_message_of_the_portal_is_translated_into_french() -> None:
    assert catalog.untranslated("fr") == []


def test_the_catalogs_hold_no_message_that_is_no_longer_used() -> None:
    in_use = {message.id for message in catalog.extracted() if message.id}
    assert set(catalog.merged("fr")) <= in_use


def test_nothing_is_loaded_from_another_site() -> None:
    web = Path(str(files("verrou.web")))
    for path in [*web.glob("templates/**/*.html"), *web.glob("static/css/*.css")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)=\"(https?:)?//", text), path
        assert "@import" not in text and "url(http" not in text, path
        assert "<script>" not in text and " style=" not in text, path  # CSP: none inline


# --- pages and their headers --------------------------------------------------------------------


def test_the_home_page_is_french_by_default_with_every_security_header(
    portal: TestClient,
) -> None:
    answer = portal.get("/")
    assert answer.status_code == 200
    assert '<html lang="fr">' in answer.text
    assert "Votre identité a fuité" in answer.text
    headers = answer.headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "same-origin"


def test_english_is_one_click_away_and_remembered(portal: TestClient) -> None:
    switch = portal.get("/", headers={"accept-language": "fr"})
    link = re.search(r'href="(/lang/en\?next=[^"]*)"', switch.text)
    assert link is not None
    answer = portal.get(link.group(1).replace("&amp;", "&"), follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert "verrou_lang=en" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    english = portal.get("/")
    assert '<html lang="en">' in english.text and "Your identity leaked" in english.text


def test_the_browser_s_language_is_followed_until_the_switch_is_used(portal: TestClient) -> None:
    assert '<html lang="en">' in portal.get("/", headers={"accept-language": "en-GB"}).text
    portal.get("/lang/fr?next=/", follow_redirects=False)
    assert '<html lang="fr">' in portal.get("/", headers={"accept-language": "en-GB"}).text


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil", "x"])
def test_the_language_switch_goes_back_to_this_site_only(portal: TestClient, target: str) -> None:
    answer = portal.get("/lang/en", params={"next": target}, follow_redirects=False)
    assert answer.headers["location"] == "/"


def test_an_unknown_page_is_a_page_and_an_unknown_api_path_stays_json(portal: TestClient) -> None:
    page = portal.get("/no-such-page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    api = portal.get("/v1/no-such-route")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"


def test_every_address_a_form_posts_to_sends_a_get_to_the_form_s_page(portal: TestClient) -> None:
    """A reload after a form, or the address typed again, finds a page, never "method not
    allowed"; and the page it is sent to is fixed, whatever the request carries."""
    routes = [r for r in portal.app.routes if isinstance(r, APIRoute)]  # type: ignore[attr-defined]
    methods: dict[str, set[str]] = {}
    for route in routes:
        methods.setdefault(route.path, set()).update(route.methods)
    pages = [p for p in methods if not p.startswith(("/v1", "/api", "/.well-known"))]
    assert [p for p in pages if "POST" in methods[p] and "GET" not in methods[p]] == []
    expected = {
        "/me/identifiers": "/me/contacts",
        "/me/attestations": "/me",
        "/signout": "/",
        "/operator/signout": "/operator",
        "/operator/relying-parties/rp-1/revoke": "/operator/relying-parties",
        "/operator/conflicts/ab12/resolve": "/operator/conflicts",
    }
    for action, page in expected.items():
        sent = portal.get(
            action,
            params={"page": "https://evil.example", "next": "//evil.example"},
            follow_redirects=False,
        )
        assert (sent.status_code, sent.headers["location"]) == (303, page), action
        assert sent.headers["cache-control"] == "no-store"


def test_static_files_come_from_the_package_with_the_portal_s_headers(portal: TestClient) -> None:
    answer = portal.get("/static/css/portal.css")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/css")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert portal.get("/static/../pyproject.toml").status_code == 404


def test_citizen_pages_without_sign_in_configured_say_so(portal: TestClient) -> None:
    home = portal.get("/")
    assert "FranceConnect" not in home.text.split("<main", 1)[1].split("</section>", 1)[0]


# --- operators: accounts and sessions, on both backends -------------------------------------------


def test_an_operator_signs_in_with_their_password_only(store: RegistryStore) -> None:
    operators.add_operator(store, "alice", PASSWORD, now=NOW)
    stored = store.get_operator("alice")
    assert stored is not None and PASSWORD not in stored.password_hash
    assert stored.password_hash.startswith("scrypt$32768$8$1$")
    signed = operators.sign_in(store, "alice", PASSWORD, now=NOW, lifetime=timedelta(hours=8))
    record = operators.session_for(store, signed.sid, now=NOW + timedelta(hours=7))
    assert record.operator == "alice"
    assert signed.sid.encode() not in repr(record).encode()
    with pytest.raises(Unauthorized):
        operators.session_for(store, signed.sid, now=NOW + timedelta(hours=8))
    for name, password in [("alice", PASSWORD + "!"), ("bob", PASSWORD), ("A B", PASSWORD)]:
        with pytest.raises(Unauthorized, match="wrong operator name or password"):
            operators.sign_in(store, name, password, now=NOW, lifetime=timedelta(hours=1))


def test_a_disabled_operator_s_sessions_stop_at_once(store: RegistryStore) -> None:
    operators.add_operator(store, "alice", PASSWORD, now=NOW)
    signed = operators.sign_in(store, "alice", PASSWORD, now=NOW, lifetime=timedelta(hours=8))
    operators.disable_operator(store, "alice", now=NOW)
    with pytest.raises(Unauthorized):
        operators.session_for(store, signed.sid, now=NOW)
    with pytest.raises(Unauthorized):
        operators.sign_in(store, "alice", PASSWORD, now=NOW, lifetime=timedelta(hours=1))
    with pytest.raises(Conflict):
        operators.disable_operator(store, "alice", now=NOW)


def test_operator_names_and_passwords_follow_their_rules(store: RegistryStore) -> None:
    with pytest.raises(InvalidOperator) as short:
        operators.add_operator(store, "alice", "short", now=NOW)
    assert short.value.fields == {"password": "too_short"}
    with pytest.raises(InvalidOperator):
        operators.add_operator(store, "Alice Smith", PASSWORD, now=NOW)
    operators.add_operator(store, "alice", PASSWORD, now=NOW)
    with pytest.raises(Conflict):
        operators.add_operator(store, "alice", PASSWORD, now=NOW)
    assert [o.name for o in store.list_operators()] == ["alice"]
    assert len(operators.new_password()) == 20


# --- the operator sign-in form ------------------------------------------------------------------


def _sign_in_form(portal: TestClient) -> str:
    page = portal.get("/operator/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    return token.group(1)


def test_the_operator_sign_in_form_needs_its_own_token(portal: TestClient, sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    try:
        operators.add_operator(store, "alice", PASSWORD, now=datetime.now(UTC))
    finally:
        store.close()
    form = {"name": "alice", "password": PASSWORD}
    assert portal.post("/operator/signin", data=form).status_code == 403  # no token
    token = _sign_in_form(portal)
    foreign = portal.post(
        "/operator/signin",
        data={**form, "csrf": token},
        headers={"origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert foreign.status_code == 403
    answer = portal.post("/operator/signin", data={**form, "csrf": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/operator"
    cookie = answer.headers["set-cookie"]
    assert "verrou_operator=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    sid = answer.cookies["verrou_operator"]
    assert len(operator_csrf(sid)) == 64


def test_wrong_passwords_say_nothing_of_which_part_was_wrong_and_are_limited(
    portal: TestClient,
) -> None:
    token = _sign_in_form(portal)
    answers = [
        portal.post("/operator/signin", data={"name": "nobody", "password": "x", "csrf": token})
        for _ in range(6)
    ]
    assert [a.status_code for a in answers[:5]] == [401] * 5
    assert "Identifiant ou mot de passe incorrect." in answers[0].text
    assert answers[5].status_code == 429


def test_a_sign_in_step_that_fails_is_a_page_for_a_browser_and_json_for_a_script(
    portal: TestClient,
) -> None:
    browser = portal.get("/v1/citizen/callback", headers={"accept": "text/html,*/*;q=0.8"})
    assert browser.headers["content-type"].startswith("text/html")
    assert "connexion des citoyens n’est pas configurée" in browser.text
    script = portal.get("/v1/citizen/callback")
    assert script.json()["error"]["code"] == "sign_in_not_configured"


@pytest.mark.parametrize(
    ("method", "target", "back"),
    [
        ("GET", "/me/report?check=ck-1", "/me/report?check=ck-1"),
        ("GET", "/me", "/me"),
        ("POST", "/me/report?check=ck-1", "/me/report"),
    ],
)
def test_a_sign_in_comes_back_to_the_page_shown_with_its_query(
    method: str, target: str, back: str
) -> None:
    from starlette.requests import Request

    from verrou.web.citizen_session import sign_in_url
    from verrou.web.pages import coming_back

    path, _, query = target.partition("?")
    request = Request(
        {
            "type": "http",
            "method": method,
            "path": path,
            "query_string": query.encode(),
            "headers": [],
            "server": ("127.0.0.1", 8000),
            "scheme": "http",
        }
    )
    assert coming_back(request) == back
    assert sign_in_url(back) == "/v1/citizen/login?next=" + back.replace("?", "%3F").replace(
        "=", "%3D"
    )


def test_under_tls_every_portal_cookie_is_secure(
    sqlite_url: str, fingerprint_key: FingerprintKey
) -> None:
    settings = Settings.from_env(
        {}, database_url=sqlite_url, recorder="thread", public_url="https://verrou.example"
    )
    app = portal_app(settings, fingerprint_key=fingerprint_key, signing_key=SigningKey.generate())
    store = open_store(sqlite_url)
    try:
        operators.add_operator(store, "alice", PASSWORD, now=datetime.now(UTC))
    finally:
        store.close()
    with TestClient(app, base_url="https://verrou.example") as client:
        language = client.get("/lang/en", follow_redirects=False).headers["set-cookie"]
        assert "Secure" in language and "HttpOnly" in language
        form = client.get("/operator/signin")
        assert "Secure" in form.headers["set-cookie"]
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        signed = client.post(
            "/operator/signin",
            data={"name": "alice", "password": PASSWORD, "csrf": token.group(1)},
            follow_redirects=False,
        )
        cookie = signed.headers["set-cookie"]
        assert cookie.startswith("__Host-verrou_operator=") and "Secure" in cookie
        assert "Path=/" in cookie and "Domain" not in cookie and "SameSite=strict" in cookie
