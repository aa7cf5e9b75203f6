"""The operators' pages, end to end with real components only: verrou (API and portal) under
uvicorn on loopback over a SQLite file, a real OpenID provider on loopback for the citizens
(oidc-provider-mock), and an httpx client that keeps its cookies as a browser does.

The registry holds a leak ingested with rejected values, canaries planted in a source and
found in that leak's dump (the breach's evidence), a bank whose check on a canary was denied
(an incident), and two citizens whose verified sign-ins give the same person (a conflict).
No answer ever holds a value of the leak or of a canary.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from oidc_provider_mock import run_server_in_thread

from conftest import LEAKED_PEOPLE, free_port, serving_on_loopback
from test_no_plaintext import assert_absent
from verrou.fingerprints import Fingerprinter
from verrou.ingest.pipeline import IngestOptions, ingest_dump
from verrou.keys import FingerprintKey, key_id_for
from verrou.registry import canaries, operators
from verrou.registry.canary_records import CanaryIdentity
from verrou.registry.contacts import Contact, create_contact_key_file
from verrou.registry.records import BreachInfo
from verrou.registry.sessions import create_session_key_file
from verrou.settings import Settings
from verrou.signing import SigningKey
from verrou.store import open_store
from verrou.synth.canaries import canary_identities
from verrou.web import portal_app

OPERATOR = "cert-ops"
PASSWORD = "correct horse battery staple"
SOURCE = "partenaire-x"
BREACH = "ants-2026"
#: A row whose email and phone are refused at ingest: its values must never come back.
BAD_ROW = ("Martin", "Paul", "1970-01-01", "paul.martin@@broken", "0000123")
#: The citizen the provider signs in, twice, under two accounts (a conflict).
IDENTITY: dict[str, str] = {
    "given_name": "Gwenaëlle Sidonie",
    "family_name": "Kerbrat-Ollivier",
    "birthdate": "1979-02-14",
    "birthplace": "29019",
    "birthcountry": "99100",
    "gender": "female",
    "email": "gwenaelle.kerbrat@example.fr",
}


@dataclass
class World:
    """The running verrou and what the tests look for in its answers."""

    base: str
    database_url: str
    api_key: str
    canary_ids: list[str]
    #: Every plaintext value of the leak, the canaries and the citizen.
    needles: set[str]
    citizen_cookie: str
    party_id: str
    #: Every body the portal answered during the module, scanned at the end.
    bodies: list[str] = field(default_factory=list)


def _canary_row(identity: CanaryIdentity) -> tuple[str, ...]:
    return (
        identity.family_name,
        " ".join(identity.given_names),
        identity.birth_date.isoformat(),
        identity.email,
        identity.phone,
    )


def _needles(rows: list[tuple[str, ...]], planted: list[CanaryIdentity]) -> set[str]:
    found = {value.strip() for row in rows for value in row if len(value.strip()) >= 4}
    for identity in planted:
        found |= {identity.nir, identity.cni, identity.passport, identity.iban}
        found |= {identity.email, identity.phone, identity.family_name}
    found |= {IDENTITY["family_name"], IDENTITY["email"], "Gwenaëlle", "Sidonie"}
    return found


def _build_registry(folder: Path, url: str, fingerprinter: Fingerprinter) -> dict[str, Any]:
    contact_key = create_contact_key_file(folder / "keys" / "contact.key")
    store = open_store(url)
    try:
        now = datetime.now(UTC)
        kept: list[CanaryIdentity] = []
        planting = canaries.plant_canaries(
            store,
            fingerprinter,
            canary_identities(11, "canary.example.gouv.fr"),
            count=2,
            source=SOURCE,
            contacts=[Contact("email", "cert@operateur.example.fr")],
            contact_key=contact_key,
            keep=kept.extend,
            now=now,
        )
        store.ensure_breach(
            BreachInfo(
                name=BREACH,
                title="France Titres (ANTS)",
                data_classes=("names", "birth_dates", "emails", "phones"),
                intrusion_started_at=datetime(2026, 3, 2, tzinfo=UTC),
                detected_at=datetime(2026, 4, 8, tzinfo=UTC),
            )
        )
        rows = [*LEAKED_PEOPLE, BAD_ROW, *(_canary_row(identity) for identity in kept)]
        dump = folder / "leak.csv"
        lines = ["nom;prenoms;date_naissance;email;telephone", *(";".join(r) for r in rows)]
        dump.write_text("\n".join(lines) + "\n", encoding="utf-8")
        report = ingest_dump(
            store,
            fingerprinter,
            dump,
            IngestOptions(breach=BREACH, workers=0, report_dir=folder / "reports"),
        )
        assert report.rows_rejected >= 1 and [e.source for e in report.canaries] == [SOURCE]
        party, api_key = store.create_relying_party("Banque Exemple", "bank")
        operators.add_operator(store, OPERATOR, PASSWORD, now=now)
    finally:
        store.close()
    return {
        "api_key": api_key,
        "party_id": party.id,
        "kept": kept,
        "rows": rows,
        "ids": [c.id for c in planting.canaries],
    }


def _put_user(provider: str) -> str:
    sub = f"sub-{secrets.token_hex(6)}"
    answer = httpx.put(f"{provider}/users/{sub}", json={**IDENTITY, "acr": "eidas2"}, timeout=5)
    assert answer.status_code == 204, answer.text
    return sub


def _citizen_signs_in(base: str, provider: str) -> str:
    """A citizen's browser signs in through the provider: its session cookie."""
    with httpx.Client(base_url=base, timeout=10) as browser:
        login = browser.get("/v1/citizen/login")
        assert login.status_code == 302, login.text
        approved = httpx.post(
            login.headers["location"], data={"sub": _put_user(provider)}, timeout=5
        )
        assert approved.status_code == 302, approved.text
        answer = browser.get(approved.headers["location"])
        assert answer.status_code == 200, answer.text
        cookie = browser.cookies["verrou_session"]
    assert cookie
    return cookie


def _settings(folder: Path, url: str, base: str, **overrides: Any) -> Settings:
    return Settings.from_env(
        {},
        database_url=url,
        recorder="thread",
        public_url=base,
        report_dir=folder / "reports",
        **overrides,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("portal-operator")
    url = f"sqlite:///{folder / 'registry.sqlite3'}"
    secret = secrets.token_bytes(32)
    key = FingerprintKey(key_id=key_id_for(secret), secret=secret)
    built = _build_registry(folder, url, Fingerprinter(key))
    session_key = folder / "keys" / "session.key"
    create_session_key_file(session_key)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with run_server_in_thread(port=0) as server:
        provider = f"http://localhost:{server.server_port}"
        settings = _settings(
            folder,
            url,
            base,
            oidc_issuer=provider,
            oidc_client_id="verrou-test",
            oidc_client_secret="client-secret-" + "x" * 32,
            oidc_scope="openid profile email",
            session_key_file=session_key,
            contact_key_file=folder / "keys" / "contact.key",
            operator_sign_in_rate_limit=1_000,
            auth_cache_seconds=0,  # a revoked key is refused at the next check
        )
        app = portal_app(settings, fingerprint_key=key, signing_key=SigningKey.generate())
        with serving_on_loopback(app, port) as served:
            # A bank checks a canary: denied, an incident.
            canary = built["kept"][0]
            check = httpx.post(
                f"{served}/v1/checks",
                json={
                    "family_name": canary.family_name,
                    "given_names": " ".join(canary.given_names),
                    "birth_date": canary.birth_date.isoformat(),
                    "email": canary.email,
                },
                headers={"Authorization": f"Bearer {built['api_key']}"},
                timeout=10,
            )
            assert check.status_code == 200 and check.json()["verdict"] == "deny", check.text
            # One person, two accounts: their person keys are claimed twice.
            cookie = _citizen_signs_in(served, provider)
            _citizen_signs_in(served, provider)
            world = World(
                base=served,
                database_url=url,
                api_key=built["api_key"],
                canary_ids=built["ids"],
                needles=_needles(built["rows"], built["kept"]),
                citizen_cookie=cookie,
                party_id=built["party_id"],
            )
            yield world
    assert world.bodies
    assert_absent("\n".join(world.bodies), world.needles, "the portal's answers")


class Browser:
    """An httpx client that keeps cookies and records every body it is answered."""

    def __init__(self, world: World, **cookies: str) -> None:
        self.world = world
        self.client = httpx.Client(base_url=world.base, timeout=20, cookies=cookies)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        answer = self.client.get(path, **kwargs)
        self._keep(answer)
        return answer

    def post(self, path: str, data: dict[str, str], **kwargs: Any) -> httpx.Response:
        answer = self.client.post(path, data=data, **kwargs)
        self._keep(answer)
        return answer

    def _keep(self, answer: httpx.Response) -> None:
        if answer.headers.get("content-type", "").startswith("text/"):
            self.world.bodies.append(answer.text)

    def sign_in(self, name: str = OPERATOR, password: str = PASSWORD) -> httpx.Response:
        form = self.get("/operator/signin")
        assert form.status_code == 200
        assert "verrou_form" in self.client.cookies
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        return self.post(
            "/operator/signin", {"csrf": token.group(1), "name": name, "password": password}
        )

    def csrf(self, path: str) -> str:
        page = self.get(path)
        assert page.status_code == 200, page.text
        token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
        assert token is not None
        return token.group(1)


def _signed_in(world: World, **cookies: str) -> Browser:
    browser = Browser(world, **cookies)
    answer = browser.sign_in()
    assert answer.status_code == 303 and answer.headers["location"] == "/operator"
    return browser


def _text(html: str) -> str:
    """A page's text, tags dropped and spaces folded (what a reader sees)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- signing in -------------------------------------------------------------------------------


def test_a_wrong_password_or_name_is_refused_saying_nothing_of_which(world: World) -> None:
    browser = Browser(world)
    wrong_password = browser.sign_in(password="not the password at all")
    wrong_name = browser.sign_in(name="nobody-here")
    assert wrong_password.status_code == wrong_name.status_code == 401
    assert _text(wrong_password.text) == _text(wrong_name.text)
    assert "Identifiant ou mot de passe incorrect." in wrong_password.text
    assert not any(name.startswith("verrou_operator") for name in browser.client.cookies)


def test_without_a_session_every_page_sends_to_the_sign_in(world: World) -> None:
    browser = Browser(world)
    for path in (
        "/operator",
        "/operator/breaches",
        f"/operator/breaches/{BREACH}",
        "/operator/runs",
        "/operator/runs/1",
        "/operator/canaries",
        "/operator/outcomes",
        f"/operator/outcomes/{BREACH}.png",
        "/operator/relying-parties",
        "/operator/conflicts",
    ):
        answer = browser.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == f"/operator/signin?next={path}"


def test_a_citizens_session_never_opens_an_operator_page(world: World) -> None:
    as_citizen = Browser(world, verrou_session=world.citizen_cookie)
    assert as_citizen.get("/v1/citizen/session").status_code == 200  # a good citizen session
    # Under its own name, or put in the operators' cookie: no operator page opens.
    smuggled = Browser(world, verrou_operator=world.citizen_cookie)
    for browser in (as_citizen, smuggled):
        for path in ("/operator/breaches", "/operator/conflicts"):
            answer = browser.get(path)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/operator/signin")


# --- the pages --------------------------------------------------------------------------------


def test_the_breaches_and_a_breach_page_show_its_figures_timeline_and_evidence(
    world: World,
) -> None:
    browser = _signed_in(world)
    assert browser.get("/operator").headers["location"] == "/operator/breaches"
    listing = browser.get("/operator/breaches")
    assert listing.status_code == 200
    assert listing.headers["content-security-policy"].startswith("default-src 'none'")
    text = _text(listing.text)
    assert "<h1>Fuites</h1>" in listing.text and BREACH in text
    assert '<th scope="col"' in listing.text and "/static/css/operator.css" in listing.text
    # 3 people, the bad row and 2 canaries have an identifier; a 37-day dwell.
    assert re.search(r"severity-(low|moderate|high|critical)", listing.text)
    assert "37 jours" in text and "Adresses électroniques" in text  # data classes in French

    page = browser.get(f"/operator/breaches/{BREACH}")
    assert page.status_code == 200
    text = _text(page.text)
    assert "2 mars 2026" in text and "8 avr. 2026" in text  # taken, found: French dates
    assert f"canaries planted in {SOURCE}" not in text  # French
    assert f"provenaient de {SOURCE}" in text
    incidents_link = f'href="/operator/canaries?source={SOURCE}#incidents"'
    assert incidents_link in page.text
    assert '<ol class="timeline">' in page.text and "/operator/runs/1" in page.text
    assert f"/operator/outcomes?breach={BREACH}" in page.text
    assert browser.get("/operator/breaches/no-such-breach").status_code == 404

    english = _signed_in(world, verrou_lang="en")
    text = _text(english.get(f"/operator/breaches/{BREACH}").text)
    assert "Mar 2, 2026" in text and "Apr 8, 2026" in text and "37 days" in text
    assert f"the data came from {SOURCE}" in text


def test_from_the_breach_page_to_the_canary_incident(world: World) -> None:
    browser = _signed_in(world)
    page = browser.get(f"/operator/breaches/{BREACH}")
    link = re.search(r'href="(/operator/canaries\?source=[^"#]+)#incidents"', page.text)
    assert link is not None
    canaries_page = browser.get(link.group(1))
    assert canaries_page.status_code == 200
    html = canaries_page.text
    incidents = html[html.index('id="incidents"') :]
    assert "Banque Exemple" in incidents and "verdict-deny" in incidents
    assert any(canary_id in incidents for canary_id in world.canary_ids)
    for canary_id in world.canary_ids:
        assert canary_id in html
    assert "verrou canary create" in html  # planting is the command line's, and why


def test_runs_show_their_counts_and_their_rejects_masked(world: World) -> None:
    browser = _signed_in(world)
    runs = browser.get("/operator/runs")
    assert runs.status_code == 200 and "leak.csv" in runs.text and "/operator/runs/1" in runs.text
    run = browser.get("/operator/runs/1")
    assert run.status_code == 200
    rejected = run.text[run.text.index('id="rejects"') :]
    assert "•" in rejected  # masked shapes
    assert "p•" in rejected or "0•" in rejected
    assert browser.get("/operator/runs/999").status_code == 404


def test_the_outcome_curve_is_a_png_with_its_figures_in_a_table(world: World) -> None:
    browser = _signed_in(world)
    page = browser.get("/operator/outcomes", params={"breach": BREACH})
    assert page.status_code == 200
    assert f'src="/operator/outcomes/{BREACH}.png"' in page.text and "<caption>" in page.text
    assert '<label for="o-breach">' in page.text
    plot = browser.get(f"/operator/outcomes/{BREACH}.png")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
    assert plot.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert browser.get("/operator/outcomes/nope.png").status_code == 404


def test_relying_parties_are_listed_and_a_key_is_revoked_with_the_csrf_token(
    world: World,
) -> None:
    browser = _signed_in(world)
    listing = browser.get("/operator/relying-parties")
    assert "Banque Exemple" in listing.text and world.party_id in listing.text
    target = f"/operator/relying-parties/{world.party_id}/revoke"
    token = browser.csrf("/operator/relying-parties")
    refused = [
        browser.post(target, {}),
        browser.post(target, {"csrf": "0" * 64}),
        browser.post(target, {"csrf": token}, headers={"Origin": "https://evil.example"}),
    ]
    for answer in refused:
        assert answer.status_code == 403 and "<h1>" in answer.text
    check = {"email": "personne@example.org"}
    bearer = {"Authorization": f"Bearer {world.api_key}"}
    assert httpx.post(f"{world.base}/v1/checks", json=check, headers=bearer).status_code == 200
    done = browser.post(target, {"csrf": token})
    assert done.status_code == 303
    assert done.headers["location"] == "/operator/relying-parties?done=party_revoked"
    after = browser.get(done.headers["location"])
    assert "notice-success" in after.text
    assert httpx.post(f"{world.base}/v1/checks", json=check, headers=bearer).status_code == 401


def test_a_conflict_is_shown_then_resolved_for_one_account(world: World) -> None:
    browser = _signed_in(world)
    page = browser.get("/operator/conflicts")
    keys = re.findall(r'action="/operator/conflicts/([0-9a-f]{12})/resolve"', page.text)
    assert keys, "two sign-ins of one person must give contested keys"
    accounts = sorted(set(re.findall(r'name="keep" value="(ct-[0-9a-f]{24})"', page.text)))
    assert len(accounts) == 2
    token = browser.csrf("/operator/conflicts")
    target = f"/operator/conflicts/{keys[0]}/resolve"
    assert browser.post(target, {"keep": accounts[0]}).status_code == 403
    assert browser.post(target, {"csrf": token, "keep": "ct-" + "0" * 24}).status_code == 422
    assert keys[0] in browser.get("/operator/conflicts").text  # nothing changed
    done = browser.post(target, {"csrf": token, "keep": accounts[0]})
    assert done.status_code == 303
    assert done.headers["location"] == "/operator/conflicts?done=conflict_resolved"
    after = browser.get(done.headers["location"])
    assert f"/operator/conflicts/{keys[0]}/resolve" not in after.text
    assert browser.post(target, {"csrf": token, "keep": accounts[0]}).status_code == 404
    store = open_store(world.database_url)
    try:
        released = [e for e in store.audit_entries() if b"citizen.release" in e.content]
    finally:
        store.close()
    assert len(released) == 1 and f"operator:{OPERATOR}".encode() in released[0].content


def test_the_breach_form_records_dates_and_needs_the_csrf_token(world: World) -> None:
    browser = _signed_in(world)
    target = f"/operator/breaches/{BREACH}"
    token = browser.csrf(target)
    assert browser.post(target, {"disclosed": "2026-04-20"}).status_code == 403
    assert "20 avr. 2026" not in _text(browser.get(target).text)
    bad = browser.post(target, {"csrf": token, "disclosed": "le 20 avril"})
    assert bad.status_code == 422 and "disclosed" in bad.text
    done = browser.post(target, {"csrf": token, "disclosed": "2026-04-20"})
    assert done.status_code == 303 and done.headers["location"] == f"{target}?done=breach_saved"
    text = _text(browser.get(done.headers["location"]).text)
    assert "20 avr. 2026" in text and "8 avr. 2026" in text  # the detection kept
    assert "12 jours" in text  # disclosure lag
    unknown = browser.post("/operator/breaches/no-such", {"csrf": token, "title": "x"})
    assert unknown.status_code == 404


# --- sessions ---------------------------------------------------------------------------------


def test_signing_out_revokes_the_session(world: World) -> None:
    browser = _signed_in(world)
    cookie = browser.client.cookies["verrou_operator"]
    token = browser.csrf("/operator/breaches")
    assert browser.post("/operator/signout", {"csrf": token}).status_code == 303
    again = Browser(world, verrou_operator=cookie)
    assert again.get("/operator/breaches").status_code == 303


def test_a_disabled_operators_session_stops_working(world: World) -> None:
    store = open_store(world.database_url)
    try:
        operators.add_operator(store, "temp-ops", PASSWORD, now=datetime.now(UTC))
    finally:
        store.close()
    browser = Browser(world)
    assert browser.sign_in("temp-ops").status_code == 303
    assert browser.get("/operator/breaches").status_code == 200
    store = open_store(world.database_url)
    try:
        operators.disable_operator(store, "temp-ops", now=datetime.now(UTC))
    finally:
        store.close()
    assert browser.get("/operator/breaches").status_code == 303
    assert browser.sign_in("temp-ops").status_code == 401


def test_too_many_wrong_passwords_are_a_429(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    secret = secrets.token_bytes(32)
    key = FingerprintKey(key_id=key_id_for(secret), secret=secret)
    port = free_port()
    settings = _settings(tmp_path, url, f"http://127.0.0.1:{port}", operator_sign_in_rate_limit=3)
    app = portal_app(settings, fingerprint_key=key, signing_key=SigningKey.generate())
    with serving_on_loopback(app, port) as base:
        world = World(base, url, "", [], set(), "", "")
        browser = Browser(world)
        statuses = [browser.sign_in(password=f"wrong password {n}").status_code for n in range(5)]
    assert statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429]
