"""The citizen's whole story against real components: a real OpenID provider on loopback
(oidc-provider-mock), a real SMTP server (aiosmtpd), verrou under uvicorn on a loopback port,
banks calling the check API with their keys, and JOSE verification of what verrou signs.

Sign in as a leaked person; the exposure is listed; prove an email by its code; freeze; a bank
is denied; thaw for that bank for 3 days; that bank is clear and another denied; lift; step_up;
file a report; the bank verifies it (and an attestation) against the JWKS; the alerts arrive.
Then the authorization matrix over every citizen route.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from joserfc import jws
from joserfc.jwk import KeySet
from oidc_provider_mock import run_server_in_thread

from conftest import Mailbox, free_port, ingest_leak, serving_on_loopback
from test_citizen_auth import CLIENT_ID, CLIENT_SECRET, SCOPE, Clock, put_user
from verrou.api import create_app
from verrou.api.citizen_auth import CSRF_HEADER, citizen_auth_from
from verrou.fingerprints import Fingerprinter
from verrou.keys import FingerprintKey
from verrou.registry.alerts import SmtpTransport, deliver_due
from verrou.registry.contacts import create_contact_key_file, load_contact_key_file
from verrou.registry.sessions import create_session_key_file
from verrou.settings import Settings, smtp_address
from verrou.signing import SigningKey
from verrou.store import open_store

JEAN = {
    "given_name": "Jean Pierre",
    "family_name": "Dupont",
    "preferred_username": None,
    "birthdate": "1980-05-17",
    "birthplace": None,
    "email": "jean.dupont@example.fr",
    "acr": "eidas2",
}
ELODIE = {
    **JEAN,
    "given_name": "Élodie",
    "family_name": "de La Fontaine",
    "birthdate": "1975-11-02",
}
APPLICANT = {"family_name": "Dupont", "given_names": "Jean Pierre", "birth_date": "1980-05-17"}


@dataclass
class Running:
    base: str
    provider: str
    banks: dict[str, str]  # name -> API key
    clock: Clock
    settings: Settings
    store_url: str


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with run_server_in_thread(port=0) as server:
        yield f"http://localhost:{server.server_port}"


@contextmanager
def serving_citizens(
    make_app: Callable[..., FastAPI],
    provider: str,
    smtp_url: str,
    fingerprint_key: FingerprintKey,
    tmp_path: Path,
) -> Iterator[Running]:
    """verrou as ``make_app`` builds it (``create_app``, or the portal's ``portal_app``) with
    citizen sign-in at ``provider``, SMTP at ``smtp_url``, the leak and two banks, on loopback."""
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    store = open_store(url)
    try:
        ingest_leak(store, Fingerprinter(fingerprint_key), tmp_path)
        banks = {
            name: store.create_relying_party(name, "bank")[1]
            for name in ("Banque Exemple", "Crédit Autre")
        }
    finally:
        store.close()
    keys = tmp_path / "keys"
    create_session_key_file(keys / "session.key")
    create_contact_key_file(keys / "contact.key")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings.from_env(
        {},
        database_url=url,
        recorder="thread",
        public_url=base,
        oidc_issuer=provider,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_scope=SCOPE,
        session_key_file=keys / "session.key",
        contact_key_file=keys / "contact.key",
        smtp_url=smtp_url,
        alert_sender="alertes@verrou.test",
    )
    clock = Clock()
    app = make_app(
        settings,
        fingerprint_key=fingerprint_key,
        signing_key=SigningKey.generate(),
        citizen_auth=citizen_auth_from(settings, clock=clock),
    )
    with serving_on_loopback(app, port):
        yield Running(base, provider, banks, clock, settings, url)


#: Serves verrou as an app factory builds it (:func:`serving_citizens`).
Serve = Callable[[Callable[..., FastAPI]], AbstractContextManager[Running]]


@pytest.fixture
def serve(
    provider: str,
    smtp_mailbox: tuple[str, Mailbox],
    fingerprint_key: FingerprintKey,
    tmp_path: Path,
) -> Serve:
    """:func:`serving_citizens` with this test's provider, mailbox, key and folder."""
    return lambda make_app: serving_citizens(
        make_app, provider, smtp_mailbox[0], fingerprint_key, tmp_path
    )


@pytest.fixture
def running(serve: Serve) -> Iterator[Running]:
    with serve(create_app) as on:
        yield on


class Browser:
    """A citizen's browser: a cookie jar, and the CSRF token sign-in gave."""

    def __init__(self, running: Running) -> None:
        self.running = running
        self.http = httpx.Client(base_url=running.base, timeout=30)
        self.csrf = ""

    def sign_in(self, **claims: Any) -> dict[str, Any]:
        sub = put_user(self.running.provider, **claims)
        login = self.http.get("/v1/citizen/login")
        assert login.status_code == 302, login.text
        approved = httpx.post(login.headers["location"], data={"sub": sub}, timeout=10)
        assert approved.status_code == 302, approved.text
        back = self.http.get(approved.headers["location"])
        assert back.status_code == 200, back.text
        body: dict[str, Any] = back.json()
        self.csrf = body["csrf_token"]
        return body

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return self.http.post(path, json=body, headers={CSRF_HEADER: self.csrf})

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)


def bank_check(running: Running, bank: str) -> dict[str, Any]:
    answer = httpx.post(
        f"{running.base}/v1/checks",
        json=APPLICANT,
        headers={"Authorization": f"Bearer {running.banks[bank]}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def verify_with_jose(running: Running, token: str) -> dict[str, Any]:
    """Verify a compact JWS with joserfc against the published JWKS: a bank's offline check."""
    jwks = httpx.get(f"{running.base}/.well-known/jwks.json", timeout=10).json()
    import json

    with pytest.warns():  # joserfc flags EdDSA as superseded by Ed25519 (RFC 9864)
        obj = jws.deserialize_compact(token, KeySet.import_key_set(jwks), algorithms=["EdDSA"])
    payload: dict[str, Any] = json.loads(obj.payload)
    return payload


def test_the_citizen_story_end_to_end(
    running: Running, smtp_mailbox: tuple[str, Mailbox], tmp_path: Path
) -> None:
    jean = Browser(running)
    signed = jean.sign_in(**JEAN)

    me = jean.get("/v1/citizen/me").json()
    assert me["citizen_id"] == signed["citizen_id"] and not me["frozen"]
    assert [e["breach"] for e in me["exposures"]] == ["ants-2026"]

    # An email proven by the code sent over SMTP: it becomes Jean's alert contact.
    asked = jean.post("/v1/citizen/emails", {"email": "jean.dupont@example.fr"})
    assert asked.status_code == 202, asked.text
    _, box = smtp_mailbox
    code_mail = box.messages[-1][1]
    code = re.search(r"\b(\d{6})\b", code_mail.get_content())
    assert code is not None and box.messages[-1][0] == ["jean.dupont@example.fr"]
    proven = jean.post(
        "/v1/citizen/emails/verify", {"code_id": asked.json()["code_id"], "code": code.group(1)}
    )
    assert proven.status_code == 200, proven.text

    frozen = jean.post("/v1/citizen/freeze")
    assert frozen.status_code == 200 and {o["outcome"] for o in frozen.json()["outcomes"]} == {
        "placed"
    }
    assert bank_check(running, "Banque Exemple")["verdict"] == "deny"

    parties = jean.get("/v1/citizen/relying-parties").json()["relying_parties"]
    bank_id = next(p["id"] for p in parties if p["name"] == "Banque Exemple")
    thawed = jean.post("/v1/citizen/thaw", {"relying_party_id": bank_id, "days": 3})
    assert thawed.status_code == 200, thawed.text
    assert bank_check(running, "Banque Exemple")["verdict"] == "clear"
    other = bank_check(running, "Crédit Autre")
    assert other["verdict"] == "deny"

    lifted = jean.post("/v1/citizen/lift")
    assert lifted.status_code == 200, lifted.text
    assert bank_check(running, "Crédit Autre")["verdict"] == "step_up"

    seen = jean.get("/v1/citizen/checks").json()["checks"]
    assert [(c["relying_party"], c["verdict"]) for c in seen] == [
        ("Crédit Autre", "step_up"),
        ("Crédit Autre", "deny"),
        ("Banque Exemple", "clear"),
        ("Banque Exemple", "deny"),
    ]

    # Jean did not apply at Crédit Autre: he disputes that check, which freezes him again.
    filed = jean.post("/v1/citizen/reports", {"disputed_check_ids": [other["check_id"]]})
    assert filed.status_code == 201, filed.text
    report = filed.json()
    assert bank_check(running, "Banque Exemple")["verdict"] == "deny"
    claims = verify_with_jose(running, report["token"])
    assert claims["jti"] == report["id"] and claims["kind"] == "identity_theft_report"
    verified = httpx.post(
        f"{running.base}/v1/reports/verify",
        json={"token": report["token"]},
        headers={"Authorization": f"Bearer {running.banks['Crédit Autre']}"},
        timeout=10,
    ).json()
    assert verified["valid"] and verified["disputed_checks"] == [other["check_id"]]
    by_qr = httpx.get(
        report["verify_url"],
        headers={"Authorization": f"Bearer {running.banks['Banque Exemple']}"},
        timeout=10,
    ).json()
    assert by_qr["valid"] and by_qr["disputed_checks"] == []  # not this bank's check

    attested = jean.post("/v1/citizen/attestations")
    assert attested.status_code == 201, attested.text
    attestation = verify_with_jose(running, attested.json()["token"])
    assert [b["name"] for b in attestation["breaches"]] == ["ants-2026"] and attestation["frozen"]

    pdf = jean.get(report["pdf_url"])
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    (tmp_path / "report.pdf").write_bytes(pdf.content)
    text = subprocess.run(
        ["pdftotext", "-layout", str(tmp_path / "report.pdf"), "-"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    assert "Jean Pierre Dupont" in text and report["id"] in text and "Crédit Autre" in text

    # The alerts of the account's changes and of the refused check reach Jean's address.
    host, port = smtp_address(running.settings.smtp_url or "")
    store = open_store(running.store_url)
    try:
        deliver_due(
            store,
            load_contact_key_file(running.settings.contact_key_file),
            {"email": SmtpTransport(host, port, running.settings.alert_sender)},
            now=datetime.now(UTC) + timedelta(hours=1),
        )
    finally:
        store.close()
    subjects = [m["Subject"] for to, m in box.messages if to == ["jean.dupont@example.fr"]]
    for expected in (
        "Votre identité est gelée",
        "Identité ouverte pour Banque Exemple",
        "Gel levé",
        "Déclaration d'usurpation enregistrée",
        "Identité gelée : demande refusée (Crédit Autre)",
    ):
        assert any(expected in subject for subject in subjects), (expected, subjects)


# --- the authorization matrix -------------------------------------------------------------------

#: Every route of the citizen's own: (method, path, body).
CITIZEN_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/v1/citizen/me", None),
    ("GET", "/v1/citizen/checks", None),
    ("GET", "/v1/citizen/relying-parties", None),
    ("GET", "/v1/citizen/documents", None),
    ("POST", "/v1/citizen/freeze", None),
    ("POST", "/v1/citizen/thaw", {"days": 1}),
    ("POST", "/v1/citizen/lift", None),
    ("POST", "/v1/citizen/identifiers", {"phone": "06 12 34 56 78"}),
    ("POST", "/v1/citizen/emails", {"email": "x@example.fr"}),
    ("POST", "/v1/citizen/emails/verify", {"code_id": "ec-0", "code": "000000"}),
    ("POST", "/v1/citizen/reports", {"declared": [{"what": "other", "started": "2026-05-01"}]}),
    ("POST", "/v1/citizen/attestations", None),
]


def _status(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


def test_no_session_no_key_no_csrf_no_access(running: Running) -> None:
    jean = Browser(running)
    jean.sign_in(**JEAN)
    bank_key = {"Authorization": f"Bearer {running.banks['Banque Exemple']}"}
    for method, path, body in CITIZEN_ROUTES:
        anonymous = httpx.request(method, running.base + path, json=body, timeout=10)
        assert _status(anonymous) == (401, "unauthorized"), (method, path)
        as_bank = httpx.request(method, running.base + path, json=body, headers=bank_key)
        assert _status(as_bank) == (401, "unauthorized"), (method, path)
        if method == "POST":
            forged = jean.http.request(method, path, json=body, headers={CSRF_HEADER: "x" * 43})
            assert _status(forged) == (403, "csrf_rejected"), (method, path)
            missing = jean.http.request(method, path, json=body)
            assert _status(missing) == (403, "csrf_rejected"), (method, path)


def test_another_citizen_sees_and_opens_nothing_of_mine(running: Running) -> None:
    jean, elodie = Browser(running), Browser(running)
    jean.sign_in(**JEAN)
    elodie.sign_in(**ELODIE)
    jean.post("/v1/citizen/freeze")
    bank_check(running, "Banque Exemple")
    check_id = jean.get("/v1/citizen/checks").json()["checks"][0]["check_id"]
    report = jean.post("/v1/citizen/reports", {"disputed_check_ids": [check_id]}).json()

    assert elodie.get("/v1/citizen/checks").json()["checks"] == []
    assert elodie.get("/v1/citizen/documents").json()["documents"] == []
    assert _status(elodie.get(report["pdf_url"])) == (404, "not_found")
    disputed = elodie.post("/v1/citizen/reports", {"disputed_check_ids": [check_id]})
    assert _status(disputed) == (404, "not_found")
    # Elodie is not frozen, and Jean's freeze is not hers to open.
    assert _status(elodie.post("/v1/citizen/lift")) == (409, "conflict")
    assert bank_check(running, "Banque Exemple")["verdict"] == "deny"


def test_an_expired_or_old_session_is_refused(running: Running) -> None:
    jean = Browser(running)
    jean.sign_in(**JEAN)
    assert jean.post("/v1/citizen/freeze").status_code == 200
    # Thaw and lift need a sign-in of the last minutes (VERROU_REAUTH_MINUTES).
    running.clock.advance(minutes=running.settings.reauth_minutes + 1)
    assert _status(jean.post("/v1/citizen/lift")) == (403, "reauthentication_required")
    assert _status(jean.post("/v1/citizen/thaw", {"days": 1})) == (
        403,
        "reauthentication_required",
    )
    running.clock.advance(minutes=running.settings.session_minutes)
    for method, path, body in CITIZEN_ROUTES:
        answer = jean.http.request(method, path, json=body, headers={CSRF_HEADER: jean.csrf})
        assert _status(answer) == (401, "unauthorized"), (method, path)


def test_an_eidas1_sign_in_may_freeze_but_not_open(running: Running) -> None:
    jean = Browser(running)
    jean.sign_in(**{**JEAN, "acr": "eidas1"})
    assert jean.post("/v1/citizen/freeze").status_code == 200
    assert _status(jean.post("/v1/citizen/lift")) == (403, "reauthentication_required")


def test_two_signed_in_citizens_claiming_one_key_cannot_open_it(running: Running) -> None:
    """A fraudster signed in as himself binds the victim's IBAN: the victim's thaw leaves it
    frozen (contested), the fraudster cannot lift the victim's freeze, and the operators see
    the conflict."""
    victim, fraudster = Browser(running), Browser(running)
    victim.sign_in(**JEAN)
    fraudster.sign_in(**ELODIE)
    iban = {"iban": "FR76 3000 6000 0112 3456 7890 189"}
    assert victim.post("/v1/citizen/identifiers", iban).status_code == 200
    assert victim.post("/v1/citizen/freeze").status_code == 200
    assert fraudster.post("/v1/citizen/identifiers", iban).status_code == 200

    thawed = victim.post("/v1/citizen/thaw", {"days": 1}).json()["outcomes"]
    by_attribute = {o["attribute"]: (o["outcome"], o["refusal"]) for o in thawed}
    assert by_attribute["iban"] == ("refused", "contested")
    assert by_attribute["person"] == ("thawed", None)
    assert _status(fraudster.post("/v1/citizen/lift")) == (409, "conflict")
    store = open_store(running.store_url)
    try:
        contested = store.contested_keys()
    finally:
        store.close()
    assert len(contested) == 1 and contested[0].frozen
