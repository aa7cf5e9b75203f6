"""The signed-in citizen's pages against real components, driven like a browser without
JavaScript: verrou's portal under uvicorn on loopback, the real OpenID provider
(oidc-provider-mock), a real SMTP server, banks calling the check API.

A browser here is an httpx client that keeps its cookies, follows redirects through the
provider, reads the CSRF field of each form from the HTML and posts the form, nothing else.
Every answer of verrou it sees (pages and redirects) is kept, and none may hold a value of the
citizen's that leaked or that they typed (their email, birth date, document number, phone).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Mailbox
from test_citizen_auth import IDENTITY, put_user
from test_citizens_e2e import ELODIE, JEAN, Running, Serve, bank_check, provider, serve
from verrou.web import portal_app
from verrou.web.citizen_session import sign_in_url

__all__ = ["provider", "serve"]  # fixtures shared with the API's story

DOCUMENT_NUMBER = "X4RTBPFW4"
#: What must never come back from verrou: Jean's values as leaked or as he types them.
PLAINTEXT = (
    JEAN["email"],
    "jean.dupont",
    JEAN["birthdate"],
    "17/05/1980",
    DOCUMENT_NUMBER,
    "06 12 34 56 78",
    "0612345678",
    "612345678",
)


@pytest.fixture
def running(serve: Serve) -> Iterator[Running]:
    """The portal (``portal_app``) with citizen sign-in, SMTP, a leak and two banks."""
    with serve(portal_app) as on:
        yield on


class _Form(HTMLParser):
    """The hidden inputs, links and ``<h1>`` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, str] = {}
        self.links: list[str] = []
        self.h1: list[str] = []
        self._in_h1 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "input" and "name" in found:
            self.inputs.setdefault(found["name"], found.get("value", ""))
        elif tag == "a" and "href" in found:
            self.links.append(found["href"])
        self._in_h1 = tag == "h1" or self._in_h1

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data: str) -> None:
        if self._in_h1:
            self.h1.append(data.strip())


def parsed(page: httpx.Response) -> _Form:
    form = _Form()
    form.feed(page.text)
    return form


class Browser:
    """A browser without JavaScript: cookies, redirects followed, forms posted as read."""

    def __init__(self, running: Running, *, language: str | None = None) -> None:
        self.running = running
        self.seen: list[httpx.Response] = []
        cookies = {"verrou_lang": language} if language else None
        self.http = httpx.Client(
            base_url=running.base,
            timeout=30,
            follow_redirects=True,
            cookies=cookies,
            event_hooks={"response": [self._keep]},
        )
        self.sub = ""

    def _keep(self, response: httpx.Response) -> None:
        if str(response.url).startswith(self.running.base):
            response.read()
            self.seen.append(response)

    def sign_in(self, then: str = "/me", *, fresh: bool = False, **claims: Any) -> httpx.Response:
        """Sign in at the provider (as a new subject with ``claims``, or the same one again)."""
        if claims:
            self.sub = put_user(self.running.provider, **claims)
        form = self.http.get(sign_in_url(then, fresh=fresh))
        assert form.status_code == 200 and not str(form.url).startswith(self.running.base)
        return self.http.post(str(form.url), data={"sub": self.sub})

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def submit(self, page: str, action: str, **fields: str) -> httpx.Response:
        """Open ``page``, read its CSRF field, and post ``fields`` to ``action`` as its form."""
        shown = self.get(page)
        assert shown.status_code == 200, shown.text
        csrf = parsed(shown).inputs["csrf"]
        assert csrf
        return self.http.post(action, data={"csrf": csrf, **fields})

    def leaked_in_answers(self) -> list[str]:
        """Each answer (URL and what it held) that carries a plaintext value of Jean's."""
        found = []
        for response in self.seen:
            text = "\n".join(
                [str(response.url), *(v for _, v in response.headers.multi_items()), response.text]
                if "pdf" not in response.headers.get("content-type", "")
                else [str(response.url)]
            )
            found += [f"{response.url}: {value}" for value in PLAINTEXT if value in text]
        return found


def h1(page: httpx.Response) -> str:
    return " ".join(parsed(page).h1)


def check_ids(page: httpx.Response) -> list[str]:
    return [link.split("check=")[1] for link in parsed(page).links if "/me/report?check=" in link]


def party_id(page: httpx.Response, name: str) -> str:
    found = re.search(rf'<option value="([^"]+)">{re.escape(name)} ', page.text)
    assert found is not None, page.text
    return found.group(1)


# --- the story ---------------------------------------------------------------------------------


def test_the_no_javascript_story(
    running: Running, smtp_mailbox: tuple[str, Mailbox], tmp_path: Path
) -> None:
    jean = Browser(running, language="en")
    assert bank_check(running, "Banque Exemple")["verdict"] == "step_up"

    # /me without a session: to the sign-in, which comes back to /me.
    me = jean.sign_in(**JEAN)
    assert me.status_code == 200 and str(me.url) == f"{running.base}/me"
    assert h1(me) == "My identity"
    assert "France Titres (ANTS)" in me.text and "Dates of birth" in me.text
    assert "Banque Exemple" in me.text and "Stronger proof asked" in me.text
    assert "Not frozen" in me.text
    [first_check] = check_ids(me)

    # An email proven by the code sent over SMTP, shown masked.
    asked = jean.submit("/me/contacts", "/me/contacts", email=JEAN["email"])
    assert asked.status_code == 200 and "/me/contacts/verify?code=ec-" in str(asked.url)
    code = re.search(r"\b(\d{6})\b", smtp_mailbox[1].messages[-1][1].get_content())
    assert code is not None
    form = parsed(asked).inputs
    proven = jean.http.post(
        "/me/contacts/verify",
        data={"csrf": form["csrf"], "code_id": form["code_id"], "code": code.group(1)},
    )
    assert str(proven.url).endswith("/me/contacts?done=verified"), proven.text
    assert "j•" in proven.text and "Your email is proven" in proven.text

    # A document number of his own, shown as its fingerprint only.
    added = jean.submit(
        "/me/contacts", "/me/identifiers", document_type="cni", document_number=DOCUMENT_NUMBER
    )
    assert str(added.url).endswith("/me/contacts?done=identifiers"), added.text
    assert "Identity document" in added.text

    frozen = jean.submit("/me/freeze", "/me/freeze")
    assert str(frozen.url).endswith("/me?done=frozen") and "Frozen by you" in frozen.text
    assert bank_check(running, "Banque Exemple")["verdict"] == "deny"

    thaw_page = jean.get("/me/thaw")
    bank = party_id(thaw_page, "Banque Exemple")
    thawed = jean.submit("/me/thaw", "/me/thaw", relying_party=bank, days="3")
    # The document was bound without proof and never leaked: it opens too, all opened.
    assert str(thawed.url).endswith("/me?done=thawed"), thawed.text
    assert "Open for Banque Exemple until" in thawed.text
    assert bank_check(running, "Banque Exemple")["verdict"] == "clear"
    other = bank_check(running, "Crédit Autre")
    assert other["verdict"] == "deny"

    lifted = jean.submit("/me/lift", "/me/lift")
    assert str(lifted.url).endswith("/me?done=lifted"), lifted.text
    assert bank_check(running, "Crédit Autre")["verdict"] == "step_up"

    # The checks, newest first, each with its report link.
    me = jean.get("/me")
    ids = check_ids(me)
    assert len(ids) == 5 and ids[-1] == first_check and other["check_id"] in ids

    chosen = jean.get(f"/me/report?check={other['check_id']}")
    assert h1(chosen) == "Report an identity theft"
    assert re.search(rf'value="{other["check_id"]}" required checked', chosen.text)
    filed = jean.submit(
        "/me/report", "/me/report", check=other["check_id"], note="Je n'ai rien demandé"
    )
    assert filed.status_code == 200 and "/me/reports/rpt-" in str(filed.url), filed.text
    report_id = str(filed.url).rsplit("/", 1)[1]
    assert report_id in filed.text and "How a bank verifies it" in filed.text
    assert f"/me/reports/{report_id}.pdf" in parsed(filed).links
    assert bank_check(running, "Banque Exemple")["verdict"] == "deny"

    # A report's freeze is not Jean's to open: the thaw says which data stayed and why.
    refused = jean.submit("/me/thaw", "/me/thaw", relying_party=bank, days="3")
    assert refused.status_code == 409 and h1(refused) == "Nothing could be opened"
    assert "This freeze is not yours" in refused.text
    assert bank_check(running, "Banque Exemple")["verdict"] == "deny"
    assert "Frozen by your identity-theft report" in jean.get("/me").text

    pdf = jean.get(f"/me/reports/{report_id}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-disposition"] == f'attachment; filename="{report_id}.pdf"'
    assert f"/me/reports/{report_id}.pdf" in parsed(jean.get("/me")).links

    # Signed out: the session is revoked, /me asks for a sign-in again.
    out = jean.submit("/me", "/signout")
    assert str(out.url) == f"{running.base}/"
    again = jean.http.get("/me", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/v1/citizen/login")

    assert jean.leaked_in_answers() == []


# --- forged forms ---------------------------------------------------------------------------------


REFUSED = "This form was not sent from this site's own page"


def _not_frozen(browser: Browser, running: Running) -> None:
    assert "Not frozen" in browser.get("/me").text
    assert bank_check(running, "Banque Exemple")["verdict"] == "step_up"


def test_a_post_without_the_right_token_or_from_another_site_changes_nothing(
    running: Running,
) -> None:
    jean = Browser(running, language="en")
    jean.sign_in(**JEAN)
    csrf = parsed(jean.get("/me/freeze")).inputs["csrf"]
    # One character off, never the same token: the last one is "A" in one token of 16.
    off_by_one = csrf[:-1] + ("B" if csrf[-1] != "B" else "C")
    for data in ({}, {"csrf": ""}, {"csrf": "x" * 43}, {"csrf": off_by_one}):
        refused = jean.http.post("/me/freeze", data=data)
        assert refused.status_code == 403, data
        assert h1(refused) == "That did not work" and REFUSED in refused.text
    _not_frozen(jean, running)

    evil = jean.http.post(
        "/me/freeze", data={"csrf": csrf}, headers={"Origin": "http://evil.example"}
    )
    assert evil.status_code == 403 and REFUSED in evil.text
    cross = jean.http.post(
        "/me/freeze", data={"csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403
    _not_frozen(jean, running)
    assert jean.leaked_in_answers() == []


def _confirm_asks_again(browser: Browser, page: str) -> httpx.Response:
    """Confirm the form of ``page``: refused for a fresh sign-in, which it offers; follow it."""
    asked = browser.http.post(page, data={"csrf": parsed(browser.get(page)).inputs["csrf"]})
    assert asked.status_code == 403 and h1(asked) == "Confirm it is you"
    fresh = next(link for link in parsed(asked).links if link.startswith("/v1/citizen/login"))
    assert fresh == sign_in_url(page, fresh=True)
    return browser.sign_in(page, fresh=True)


def test_a_stale_sign_in_is_asked_again_and_comes_back_to_the_page(running: Running) -> None:
    jean = Browser(running, language="en")
    jean.sign_in(**JEAN)
    jean.submit("/me/freeze", "/me/freeze")
    running.clock.advance(minutes=running.settings.reauth_minutes + 1)
    back = _confirm_asks_again(jean, "/me/lift")
    assert str(back.url) == f"{running.base}/me/lift" and h1(back) == "Lift my freeze"
    assert bank_check(running, "Banque Exemple")["verdict"] == "deny"  # nothing lifted


HOUR_AGO = int((datetime.now(UTC) - timedelta(hours=1)).timestamp())


@pytest.mark.parametrize(
    "not_recent",
    [{"auth_time": HOUR_AGO}, {"acr": "eidas1"}],
    ids=["authenticated-an-hour-ago", "below-eidas2"],
)
def test_a_sign_in_not_recent_enough_signs_in_again_then_confirms(
    running: Running, not_recent: dict[str, Any]
) -> None:
    """The whole round trip, with the provider's word for "not recent": Jean authenticated an
    hour ago (a long-lived provider session) or only at eidas1; the page asks again, and the
    fresh FranceConnect+ sign-in confirms the lift. (The provider dates a sign-in by its own
    clock, so advancing verrou's would leave the fresh one stale too.)"""
    jean = Browser(running, language="en")
    jean.sign_in(**{**JEAN, **not_recent})
    jean.submit("/me/freeze", "/me/freeze")  # freezing needs no recent sign-in
    now = {name: value for name, value in {**IDENTITY, **JEAN}.items() if value is not None}
    answer = httpx.put(f"{running.provider}/users/{jean.sub}", json=now, timeout=5)
    assert answer.status_code == 204
    back = _confirm_asks_again(jean, "/me/lift")
    assert str(back.url) == f"{running.base}/me/lift" and h1(back) == "Lift my freeze"
    lifted = jean.http.post("/me/lift", data={"csrf": parsed(back).inputs["csrf"]})
    assert str(lifted.url).endswith("/me?done=lifted"), lifted.text
    assert bank_check(running, "Banque Exemple")["verdict"] == "step_up"
    assert jean.leaked_in_answers() == []


def test_nobody_else_downloads_or_reads_my_report(running: Running) -> None:
    jean = Browser(running, language="en")
    bank_check(running, "Crédit Autre")
    me = jean.sign_in(**JEAN)
    [check] = check_ids(me)
    filed = jean.submit("/me/report", "/me/report", check=check)
    report_id = str(filed.url).rsplit("/", 1)[1]
    assert jean.get(f"/me/reports/{report_id}.pdf").status_code == 200

    elodie = Browser(running, language="en")
    elodie.sign_in(**ELODIE)
    for path in (f"/me/reports/{report_id}.pdf", f"/me/reports/{report_id}"):
        theirs = elodie.get(path)
        assert theirs.status_code == 404 and "%PDF" not in theirs.text
    assert elodie.get(f"/me/report?check={check}").status_code == 404
    assert elodie.get("/me/reports/rpt-nothing.pdf").status_code == 404

    anonymous = httpx.get(f"{running.base}/me/reports/{report_id}.pdf", timeout=10)
    assert anonymous.status_code == 303 and "/v1/citizen/login" in anonymous.headers["location"]


def test_pages_are_french_by_default_and_english_by_the_cookie(running: Running) -> None:
    french = Browser(running)
    me = french.sign_in(**JEAN)
    assert '<html lang="fr">' in me.text and h1(me) == "Mon identité"
    for path in ("/me/freeze", "/me/thaw", "/me/lift", "/me/contacts", "/me/report"):
        page = french.get(path)
        assert page.status_code == 200 and '<html lang="fr">' in page.text, path
        assert parsed(page).h1, path
    english = Browser(running, language="en")
    me = english.sign_in(**JEAN)
    assert '<html lang="en">' in me.text and h1(me) == "My identity"
    assert french.leaked_in_answers() == [] and english.leaked_in_answers() == []


def test_forms_name_the_wrong_field_never_its_value(running: Running) -> None:
    jean = Browser(running, language="en")
    jean.sign_in(**JEAN)
    jean.submit("/me/freeze", "/me/freeze")
    bad_days = jean.submit("/me/thaw", "/me/thaw", relying_party="rp-x", days="90")
    assert bad_days.status_code == 422 and "<code>days</code>" in bad_days.text
    bad_document = jean.submit(
        "/me/contacts", "/me/identifiers", document_type="cni", document_number="971375K00277"
    )
    assert bad_document.status_code == 422 and "971375K00277" not in bad_document.text
    bad_code = jean.submit(
        "/me/contacts/verify?code=ec-0", "/me/contacts/verify", code_id="ec-0", code="12"
    )
    assert bad_code.status_code == 422 and "<code>code</code>" in bad_code.text
    assert jean.leaked_in_answers() == []


def test_a_citizen_gets_a_signed_proof_of_exposure_to_give_a_bank(running: Running) -> None:
    jean = Browser(running, language="en")
    jean.sign_in(**JEAN)
    issued = jean.submit("/me", "/me/attestations")
    assert issued.status_code == 200 and re.search(r"/me/reports/[^/.]+$", str(issued.url))
    assert h1(issued) == "My exposure attestation"
    attestation_id = str(issued.url).rsplit("/", 1)[1]
    pdf = jean.get(f"/me/reports/{attestation_id}.pdf")
    assert pdf.content.startswith(b"%PDF")
    assert attestation_id in jean.get("/me").text  # listed among my documents
    assert jean.http.post("/me/attestations", data={}).status_code == 403  # no token
    assert not jean.leaked_in_answers()
