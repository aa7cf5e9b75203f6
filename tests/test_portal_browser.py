"""The portal in a real browser (Debian's Chromium under Playwright) against the live demo:
the private check running in the page, the language switch, the citizen's story from the
private check to the report's download, the operator's from a breach page to a canary
incident, and a freeze without JavaScript. Every page is checked by axe-core (no serious or
critical violation), reports no console error or CSP violation, and is saved as a screenshot
under artifacts/screenshots/."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from browser import Demo, NewPage, assert_accessible, assert_quiet, page_log, shot
from verrou.cli.demo_citizen import franceconnect_claims
from verrou.web.i18n import translations

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytest_plugins = ["browser"]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _lookup_emails(demo: Demo) -> list[str]:
    """The emails of the demo's `verrou lookup` lines: a leaked one, then an unknown one."""
    emails = []
    for line in demo.output.splitlines():
        if line.startswith("verrou lookup"):
            words = shlex.split(line)
            if "--email" in words:
                emails.append(words[words.index("--email") + 1])
    assert len(emails) >= 2, demo.output[-3000:]
    return emails


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def _private_check(page: Page, value: str) -> str:
    page.get_by_label(re.compile("^(Adresse électronique|Email address)$")).fill(value)
    page.locator("#private-check button[type=submit]").click()
    result = page.locator("#private-check-result")
    expect(result).not_to_have_text(re.compile(r"^$|…"), timeout=15_000)
    return result.inner_text()


def test_the_private_check_runs_in_the_page_and_finds_a_leaked_email(
    new_page: NewPage, portal_demo: Demo
) -> None:
    leaked, unknown = _lookup_emails(portal_demo)[:2]
    page = new_page(locale="fr-FR")
    sent: list[str] = []
    page.on("request", lambda request: sent.append(f"{request.url} {request.post_data or ''}"))
    page.goto(portal_demo.base_url + "/")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Trouvé" in _private_check(page, leaked) and "ants-2026" in page.content()
    assert "Introuvable" in _private_check(page, unknown)
    # The value never left the page unblinded: no request carries it, in any form.
    for value in (leaked, unknown):
        assert not [line for line in sent if value in line or value.split("@")[0] in line]
    shot(page, "home-private-check-fr")
    assert_accessible(page)
    assert_quiet(page)


def test_the_language_switch_and_the_browser_s_language(
    new_page: NewPage, portal_demo: Demo
) -> None:
    page = new_page(locale="fr-FR")
    page.goto(portal_demo.base_url + "/")
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Votre identité a fuité. Verrouillez-la."
    )
    page.get_by_role("link", name="English").click()
    page.wait_for_url(portal_demo.base_url + "/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "Your identity leaked. Lock it."
    shot(page, "home-en")
    assert_accessible(page)
    page.get_by_role("link", name="Français").click()
    assert page.locator("html").get_attribute("lang") == "fr"

    english = new_page(locale="en-GB")
    english.goto(portal_demo.base_url + "/operator/signin")
    assert english.get_by_role("heading", level=1).inner_text() == "Operator sign-in"
    assert_quiet(page)
    assert_quiet(english)


def test_the_home_page_without_javascript_says_the_check_needs_it(
    new_page: NewPage, portal_demo: Demo
) -> None:
    page = new_page(javascript_enabled=False)
    page.goto(portal_demo.base_url + "/")
    assert page.locator("#private-check").is_hidden()
    assert "nécessite JavaScript" in page.content()
    shot(page, "home-no-js")
    assert_accessible(page)


# --- the citizen's and the operator's stories --------------------------------------------

FR = translations("fr").gettext


def _ask(demo: Demo, body: dict[str, Any]) -> str:
    """A check by the demo bank (its API key): the verdict."""
    answer = httpx.post(
        f"{demo.base_url}/v1/checks",
        json=body,
        headers={"Authorization": f"Bearer {demo.api_key}"},
        timeout=30,
    )
    answer.raise_for_status()
    verdict: str = answer.json()["verdict"]
    return verdict


def _curl_bodies(demo: Demo) -> list[dict[str, Any]]:
    """The bodies of the demo's curl commands, in order (the last but one is the canary)."""
    bodies = []
    for line in demo.output.splitlines():
        if line.startswith("curl ") and " -d " in line:
            words = shlex.split(line)
            bodies.append(json.loads(words[words.index("-d") + 1]))
    return bodies


def _provider(demo: Demo) -> str:
    found = re.search(r"development provider (http://\S+)", demo.output)
    assert found is not None, demo.output[-3000:]
    return found.group(1)


def _past_the_provider(page: Page, sub: str) -> None:
    """Sign in as ``sub`` on the development provider's page (not ours: it is forgiven what it
    loads from elsewhere, and only its form is used)."""
    page.locator("input[name=sub]").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    log = page_log(page)
    log.external_requests.clear()
    log.console_errors.clear()


def _checked(page: Page, name: str) -> None:
    """The page is accessible, quiet, and saved as ``name``."""
    shot(page, name)
    assert_accessible(page)
    assert_quiet(page)


def test_the_citizen_from_the_private_check_to_the_report_s_download(
    new_page: NewPage, portal_demo: Demo
) -> None:
    person = portal_demo.citizen_check_body
    assert person is not None and portal_demo.citizen_user is not None
    assert _ask(portal_demo, person) == "step_up"  # the bank's check the citizen will report
    page = new_page(locale="fr-FR")
    page.goto(portal_demo.base_url + "/")

    # The private check: their name and birth date, blinded in the page.
    page.get_by_label(FR("My name and birth date")).check()
    page.get_by_label(FR("Given names"), exact=True).fill(person["given_names"].split(",")[0])
    page.get_by_label(FR("Birth name"), exact=True).fill(person["family_name"])
    day, month, year = person["birth_date"].split("/")
    page.get_by_label(FR("Birth date"), exact=True).fill(f"{year}-{month}-{day}")
    page.locator("#private-check button[type=submit]").click()
    expect(page.locator("#private-check-result")).to_contain_text("ants-2026", timeout=15_000)
    _checked(page, "citizen-1-private-check")

    # Sign in with FranceConnect (the demo's development provider).
    page.get_by_role("link", name=FR("Sign in with FranceConnect")).click()
    _past_the_provider(page, portal_demo.citizen_user)
    page.wait_for_url(portal_demo.base_url + "/me")
    expect(page.get_by_role("heading", level=1)).to_have_text(FR("My identity"))
    expect(page.locator("main")).to_contain_text("France Titres (ANTS)")  # the breach's title
    expect(page.locator("main")).to_contain_text("Banque Démo")  # who checked me
    _checked(page, "citizen-2-my-identity")

    # Freeze, with its confirmation.
    page.get_by_role("link", name=FR("Freeze my identity")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(FR("Freeze my identity"))
    _checked(page, "citizen-3-freeze-confirm")
    page.get_by_role("button", name=FR("Freeze my identity")).click()
    page.wait_for_url(re.compile(r"/me\?done=frozen$"))
    expect(page.locator("span.status.status-frozen")).to_have_text(FR("Frozen"))
    assert _ask(portal_demo, person) == "deny"

    # Open it for the demo bank for three days: clear there; then lift the freeze: step_up.
    page.get_by_role("link", name=FR("Open for one organisation")).click()
    page.get_by_label(FR("Organisation"), exact=True).select_option(
        label=f"Banque Démo ({FR('Bank')})"
    )
    page.get_by_label(FR("Number of days")).fill("3")
    _checked(page, "citizen-4-thaw")
    page.get_by_role("button", name=FR("Open for this organisation")).click()
    page.wait_for_url(re.compile(r"/me\?done=thawed$"))
    expect(page.locator("main")).to_contain_text("Banque Démo")
    assert _ask(portal_demo, person) == "clear"
    page.get_by_role("link", name=FR("Lift my freeze")).click()
    page.get_by_role("button", name=FR("Lift my freeze")).click()
    page.wait_for_url(re.compile(r"/me\?done=lifted$"))
    assert _ask(portal_demo, person) == "step_up"

    # Report the bank's check as a theft, then download the report.
    page.get_by_role(
        "link", name=re.compile("^" + re.escape(FR("Report an identity theft")))
    ).first.click()
    _checked(page, "citizen-5-report-confirm")
    page.get_by_role("button", name=FR("File the report")).click()
    page.wait_for_url(re.compile(r"/me/reports/[^/.]+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(FR("My identity-theft report"))
    _checked(page, "citizen-6-report")
    with page.expect_download() as download:
        page.get_by_role("link", name=FR("Download the PDF")).click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    assert _ask(portal_demo, person) == "deny"


def test_a_freeze_without_javascript(new_page: NewPage, portal_demo: Demo) -> None:
    """Another person of the leak signs in with JavaScript off and freezes their identity: the
    confirmation page and its form are the whole path."""
    leaked = _curl_bodies(portal_demo)[0]  # the demo's first applicant: leaked, not frozen
    claims = franceconnect_claims({"email": "", **leaked})
    provider = _provider(portal_demo)
    httpx.put(f"{provider}/users/no-js-citizen", json=claims, timeout=10).raise_for_status()
    assert _ask(portal_demo, leaked) == "step_up"

    page = new_page(locale="fr-FR", javascript_enabled=False)
    page.goto(portal_demo.base_url + "/me")  # not signed in: sent to sign in, then back here
    _past_the_provider(page, "no-js-citizen")
    page.wait_for_url(portal_demo.base_url + "/me")
    page.get_by_role("link", name=FR("Freeze my identity")).click()
    page.get_by_role("button", name=FR("Freeze my identity")).click()
    page.wait_for_url(re.compile(r"/me\?done=frozen$"))
    expect(page.locator("span.status.status-frozen")).to_have_text(FR("Frozen"))
    _checked(page, "citizen-no-js-frozen")
    assert _ask(portal_demo, leaked) == "deny"


def test_the_operator_from_a_breach_page_to_a_canary_incident(
    new_page: NewPage, portal_demo: Demo
) -> None:
    canary = _curl_bodies(portal_demo)[4]  # the fifth question: a canary of the partner
    assert _ask(portal_demo, canary) == "deny"
    page = new_page(locale="fr-FR")
    page.goto(portal_demo.base_url + "/operator")  # sent to sign in, then back
    expect(page.get_by_role("heading", level=1)).to_have_text(FR("Operator sign-in"))
    _checked(page, "operator-1-sign-in")
    assert portal_demo.operator_name is not None and portal_demo.operator_password is not None
    page.get_by_label(FR("Operator name")).fill(portal_demo.operator_name)
    page.get_by_label(FR("Password")).fill(portal_demo.operator_password)
    page.get_by_role("button", name=FR("Sign in")).click()
    page.wait_for_url(portal_demo.base_url + "/operator/breaches")
    expect(page.locator("main")).to_contain_text("ants-2026")
    _checked(page, "operator-2-breaches")

    page.get_by_role("link", name="ants-2026").first.click()
    page.wait_for_url(re.compile(r"/operator/breaches/ants-2026$"))
    expect(page.locator("main")).to_contain_text("mutuelle-partenaire")
    _checked(page, "operator-3-breach")

    page.get_by_role("link", name=re.compile("mutuelle-partenaire")).first.click()
    page.wait_for_url(re.compile(r"/operator/canaries\?source=.*#incidents$"))
    incidents = page.locator("#incidents ~ .table-wrap, #incidents ~ table").first
    expect(incidents).to_contain_text("Banque Démo")
    _checked(page, "operator-4-canary-incident")

    page.get_by_role("link", name=FR("Outcomes")).click()
    # The plot, drawn by the server in the page's language, is loaded before the screenshot.
    expect(page.locator("main img.plot")).to_have_js_property("naturalWidth", 1000)
    _checked(page, "operator-5-outcomes")


def test_the_pages_are_usable_from_the_keyboard(new_page: NewPage, portal_demo: Demo) -> None:
    page = new_page(locale="fr-FR")
    page.goto(portal_demo.base_url + "/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == FR("Skip to content")
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    # The private check's kind and fields are reached and chosen with the keyboard alone.
    page.locator("#pc-kind-email").focus()
    page.keyboard.press("ArrowRight")
    assert page.locator("#pc-kind-person").is_checked()
    assert page.get_by_label(FR("Given names"), exact=True).is_visible()
    outline = page.evaluate(
        "(() => { const b = document.querySelector('#private-check button');"
        " b.focus(); return getComputedStyle(b).outlineStyle; })()"
    )
    assert outline == "solid"  # the focus is visible
    assert_quiet(page)


@pytest.mark.parametrize("locale", ["fr-FR", "en-GB"])
def test_every_other_page_is_accessible_and_saved(
    new_page: NewPage, portal_demo: Demo, locale: str
) -> None:
    """The pages the stories do not walk through, in both languages: each is checked by axe,
    reports nothing, and is saved."""
    language = locale[:2]
    operator = new_page(locale=locale)
    operator.goto(portal_demo.base_url + "/operator/signin")
    assert portal_demo.operator_name is not None and portal_demo.operator_password is not None
    operator.locator("#op-name").fill(portal_demo.operator_name)
    operator.locator("#op-password").fill(portal_demo.operator_password)
    operator.locator("form button[type=submit]").click()
    operator.wait_for_url(portal_demo.base_url + "/operator/breaches")
    for path, name in [
        ("/operator/breaches", "breaches"),
        ("/operator/runs", "runs"),
        ("/operator/runs/1", "run"),
        ("/operator/canaries", "canaries"),
        ("/operator/relying-parties", "relying-parties"),
        ("/operator/conflicts", "conflicts"),
    ]:
        answer = operator.goto(portal_demo.base_url + path)
        assert answer is not None and answer.status == 200, path
        assert operator.locator("html").get_attribute("lang") == language
        _checked(operator, f"operator-{name}-{language}")

    provider = _provider(portal_demo)
    sub = f"pages-{language}"
    claims = franceconnect_claims({"email": "", **_curl_bodies(portal_demo)[3]})  # unknown
    httpx.put(f"{provider}/users/{sub}", json=claims, timeout=10).raise_for_status()
    citizen = new_page(locale=locale)
    citizen.goto(portal_demo.base_url + "/me")
    _past_the_provider(citizen, sub)
    citizen.wait_for_url(portal_demo.base_url + "/me")
    for path, name in [
        ("/me", "me"),
        ("/me/contacts", "contacts"),
        ("/me/thaw", "thaw"),
        ("/me/lift", "lift"),
        ("/me/report", "report-none"),
    ]:
        citizen.goto(portal_demo.base_url + path)
        assert citizen.locator("html").get_attribute("lang") == language
        _checked(citizen, f"citizen-{name}-{language}")
    missing = citizen.goto(portal_demo.base_url + "/no-such-page")
    assert missing is not None and missing.status == 404
    log = page_log(citizen)  # the browser logs the 404 itself: that is the page's point
    log.console_errors[:] = [e for e in log.console_errors if "status of 404" not in e]
    _checked(citizen, f"not-found-{language}")
