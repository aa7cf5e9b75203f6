"""The citizen's part of ``verrou demo``: a development OpenID provider on loopback with a demo
citizen who is in the synthetic leak, and, run from a script, the citizen's story driven through
the API (sign in, see the exposure, freeze, open for the demo bank, lift, report the theft and
download the report's PDF).

The development provider (``oidc-provider-mock``, a test dependency) exists only inside the
demo: ``verrou serve`` never starts one, and signs citizens in only with the identity provider
its settings name (``VERROU_OIDC_ISSUER``).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verrou.cli import err, out
from verrou.errors import VerrouError

#: The client the demo registers at its own provider (any id and secret work there).
CLIENT_ID = "verrou-demo"
#: The development provider gives names under the standard scopes.
SCOPE = "openid profile email"


def franceconnect_claims(person: dict[str, str], *, acr: str = "eidas2") -> dict[str, str]:
    """The claims FranceConnect would give for a person of the synthetic leak (family_name,
    given_names, birth_date, email as the dump spells them): all given names space-separated,
    the birth date as YYYY-MM-DD."""
    from verrou.identifiers.names import canonical_birth_date

    given = " ".join(name.strip() for name in person["given_names"].split(",") if name.strip())
    return {
        "given_name": given,
        "family_name": person["family_name"],
        "birthdate": canonical_birth_date(person["birth_date"]),
        "email": person["email"],
        # The synthetic dump has no gender column the demo reads; born in France (99100).
        "gender": person.get("gender", "female"),
        "birthcountry": "99100",
        "acr": acr,
    }


@dataclass(frozen=True)
class DevProvider:
    """The development provider: its issuer URL, and the demo citizen's ``sub`` there."""

    issuer: str
    citizen_sub: str
    client_secret: str


@contextlib.contextmanager
def dev_provider(citizen: dict[str, str]) -> Iterator[DevProvider | None]:
    """A development OpenID provider on a free loopback port with ``citizen`` (a leaked person:
    family_name, given_names, birth_date, email) as its one user at assurance eidas2; None
    (and a line saying why) when the test dependencies are not installed."""
    try:
        import httpx
        from oidc_provider_mock import run_server_in_thread
    except ImportError:
        err.print(
            "citizen sign-in skipped: the development provider needs `pip install -e '.[test]'`"
        )
        yield None
        return
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # its request log is not the demo's
    with run_server_in_thread(port=0) as server:
        issuer = f"http://localhost:{server.server_port}"
        sub = "demo-citizen"
        claims = franceconnect_claims(citizen)
        httpx.put(f"{issuer}/users/{sub}", json=claims, timeout=10).raise_for_status()
        yield DevProvider(issuer, sub, secrets.token_urlsafe(24))


def citizen_story(
    base_url: str, provider: DevProvider, api_key: str, folder: Path, citizen: dict[str, str]
) -> None:
    """Drive the citizen's story through the API, printing each step and its answer; the demo
    bank checks ``citizen`` as its form has them (name and birth date)."""
    import httpx

    browser = httpx.Client(base_url=base_url, timeout=30)
    login = browser.get("/v1/citizen/login")
    approved = httpx.post(login.headers["location"], data={"sub": provider.citizen_sub})
    back = browser.get(approved.headers["location"])
    if back.status_code != 200:
        raise VerrouError(f"the demo citizen could not sign in: {back.json()['error']['message']}")
    signed = back.json()
    csrf = {"X-CSRF-Token": signed["csrf_token"]}

    def post(path: str, body: Any = None) -> Any:
        answer = browser.post(path, json=body, headers=csrf)
        answer.raise_for_status()
        return answer.json()

    def bank() -> tuple[str, str]:
        answer = httpx.post(
            f"{base_url}/v1/checks",
            json={key: citizen[key] for key in ("family_name", "given_names", "birth_date")},
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=30,
        ).json()
        return answer["verdict"], answer["check_id"]

    me = browser.get("/v1/citizen/me").json()
    breaches = ", ".join(e["breach"] for e in me["exposures"]) or "none"
    out.print(f"citizen signed in as {signed['citizen_id']}; exposed in: {breaches}", markup=False)
    post("/v1/citizen/freeze")
    denied, check_id = bank()
    out.print(f"citizen froze their identity        -> the bank's check: {denied}", markup=False)
    party = next(
        p["id"]
        for p in browser.get("/v1/citizen/relying-parties").json()["relying_parties"]
        if p["name"] == "Banque Démo"
    )
    post("/v1/citizen/thaw", {"relying_party_id": party, "days": 3})
    out.print(f"opened for Banque Démo for 3 days   -> the bank's check: {bank()[0]}", markup=False)
    post("/v1/citizen/lift")
    out.print(f"freeze lifted                       -> the bank's check: {bank()[0]}", markup=False)
    report = post("/v1/citizen/reports", {"disputed_check_ids": [check_id]})
    pdf = browser.get(report["pdf_url"])
    pdf.raise_for_status()
    path = folder / "reports" / f"{report['id']}.pdf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pdf.content)
    out.print(
        f"identity-theft report {report['id']} filed (frozen again: {bank()[0]}); its PDF: {path}",
        markup=False,
    )
